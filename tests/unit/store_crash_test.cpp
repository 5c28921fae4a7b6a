// kill -9 of a process in the middle of writing its store: the file must open clean, keep
// every row the writer was told is committed, and take new rows after them.
// The writer is tests/support/store_crash_writer.cpp.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "store/store.h"
#include "support/test_support.h"

namespace vigil::store {
namespace {

// The writer child: its stdout as lines; SIGKILLed and reaped when this goes out of scope,
// whatever the test did before.
class CrashWriter {
 public:
  explicit CrashWriter(const std::string& db_path) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::execl(VIGIL_STORE_CRASH_WRITER, VIGIL_STORE_CRASH_WRITER, db_path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    out_ = pipe_fds[0];
  }
  ~CrashWriter() {
    kill();
    if (out_ >= 0) ::close(out_);
  }
  CrashWriter(const CrashWriter&) = delete;
  CrashWriter& operator=(const CrashWriter&) = delete;

  bool started() const { return pid_ > 0 && out_ >= 0; }

  // The next committed id the writer reports; nullopt on timeout or end of output.
  std::optional<std::int64_t> next_id(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
        const std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return std::stoll(line);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{out_, POLLIN, 0};
      if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t got = ::read(out_, chunk, sizeof chunk);
      if (got <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  // SIGKILL to this child only, then reap it.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

// What a plain sqlite3 connection (not the store) finds in the file.
struct FileCheck {
  std::string integrity;
  std::int64_t rows = 0, max_id = 0, rows_up_to = 0;
};

FileCheck check_file(const std::string& path, std::int64_t up_to_id) {
  FileCheck check;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    check.integrity = "cannot open";
    sqlite3_close(db);
    return check;
  }
  auto query = [&](const std::string& sql, auto read) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      read(stmt);
    }
    sqlite3_finalize(stmt);
  };
  query("PRAGMA integrity_check", [&](sqlite3_stmt* stmt) {
    check.integrity = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  });
  query("SELECT count(*), coalesce(max(id), 0) FROM alerts", [&](sqlite3_stmt* stmt) {
    check.rows = sqlite3_column_int64(stmt, 0);
    check.max_id = sqlite3_column_int64(stmt, 1);
  });
  query("SELECT count(*) FROM alerts WHERE id <= " + std::to_string(up_to_id),
        [&](sqlite3_stmt* stmt) { check.rows_up_to = sqlite3_column_int64(stmt, 0); });
  sqlite3_close(db);
  return check;
}

TEST(StoreCrash, KillNineMidWriteKeepsEveryCommittedRow) {
  test::TempDir dir;
  const std::string path = dir / "crash.db";
  std::mt19937 random(std::random_device{}());
  std::int64_t committed = 0;  // highest id any writer reported
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    CrashWriter writer(path);
    ASSERT_TRUE(writer.started());
    // Let it report a few commits, then kill it at a random moment of its next batches.
    const int reports = std::uniform_int_distribution<int>(1, 15)(random);
    std::int64_t first_this_round = 0;
    for (int i = 0; i < reports; ++i) {
      auto id = writer.next_id(std::chrono::seconds(30));
      ASSERT_TRUE(id) << "the writer reported nothing";
      if (i == 0) {
        first_this_round = *id;
        EXPECT_GT(*id, committed) << "a new writer appends after every committed row";
      }
      ASSERT_GE(*id, committed);
      committed = *id;
    }
    EXPECT_GT(first_this_round, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(random)));
    writer.kill();
    // Ids it printed but we had not read yet were committed too.
    while (auto id = writer.next_id(std::chrono::seconds(1))) committed = std::max(committed, *id);

    const FileCheck check = check_file(path, committed);
    EXPECT_EQ(check.integrity, "ok");
    // Ids are dense from 1 (no deletes): every reported id is there iff there are that many.
    EXPECT_EQ(check.rows_up_to, committed);
    EXPECT_GE(check.max_id, committed);
    EXPECT_EQ(check.rows, check.max_id);
  }

  // The store itself opens it and appends after what survived.
  StoreConfig config;
  config.path = path;
  config.max_age = std::chrono::hours(24 * 365 * 200);
  auto store = open_sqlite_store(config);
  ASSERT_TRUE(store) << store.error().message;
  AlertRecord alert;
  alert.rule = "after the crashes";
  ASSERT_TRUE((*store)->add_alert(alert));
  ASSERT_TRUE((*store)->flush(std::chrono::seconds(5)));
  AlertQuery newest;
  newest.paging.limit = 1;
  auto page = (*store)->alerts(newest);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_GT(page->items[0].id, committed);
  EXPECT_EQ(page->items[0].rule, "after the crashes");
}

}  // namespace
}  // namespace vigil::store
