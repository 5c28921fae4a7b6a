// `vigil sign -r` and `vigil verify -r` over hostile trees: unreadable files, special files,
// symlink loops, a filesystem without xattrs, and names with spaces and newlines.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <nlohmann/json.hpp>

#include "privileged/cli_fixture.h"

using namespace vigil::test;

namespace {

// A ramfs (no xattr support) mounted for one test, detached at scope exit even on failure.
class RamfsMount {
 public:
  explicit RamfsMount(const std::string& where) : where_(where) {
    ::mkdir(where.c_str(), 0755);
    mounted_ = ::mount("vigil-test", where.c_str(), "ramfs", 0, "mode=0755") == 0;
  }
  ~RamfsMount() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string where_;
  bool mounted_ = false;
};

class HostileTree : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", keys_ / "k"}).exit_code, 0);
    tree_ = dir_ / "tree";
    ::mkdir(tree_.c_str(), 0755);
    ::mkdir((tree_ + "/dir with space").c_str(), 0755);
    write_text(tree_ + "/plain", "plain");
    write_text(tree_ + "/dir with space/file with space", "spaces");
    write_text(tree_ + "/new\nline", "newline");
    write_text(tree_ + "/secret", "unreadable without CAP_DAC_*");
    ::chmod((tree_ + "/secret").c_str(), 0000);
    ::chown((tree_ + "/secret").c_str(), 65534, 65534);
    ASSERT_EQ(::mkfifo((tree_ + "/fifo").c_str(), 0600), 0);
    ASSERT_EQ(::mknod((tree_ + "/null-device").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
    ASSERT_EQ(::symlink("loop-b", (tree_ + "/loop-a").c_str()), 0);
    ASSERT_EQ(::symlink("loop-a", (tree_ + "/loop-b").c_str()), 0);
    ASSERT_EQ(::symlink("..", (tree_ + "/dir with space/up").c_str()), 0);
  }

  // Runs vigil without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so that mode 0000 means unreadable
  // even for root, while CAP_SYS_ADMIN still allows writing security.ima.
  CommandResult vigil_without_dac(std::vector<std::string> args) {
    args.insert(args.begin(), {"setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--",
                               vigil_binary()});
    return run(args);
  }

  TempDir dir_;
  TempDir keys_;
  std::string tree_;
};

}  // namespace

TEST_F(HostileTree, SignReportsEachProblemAndSignsTheRest) {
  auto result = vigil_without_dac({"sign", "-r", "--json", "--key", keys_ / "k.key", "--cert", keys_ / "k.crt", tree_});
  EXPECT_EXIT_CODE(result, 1);  // the unreadable file failed
  const auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["signed"], 3) << result.out;
  EXPECT_EQ(report["failed"], 1) << result.out;
  EXPECT_EQ(report["skipped"], 5) << result.out;  // fifo, device, two loop links, "up" link
  ASSERT_EQ(report["failures"].size(), 1u);
  EXPECT_EQ(report["failures"][0]["path"], tree_ + "/secret");
  EXPECT_NE(report["failures"][0]["reason"].get<std::string>().find("Permission denied"), std::string::npos);

  for (const char* name : {"/plain", "/dir with space/file with space", "/new\nline"}) {
    EXPECT_FALSE(read_xattr(tree_ + name, "security.ima").empty()) << name;
  }
  EXPECT_TRUE(read_xattr(tree_ + "/secret", "security.ima").empty());

  auto verified = vigil_without_dac({"verify", "-r", "--cert", keys_ / "k.der", tree_});
  EXPECT_EXIT_CODE(verified, 1);
  EXPECT_NE(verified.out.find("ok            " + tree_ + "/new\\nline"), std::string::npos) << verified.out;
  EXPECT_NE(verified.out.find("ok            " + tree_ + "/dir with space/file with space"), std::string::npos);
  EXPECT_NE(verified.out.find("error         " + tree_ + "/secret: cannot open: Permission denied"), std::string::npos)
      << verified.out;
  // One line per file plus the summary: the newline in the name is escaped, not printed.
  EXPECT_EQ(std::count(verified.out.begin(), verified.out.end(), '\n'), 5) << verified.out;
  EXPECT_NE(verified.out.find("verified 4: ok 3, failed 1, skipped 5\n"), std::string::npos) << verified.out;
}

TEST_F(HostileTree, HumanSummaryAndVerboseSkips) {
  auto result = run_vigil({"sign", "-r", "-v", "--key", keys_ / "k.key", tree_});
  EXPECT_EXIT_CODE(result, 0);  // as full root the 0000 file is readable
  EXPECT_NE(result.out.find("signed 4, skipped 5, failed 0"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("a FIFO"), std::string::npos);
  EXPECT_NE(result.err.find("a character device"), std::string::npos);
  EXPECT_NE(result.err.find("loop-a: a symlink (not followed)"), std::string::npos);
}

TEST_F(HostileTree, FilesystemWithoutXattrsIsReportedAndSigfileWorks) {
  RamfsMount ramfs(tree_ + "/ramfs");
  VIGIL_REQUIRE(ramfs.mounted(), "cannot mount ramfs");
  write_text(tree_ + "/ramfs/on-ramfs", "no xattrs here");

  // Not crossed by default.
  auto same_fs = run_vigil({"sign", "-r", "-v", "--json", "--key", keys_ / "k.key", tree_});
  EXPECT_EXIT_CODE(same_fs, 0);
  EXPECT_NE(same_fs.out.find("on another filesystem"), std::string::npos) << same_fs.out;

  auto crossed = run_vigil({"sign", "-r", "--cross-fs", "--json", "--key", keys_ / "k.key", tree_});
  EXPECT_EXIT_CODE(crossed, 1);
  const auto report = nlohmann::json::parse(crossed.out);
  ASSERT_EQ(report["failures"].size(), 1u) << crossed.out;
  EXPECT_EQ(report["failures"][0]["path"], tree_ + "/ramfs/on-ramfs");
  EXPECT_NE(report["failures"][0]["reason"].get<std::string>().find("does not support security.ima"), std::string::npos);

  auto sidecar = run_vigil({"sign", "--sigfile", "--key", keys_ / "k.key", tree_ + "/ramfs/on-ramfs"});
  EXPECT_EXIT_CODE(sidecar, 0);
  auto verified = run_vigil({"verify", "--json", "--cert", keys_ / "k.crt", tree_ + "/ramfs/on-ramfs"});
  EXPECT_EXIT_CODE(verified, 0);
  EXPECT_NE(verified.out.find("\"source\":\"sigfile\""), std::string::npos) << verified.out;
  // A file with neither says why.
  write_text(tree_ + "/ramfs/unsigned", "x");
  auto missing = run_vigil({"verify", "--cert", keys_ / "k.crt", tree_ + "/ramfs/unsigned"});
  EXPECT_EXIT_CODE(missing, 1);
  EXPECT_NE(missing.out.find("no-signature"), std::string::npos);
  EXPECT_NE(missing.out.find("filesystem does not support xattrs"), std::string::npos) << missing.out;
}

TEST_F(HostileTree, UnreadableDirectoryFailsButWalkContinues) {
  ::mkdir((tree_ + "/closed").c_str(), 0000);
  ::chown((tree_ + "/closed").c_str(), 65534, 65534);
  write_text(tree_ + "/zz-after", "after");
  auto result = vigil_without_dac({"sign", "-r", "--json", "--key", keys_ / "k.key", tree_});
  EXPECT_EXIT_CODE(result, 1);
  const auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["signed"], 4);
  EXPECT_NE(result.out.find("cannot open directory"), std::string::npos);
  EXPECT_FALSE(read_xattr(tree_ + "/zz-after", "security.ima").empty());
}

TEST(CliErrors, BadInvocationsExitTwoWithAMessage) {
  VIGIL_REQUIRE_PRIVILEGED_TOOLS();
  TempDir dir;
  write_text(dir / "f", "x");
  auto no_key = run_vigil({"sign", dir / "f"});
  EXPECT_EXIT_CODE(no_key, 2);
  EXPECT_NE(no_key.err.find("--key"), std::string::npos);
  auto missing_key = run_vigil({"sign", "--key", dir / "nope.key", dir / "f"});
  EXPECT_EXIT_CODE(missing_key, 2);
  EXPECT_NE(missing_key.err.find("No such file"), std::string::npos);
  auto bad_algo = run_vigil({"keygen", "--algo", "dsa", "-o", dir / "k"});
  EXPECT_EXIT_CODE(bad_algo, 2);
  ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir / "k"}).exit_code, 0);
  auto sm2_sha256 = run_vigil({"sign", "--key", dir / "k.key", "--hash", "sha256", dir / "f"});
  EXPECT_EXIT_CODE(sm2_sha256, 2);
  EXPECT_NE(sm2_sha256.err.find("SM3"), std::string::npos);
  auto overwrite = run_vigil({"keygen", "--algo", "sm2", "-o", dir / "k"});
  EXPECT_EXIT_CODE(overwrite, 2);
  EXPECT_NE(overwrite.err.find("already exists"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "k.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto no_keyring = run_vigil({"verify", dir / "f"});
  EXPECT_EXIT_CODE(no_keyring, 2);
}
