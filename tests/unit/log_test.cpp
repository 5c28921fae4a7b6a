// The daemon's own log lines: levels spelled out on a terminal, sd-daemon "<N>" prefixes when
// stderr is the journal's stream ($JOURNAL_STREAM names it).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/log.h"
#include "common/unique_fd.h"
#include "support/test_support.h"

using namespace vigil;

TEST(Log, TerminalLinesNameTheProgramAndTheLevel) {
  EXPECT_EQ(log::format_line(log::Level::error, "vigil agent", "reload rejected", false),
            "vigil agent: error: reload rejected\n");
  EXPECT_EQ(log::format_line(log::Level::warning, "vigil agent", "x", false), "vigil agent: warning: x\n");
  // Everyday lines read as they always did.
  EXPECT_EQ(log::format_line(log::Level::notice, "vigil agent", "ready, mode log", false),
            "vigil agent: ready, mode log\n");
}

TEST(Log, JournalLinesCarryThePriorityPrefixOnEveryLine) {
  EXPECT_EQ(log::format_line(log::Level::error, "vigil agent", "bad", true), "<3>bad\n");
  EXPECT_EQ(log::format_line(log::Level::warning, "vigil agent", "w", true), "<4>w\n");
  EXPECT_EQ(log::format_line(log::Level::notice, "vigil agent", "n", true), "<5>n\n");
  EXPECT_EQ(log::format_line(log::Level::info, "vigil agent", "i", true), "<6>i\n");
  // The journal makes a record of each line: each must carry its level.
  EXPECT_EQ(log::format_line(log::Level::error, "p", "rules: 2 error(s):\n  a.yaml:3: x\n  a.yaml:9: y", true),
            "<3>rules: 2 error(s):\n<3>  a.yaml:3: x\n<3>  a.yaml:9: y\n");
  EXPECT_EQ(log::format_line(log::Level::error, "p", "trailing\n", false), "p: error: trailing\n");
}

TEST(Log, JournalStreamIsRecognisedByDeviceAndInode) {
  test::TempDir dir;
  UniqueFd file(::open((dir / "stream").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_GE(file.get(), 0);
  UniqueFd other(::open((dir / "other").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  struct stat st{};
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  const char* old = std::getenv("JOURNAL_STREAM");
  const std::string saved = old ? old : "";
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
  EXPECT_TRUE(log::fd_is_journal_stream(file.get()));
  EXPECT_FALSE(log::fd_is_journal_stream(other.get()));  // stderr redirected elsewhere: plain lines
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(log::fd_is_journal_stream(file.get()));
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(log::fd_is_journal_stream(file.get()));
  if (old) ::setenv("JOURNAL_STREAM", saved.c_str(), 1);
}
