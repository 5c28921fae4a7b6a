// Finding 7 of issue 16: a user who controls part of a tree that root signs swaps a directory
// for a symlink while `vigil sign -r` walks it, to make root sign (or write a sidecar into, or
// verify, or put into a policy) a file outside the tree. Here a thread flips a directory and a
// symlink to an outside directory with the same layout (renameat2 RENAME_EXCHANGE, so one name
// is always the directory and the other the symlink) as fast as it can, while vigil runs again
// and again. The files outside never get a security.ima, never get a .sig beside them, never
// show up in verify's output or in a generated policy. The race itself must be seen to happen:
// runs where the walk noticed a swap are counted and must not be zero.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "privileged/cli_fixture.h"

using namespace vigil::test;

namespace {

constexpr int kFiles = 24;
constexpr auto kTimeBound = std::chrono::seconds(20);
constexpr int kMaxRuns = 60;
constexpr int kMinRuns = 8;

class TreeRace : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", keys_ / "k"}).exit_code, 0);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", keys_ / "other"}).exit_code, 0);
    tree_ = dir_ / "tree";
    outside_ = dir_ / "outside";
    for (const auto& base : {tree_, outside_}) {
      ASSERT_EQ(::mkdir(base.c_str(), 0755), 0);
      ASSERT_EQ(::mkdir((base + "/sub").c_str(), 0755), 0);
      ASSERT_EQ(::mkdir((base + "/sub/deeper").c_str(), 0755), 0);
      for (int i = 0; i < kFiles; ++i) {
        const std::string name = "/f" + std::to_string(i);
        const std::string content = (base == tree_ ? "inside " : "OUTSIDE ") + std::to_string(i);
        write_text(base + "/sub" + name, content);
        write_text(base + "/sub/deeper" + name, content + " deeper");
      }
    }
    ASSERT_EQ(::symlink((outside_ + "/sub").c_str(), (tree_ + "/flip").c_str()), 0);
  }

  void TearDown() override { stop_flipping(); }

  // tree/sub (a directory) and tree/flip (a symlink to outside/sub) trade places, over and over.
  void start_flipping() {
    flipper_ = std::thread([this] {
      const std::string a = tree_ + "/sub", b = tree_ + "/flip";
      while (!stop_.load(std::memory_order_relaxed)) {
        if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) flips_.fetch_add(1);
      }
    });
  }
  void stop_flipping() {
    stop_.store(true);
    if (flipper_.joinable()) flipper_.join();
  }

  // Runs `command` under the flipper until the race was seen `kMinRuns` times' worth or the time
  // bound; returns how many runs noticed a swap ("changed while walking" in their output).
  template <class Check>
  int race(const std::function<CommandResult()>& command, Check check) {
    start_flipping();
    int noticed = 0, runs = 0;
    const auto until = std::chrono::steady_clock::now() + kTimeBound;
    while (runs < kMaxRuns && std::chrono::steady_clock::now() < until && !(runs >= kMinRuns && noticed > 0)) {
      const CommandResult result = command();
      ++runs;
      if ((result.out + result.err).find("changed while walking") != std::string::npos) ++noticed;
      check(result);
      if (testing::Test::HasFailure()) break;
    }
    stop_flipping();
    EXPECT_GT(flips_.load(), 0);
    EXPECT_GT(noticed, 0) << "the race never hit in " << runs << " runs (" << flips_.load() << " flips)";
    return noticed;
  }

  void expect_outside_untouched() {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(outside_)) {
      const std::string path = entry.path();
      EXPECT_FALSE(path.ends_with(".sig")) << "a sidecar was written outside the tree: " << path;
      if (!entry.is_regular_file()) continue;
      errno = 0;
      EXPECT_LT(::lgetxattr(path.c_str(), "security.ima", nullptr, 0), 0) << "a file outside the tree was signed: " << path;
      EXPECT_EQ(errno, ENODATA) << path;
    }
  }

  TempDir dir_;
  TempDir keys_;
  std::string tree_, outside_;
  std::thread flipper_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> flips_{0};
};

}  // namespace

TEST_F(TreeRace, SignNeverSignsAFileOutsideTheTree) {
  race([&] { return run_vigil({"sign", "-r", "--json", "--key", keys_ / "k.key", tree_}); },
       [&](const CommandResult& result) { EXPECT_NE(result.exit_code, 2) << result.err; });
  expect_outside_untouched();
}

TEST_F(TreeRace, SignSigfileNeverWritesASidecarOutsideTheTree) {
  race([&] { return run_vigil({"sign", "-r", "--sigfile", "--json", "--key", keys_ / "k.key", tree_}); },
       [&](const CommandResult& result) { EXPECT_NE(result.exit_code, 2) << result.err; });
  expect_outside_untouched();
}

TEST_F(TreeRace, VerifyNeverReadsAFileOutsideTheTree) {
  // Inside: signed with the trusted key. Outside: signed with another key, so a file verified
  // from outside would come back unknown-key instead of ok.
  ASSERT_EQ(run_vigil({"sign", "-r", "--key", keys_ / "k.key", tree_}).exit_code, 0);
  ASSERT_EQ(run_vigil({"sign", "-r", "--key", keys_ / "other.key", outside_}).exit_code, 0);
  ASSERT_EQ(run_vigil({"sign", "-r", "--sigfile", "--key", keys_ / "other.key", outside_}).exit_code, 0);
  race([&] { return run_vigil({"verify", "-r", "--json", "--cert", keys_ / "k.crt", tree_}); },
       [&](const CommandResult& result) {
         const auto report = nlohmann::json::parse(result.out, nullptr, false);
         ASSERT_TRUE(report.is_object()) << result.out << result.err;
         for (const auto& file : report["files"]) {
           const std::string status = file["status"];
           EXPECT_TRUE(status == "ok" || status == "error") << file.dump();
           if (status == "error") {
             EXPECT_NE(file["reason"].get<std::string>().find("changed while walking"), std::string::npos) << file.dump();
           }
         }
       });
}

TEST_F(TreeRace, PolicyGenerateNeverHashesAFileOutsideTheTree) {
  std::vector<std::string> outside_digests;
  for (int i = 0; i < kFiles; ++i) {
    for (const char* sub : {"/sub/f", "/sub/deeper/f"}) {
      const auto digest = run({"sha256sum", outside_ + sub + std::to_string(i)});
      ASSERT_EQ(digest.exit_code, 0);
      outside_digests.push_back(digest.out.substr(0, 64));
    }
  }
  race([&] { return run_vigil({"policy", "generate", "--tree", tree_}); },
       [&](const CommandResult& result) {
         // A walk that saw a swap fails as a whole (exit 1); a clean one lists inside files only.
         if (result.exit_code != 0) {
           EXPECT_NE(result.err.find("changed while walking"), std::string::npos) << result.err;
           return;
         }
         for (const auto& digest : outside_digests) {
           EXPECT_EQ(result.out.find(digest), std::string::npos) << "outside file in the policy:\n" << result.out;
         }
       });
}
