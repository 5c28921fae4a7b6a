// audit.jsonl rotates by size (docs/install.md, "Files vigil writes"): whole lines only, the
// newest rotated file is .1, at most max_files are kept, and 0 turns rotation off.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "agent/audit_log.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

std::vector<nlohmann::json> records_in(const std::string& path) {
  std::vector<nlohmann::json> records;
  std::istringstream in(test::read_text(path));
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(record.is_object()) << "a torn line in " << path << ": " << line;
    records.push_back(record);
  }
  return records;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

off_t size_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

}  // namespace

TEST(AgentAuditLog, RotatesBeforeALineWouldPassTheLimitKeepingMaxFiles) {
  test::TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto log = AuditLog::open(path, {.max_size_bytes = 1000, .max_files = 2});
  ASSERT_TRUE(log) << log.error().message;
  for (int i = 0; i < 100; ++i) (*log)->record({{"event", "appraisal"}, {"seq", i}, {"path", "/usr/bin/x"}});
  log->reset();
  ASSERT_TRUE(exists(path));
  ASSERT_TRUE(exists(path + ".1"));
  ASSERT_TRUE(exists(path + ".2"));
  EXPECT_FALSE(exists(path + ".3"));  // the oldest went
  for (const std::string& file : {path, path + ".1", path + ".2"}) EXPECT_LE(size_of(file), 1000) << file;
  // Newest last: .2 < .1 < current, consecutive, ending with the last record.
  std::vector<nlohmann::json> all;
  for (const std::string& file : {path + ".2", path + ".1", path}) {
    auto records = records_in(file);
    all.insert(all.end(), records.begin(), records.end());
  }
  ASSERT_FALSE(all.empty());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i]["seq"].get<int>(), all[i - 1]["seq"].get<int>() + 1);
  EXPECT_EQ(all.back()["seq"], 99);
}

TEST(AgentAuditLog, ZeroSizeNeverRotates) {
  test::TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto log = AuditLog::open(path, {.max_size_bytes = 0, .max_files = 5});
  ASSERT_TRUE(log);
  for (int i = 0; i < 200; ++i) (*log)->record({{"event", "appraisal"}, {"seq", i}});
  log->reset();
  EXPECT_FALSE(exists(path + ".1"));
  EXPECT_EQ(records_in(path).size(), 200u);
}

TEST(AgentAuditLog, ConcurrentWritersAcrossRotationsLoseAndTearNothing) {
  test::TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto log = AuditLog::open(path, {.max_size_bytes = 4096, .max_files = 1000});
  ASSERT_TRUE(log);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) (*log)->record({{"event", "appraisal"}, {"writer", t}, {"seq", i}});
    });
  }
  for (auto& writer : writers) writer.join();
  log->reset();
  size_t total = records_in(path).size();
  for (int i = 1; exists(path + "." + std::to_string(i)); ++i) total += records_in(path + "." + std::to_string(i)).size();
  EXPECT_EQ(total, 2000u);
}

TEST(AgentAuditLog, AppendsToWhatIsThereAndCountsItTowardsTheLimit) {
  test::TempDir dir;
  const std::string path = dir / "audit.jsonl";
  test::write_text(path, std::string(900, 'x') + "\n");
  auto log = AuditLog::open(path, {.max_size_bytes = 1000, .max_files = 3});
  ASSERT_TRUE(log);
  (*log)->record({{"event", "appraisal"}, {"path", std::string(200, 'p')}});
  log->reset();
  EXPECT_EQ(test::read_text(path + ".1"), std::string(900, 'x') + "\n");
  EXPECT_EQ(records_in(path).size(), 1u);
}

TEST(AgentAuditLog, RefusesASymlinkAtThePath) {
  test::TempDir dir;
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (dir / "audit.jsonl").c_str()), 0);
  EXPECT_FALSE(AuditLog::open(dir / "audit.jsonl"));
  EXPECT_FALSE(exists(dir / "elsewhere"));
}
