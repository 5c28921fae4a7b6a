// The console store survives the agent's death (issue: "kill -9 the agent mid-write, restart,
// nothing committed is lost and the file opens clean"). The agent is kept writing (alerts from
// a loop reading /etc/shadow, sampled events from an open storm); the test reads what is
// committed through its own SQLite connection, kills the agent with SIGKILL, then checks the
// file and every row it had seen, and that a restarted agent goes on writing.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "privileged/agent_fixture.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

// The store file through a connection of the test's own, as an operator's sqlite3 would open it.
class StoreFile {
 public:
  // Read-write opens also recover a WAL left by a killed writer (a read-only one may not).
  explicit StoreFile(const std::string& path, bool read_write = false) {
    if (sqlite3_open_v2(path.c_str(), &db_, read_write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    }
    if (db_) sqlite3_busy_timeout(db_, 5000);
  }
  ~StoreFile() { sqlite3_close(db_); }
  bool open() const { return db_ != nullptr; }
  std::string text(const std::string& sql) const {
    sqlite3_stmt* statement = nullptr;
    std::string value = "<error>";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW) {
      const unsigned char* column = sqlite3_column_text(statement, 0);
      value = column ? reinterpret_cast<const char*>(column) : "";
    }
    sqlite3_finalize(statement);
    return value;
  }
  std::int64_t number(const std::string& sql) const { return std::stoll(text(sql) == "<error>" ? "-1" : text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

// Keeps the agent busy: opens of /etc/shadow (alerts) and of many files (events) until stopped.
class Workload {
 public:
  Workload() {
    thread_ = std::thread([this] {
      while (!stop_) {
        for (int i = 0; i < 20; ++i) {
          int fd = ::open("/etc/shadow", O_RDONLY | O_CLOEXEC);
          if (fd >= 0) ::close(fd);
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~Workload() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(ConsoleStore, NothingCommittedIsLostWhenTheAgentIsKilled) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  const std::string db_path = dir / "state/console.db";
  // Sampling every event keeps the writer committing all the time.
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: true\n"
                                     "outputs:\n  - type: file\n    path: " + (dir / "alerts.jsonl") +
                                     "\nconsole:\n  listen: 127.0.0.1:0\n  events_sampled_per_bucket: 10000\n");
  std::int64_t seen_max_id = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    AgentProcess agent(dir / "agent.yaml", dir / "state", 120);
    ASSERT_TRUE(agent.ready()) << agent.output();
    std::int64_t committed_count = 0, committed_max = 0;
    {
      Workload workload;
      // Let alerts from this run commit, then observe and kill while the writer is busy.
      const auto until = std::chrono::steady_clock::now() + 15s;
      StoreFile reader(db_path);
      ASSERT_TRUE(reader.open());
      while (std::chrono::steady_clock::now() < until && reader.number("SELECT coalesce(max(id), 0) FROM alerts") <= seen_max_id + 50) {
        std::this_thread::sleep_for(50ms);
      }
      committed_max = reader.number("SELECT coalesce(max(id), 0) FROM alerts");
      committed_count = reader.number("SELECT count(*) FROM alerts WHERE id <= " + std::to_string(committed_max));
      ASSERT_GT(committed_max, seen_max_id + 50) << "the agent stored no new alerts\n" << agent.output();
      ::kill(agent.pid(), SIGKILL);
    }
    agent.stop();  // reaps it

    StoreFile after(db_path, true);
    ASSERT_TRUE(after.open());
    EXPECT_EQ(after.text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(after.number("SELECT count(*) FROM alerts WHERE id <= " + std::to_string(committed_max)), committed_count)
        << "alerts committed before the kill are missing";
    EXPECT_GE(after.number("SELECT count(*) FROM events"), 1);
    seen_max_id = after.number("SELECT coalesce(max(id), 0) FROM alerts");
  }

  // A last clean start and stop: the store opens, appends after the old rows, and closes clean.
  AgentProcess agent(dir / "agent.yaml", dir / "state", 60);
  ASSERT_TRUE(agent.ready()) << agent.output();
  {
    Workload workload;
    std::this_thread::sleep_for(1500ms);
  }
  agent.stop();
  StoreFile last(db_path, true);
  EXPECT_EQ(last.text("PRAGMA integrity_check"), "ok");
  EXPECT_GT(last.number("SELECT max(id) FROM alerts"), seen_max_id);
}

}  // namespace
