// `vigil policy generate` and `vigil policy import-keylime` run as a user would: digests checked
// against sha256sum and openssl (independent implementations), files refused with a reason.
// Needs no root; it lives here because it runs the built binary.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "ima/measurement_list.h"
#include "privileged/cli_fixture.h"

using namespace vigil::test;

namespace {

// The digest column of `sha256sum FILE` or `openssl dgst -sm3 -r FILE`.
std::string first_word(const CommandResult& result) { return result.out.substr(0, result.out.find(' ')); }

class RuntimePolicyCli : public testing::Test {
 protected:
  void SetUp() override {
    tree_ = dir_ / "tree";
    ASSERT_EQ(::mkdir(tree_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((tree_ + "/bin").c_str(), 0755), 0);
    write_text(tree_ + "/bin/tool", "tool v1\n");
    write_text(tree_ + "/bin/other", "other\n");
    ASSERT_EQ(::symlink("/etc/passwd", (tree_ + "/bin/passwd-link").c_str()), 0);
  }
  TempDir dir_;
  std::string tree_;
};

TEST_F(RuntimePolicyCli, GenerateFromATreeMatchesIndependentHashes) {
  VIGIL_REQUIRE(have_program("sha256sum") && have_program("openssl"), "sha256sum and openssl needed");
  const std::string out = dir_ / "policy.json";
  auto result = run_vigil({"policy", "generate", "--tree", tree_, "--prefix", "/", "--hash", "sm3,sha256", "-o", out});
  EXPECT_EXIT_CODE(result, 0);
  EXPECT_NE(result.err.find("2 paths, 4 digests"), std::string::npos) << result.err;

  const auto policy = nlohmann::json::parse(read_text(out));
  EXPECT_EQ(policy["vigil_runtime_policy"], 1);
  ASSERT_TRUE(policy["digests"].contains("/bin/tool")) << policy.dump(2);
  EXPECT_FALSE(policy["digests"].contains("/bin/passwd-link"));  // symlinks are not followed
  const auto& tool = policy["digests"]["/bin/tool"];
  ASSERT_EQ(tool.size(), 2u);
  EXPECT_EQ(tool[0], "sm3:" + first_word(run({"openssl", "dgst", "-sm3", "-r", tree_ + "/bin/tool"})));
  EXPECT_EQ(tool[1], "sha256:" + first_word(run({"sha256sum", tree_ + "/bin/tool"})));

  // An existing output is kept unless --force.
  result = run_vigil({"policy", "generate", "--tree", tree_, "-o", out});
  EXPECT_EXIT_CODE(result, 1);
  EXPECT_NE(result.err.find("already exists"), std::string::npos) << result.err;
  result = run_vigil({"policy", "generate", "--tree", tree_, "-o", out, "--force"});
  EXPECT_EXIT_CODE(result, 0);

  // To stdout, absolute paths without --prefix.
  result = run_vigil({"policy", "generate", "--tree", tree_ + "/bin"});
  EXPECT_EXIT_CODE(result, 0);
  char resolved[PATH_MAX];
  ASSERT_NE(::realpath((tree_ + "/bin/tool").c_str(), resolved), nullptr);
  EXPECT_TRUE(nlohmann::json::parse(result.out)["digests"].contains(resolved)) << result.out;
}

TEST_F(RuntimePolicyCli, GenerateFromATrustedListInEitherFormat) {
  std::vector<vigil::ima::MeasurementEntry> entries;
  entries.push_back(vigil::ima::boot_aggregate_entry(vigil::crypto::HashAlgo::sha256, {}));
  vigil::ima::MeasurementEntry entry;
  entry.path = "/usr/bin/ls";
  vigil::crypto::Hasher hasher;
  const std::string content = "ls";
  entry.file_digest = *hasher.of_bytes(vigil::crypto::HashAlgo::sm3,
                                       {reinterpret_cast<const uint8_t*>(content.data()), content.size()});
  entries.push_back(entry);
  std::string ascii;
  std::vector<uint8_t> binary;
  for (const auto& e : entries) {
    ascii += vigil::ima::ascii_line(e);
    const auto record = vigil::ima::binary_record(e);
    binary.insert(binary.end(), record.begin(), record.end());
  }
  write_text(dir_ / "ascii", ascii);
  write_text(dir_ / "binary", std::string(binary.begin(), binary.end()));
  for (const char* name : {"ascii", "binary"}) {
    const auto result = run_vigil({"policy", "generate", "--measurements", dir_ / name});
    EXPECT_EXIT_CODE(result, 0);
    const auto policy = nlohmann::json::parse(result.out);
    EXPECT_EQ(policy["digests"].size(), 1u) << name << ": " << result.out;  // boot_aggregate left out
    EXPECT_EQ(policy["digests"]["/usr/bin/ls"][0], "sm3:" + entry.file_digest.hex()) << name;
  }
  write_text(dir_ / "garbage", "not a list\n");
  const auto result = run_vigil({"policy", "generate", "--measurements", dir_ / "garbage"});
  EXPECT_EXIT_CODE(result, 1);
  EXPECT_NE(result.err.find("neither a binary list"), std::string::npos) << result.err;
}

TEST_F(RuntimePolicyCli, ImportKeylime) {
  const std::string digest(64, 'a');
  write_text(dir_ / "keylime.json", R"({"meta": {"version": 1}, "release": 0, "digests": {"/usr/bin/tool": [")" +
                                        digest + R"("]}, "excludes": ["/tmp/.*"], "verification-keys": ""})");
  const std::string out = dir_ / "vigil.json";
  auto result = run_vigil({"policy", "import-keylime", dir_ / "keylime.json", "-o", out});
  EXPECT_EXIT_CODE(result, 0);
  const auto policy = nlohmann::json::parse(read_text(out));
  EXPECT_EQ(policy["digests"]["/usr/bin/tool"][0], "sha256:" + digest);
  EXPECT_EQ(policy["exclude_regexes"][0], "/tmp/.*");

  write_text(dir_ / "bad.json", R"({"digests": {"/usr/bin/tool": ["abc"]}})");
  result = run_vigil({"policy", "import-keylime", dir_ / "bad.json"});
  EXPECT_EXIT_CODE(result, 1);
  EXPECT_NE(result.err.find("bad.json: \"digests\" of /usr/bin/tool"), std::string::npos) << result.err;
}

TEST_F(RuntimePolicyCli, UsageErrors) {
  EXPECT_EXIT_CODE(run_vigil({"policy", "generate"}), 2);
  EXPECT_EXIT_CODE(run_vigil({"policy", "generate", "--tree", tree_, "--measurements", tree_}), 2);
  const auto result = run_vigil({"policy", "generate", "--tree", tree_, "--hash", "sm3,md9"});
  EXPECT_EXIT_CODE(result, 2);
  EXPECT_NE(result.err.find("md9"), std::string::npos) << result.err;
  // The IMA policy checker is still there.
  write_text(dir_ / "ima.policy", "measure func=BPRM_CHECK\n");
  EXPECT_EXIT_CODE(run_vigil({"policy", "check", dir_ / "ima.policy"}), 0);
}

}  // namespace
