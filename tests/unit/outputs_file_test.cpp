#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "outputs/file_sink.h"
#include "outputs/outputs.h"
#include "support/test_support.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(test::read_text(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

unsigned mode_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::unique_ptr<FileSink> open_sink(const FileOutput& config) {
  auto sink = FileSink::open(config);
  if (!sink) ADD_FAILURE() << sink.error().message;
  return sink ? std::move(*sink) : nullptr;
}

}  // namespace

TEST(OutputsFile, AppendsJsonLinesToAFileCreated0600) {
  test::TempDir dir;
  const std::string path = dir / "alerts.jsonl";
  const mode_t old_umask = ::umask(0);  // 0600 must come from the sink, not the umask
  auto sink = open_sink({.path = path});
  ::umask(old_umask);
  ASSERT_TRUE(sink);
  EXPECT_EQ(mode_of(path), 0600u);
  ASSERT_TRUE(sink->deliver(test::sample_alert("one")));
  ASSERT_TRUE(sink->deliver(test::sample_alert("two")));
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["rule"], "one");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["rule"], "two");

  // A second sink on the same path appends instead of truncating.
  auto again = open_sink({.path = path});
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->deliver(test::sample_alert("three")));
  EXPECT_EQ(lines_of(path).size(), 3u);
}

TEST(OutputsFile, TextFormat) {
  test::TempDir dir;
  auto sink = open_sink({.path = dir / "alerts.log", .format = LineFormat::text});
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->deliver(test::sample_alert()));
  EXPECT_EQ(test::read_text(dir / "alerts.log"), alert_text_line(test::sample_alert()));
}

TEST(OutputsFile, RotatesBySizeKeepingMaxFiles) {
  test::TempDir dir;
  const std::string path = dir / "alerts.jsonl";
  const size_t line_size = alert_json_line(test::sample_alert("r00")).size();
  // Three lines fit, the fourth rotates.
  auto sink = open_sink({.path = path, .max_size_bytes = 3 * line_size + 10, .max_files = 2});
  ASSERT_TRUE(sink);
  for (int i = 0; i < 20; ++i) {
    char rule[8];
    std::snprintf(rule, sizeof rule, "r%02d", i);
    ASSERT_TRUE(sink->deliver(test::sample_alert(rule)));
  }
  // 20 lines, 3 per file: r18 r19 in path, r15..r17 in .1, r12..r14 in .2; older ones gone.
  ASSERT_TRUE(exists(path + ".1"));
  ASSERT_TRUE(exists(path + ".2"));
  EXPECT_FALSE(exists(path + ".3"));
  auto rules_in = [&](const std::string& file) {
    std::vector<std::string> rules;
    for (const auto& line : lines_of(file)) rules.push_back(nlohmann::json::parse(line)["rule"]);
    return rules;
  };
  EXPECT_EQ(rules_in(path), (std::vector<std::string>{"r18", "r19"}));
  EXPECT_EQ(rules_in(path + ".1"), (std::vector<std::string>{"r15", "r16", "r17"}));
  EXPECT_EQ(rules_in(path + ".2"), (std::vector<std::string>{"r12", "r13", "r14"}));
  for (const auto& file : {path, path + ".1", path + ".2"}) {
    EXPECT_LE(std::filesystem::file_size(file), 3 * line_size + 10) << file;
    EXPECT_EQ(mode_of(file), 0600u) << file;
  }
  // Only these three files in the directory.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 3);
}

TEST(OutputsFile, MaxFilesZeroStartsOver) {
  test::TempDir dir;
  const std::string path = dir / "alerts.jsonl";
  const size_t line_size = alert_json_line(test::sample_alert("r0")).size();
  auto sink = open_sink({.path = path, .max_size_bytes = 2 * line_size, .max_files = 0});
  ASSERT_TRUE(sink);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sink->deliver(test::sample_alert("r" + std::to_string(i))));
  EXPECT_FALSE(exists(path + ".1"));
  EXPECT_EQ(lines_of(path).size(), 1u);  // r4 alone: r0 r1 | r2 r3 | r4
}

TEST(OutputsFile, ALineLargerThanTheLimitIsStillWritten) {
  test::TempDir dir;
  const std::string path = dir / "alerts.jsonl";
  auto sink = open_sink({.path = path, .max_size_bytes = 10, .max_files = 1});
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->deliver(test::sample_alert("a")));
  ASSERT_TRUE(sink->deliver(test::sample_alert("b")));
  EXPECT_EQ(lines_of(path).size(), 1u);
  EXPECT_EQ(lines_of(path + ".1").size(), 1u);
}

TEST(OutputsFile, ReopensAfterExternalRemovalOrRename) {
  test::TempDir dir;
  const std::string path = dir / "alerts.jsonl";
  auto sink = open_sink({.path = path});
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->deliver(test::sample_alert("before")));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_TRUE(sink->deliver(test::sample_alert("after-unlink")));
  ASSERT_TRUE(exists(path));
  EXPECT_EQ(mode_of(path), 0600u);
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["rule"], "after-unlink");

  // logrotate-style rename: the old file keeps what it had, new alerts go to the path.
  ASSERT_EQ(::rename(path.c_str(), (dir / "moved").c_str()), 0);
  ASSERT_TRUE(sink->deliver(test::sample_alert("after-rename")));
  EXPECT_EQ(lines_of(dir / "moved").size(), 1u);
  lines = lines_of(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["rule"], "after-rename");
}

TEST(OutputsFile, RefusesSymlinksAndBadPaths) {
  test::TempDir dir;
  test::write_text(dir / "target", "");
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "link").c_str()), 0);
  auto linked = FileSink::open({.path = dir / "link"});
  ASSERT_FALSE(linked);
  EXPECT_NE(linked.error().message.find(dir / "link"), std::string::npos);

  auto missing_dir = FileSink::open({.path = dir / "no/such/dir"});
  ASSERT_FALSE(missing_dir);
  EXPECT_NE(missing_dir.error().message.find("No such file"), std::string::npos) << missing_dir.error().message;

  ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
  EXPECT_FALSE(FileSink::open({.path = dir / "d"}));
}

TEST(OutputsFile, ThroughTheDispatcher) {
  test::TempDir dir;
  OutputsConfig config;
  config.outputs.push_back({.delivery = {.min_priority = Priority::error}, .sink = FileOutput{.path = dir / "a.jsonl"}});
  auto outputs = make_outputs(config);
  ASSERT_TRUE(outputs) << outputs.error().message;
  (*outputs)->publish(test::sample_alert("low", Priority::notice));
  (*outputs)->publish(test::sample_alert("high", Priority::critical));
  ASSERT_TRUE((*outputs)->flush(std::chrono::seconds(5)));
  const auto status = (*outputs)->status()[0];
  EXPECT_EQ(status.name, "file:" + dir / "a.jsonl");
  EXPECT_EQ(status.delivered, 1u);
  const auto lines = lines_of(dir / "a.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["rule"], "high");
}
