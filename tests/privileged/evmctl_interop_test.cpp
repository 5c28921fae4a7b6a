// Interop both ways with evmctl (ima-evm-utils), the tool vigil replaces.
#include <gtest/gtest.h>

#include <sys/xattr.h>

#include <algorithm>

#include "privileged/cli_fixture.h"

using namespace vigil::test;

namespace {

struct Pair {
  const char* algo;  // vigil keygen --algo
  const char* hash;  // --hash / --hashalgo
};

class EvmctlInterop : public testing::TestWithParam<Pair> {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    key_ = dir_ / "key.key";
    cert_pem_ = dir_ / "key.crt";
    cert_der_ = dir_ / "key.der";
    auto made = run_vigil({"keygen", "--algo", GetParam().algo, "-o", dir_ / "key"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }

  TempDir dir_;
  std::string key_, cert_pem_, cert_der_;
};

}  // namespace

TEST_P(EvmctlInterop, EvmctlSignatureVerifiesInVigil) {
  write_text(dir_ / "file", "signed by evmctl\n");
  // evmctl loads vigil keygen's private key...
  auto evm = run({"evmctl", "ima_sign", "--hashalgo", GetParam().hash, "--key", key_, dir_ / "file"});
  ASSERT_EQ(evm.exit_code, 0) << evm.err;
  const auto xattr = read_xattr(dir_ / "file", "security.ima");
  ASSERT_GT(xattr.size(), 9u);
  EXPECT_EQ(xattr[0], 0x03);
  // ...and vigil verifies what evmctl wrote, finding the key by evmctl's key id.
  auto verified = run_vigil({"verify", "--cert", cert_der_, dir_ / "file"});
  EXPECT_EXIT_CODE(verified, 0);
  EXPECT_EQ(verified.out.rfind("ok ", 0), 0u) << verified.out;
}

TEST_P(EvmctlInterop, VigilSignatureVerifiesInEvmctl) {
  write_text(dir_ / "file", "signed by vigil\n");
  auto signed_file = run_vigil({"sign", "--key", key_, "--cert", cert_pem_, "--hash", GetParam().hash, dir_ / "file"});
  EXPECT_EXIT_CODE(signed_file, 0);
  EXPECT_NE(signed_file.out.find("signed 1, skipped 0, failed 0"), std::string::npos);
  // evmctl loads vigil keygen's DER certificate and accepts the signature.
  auto evm = run({"evmctl", "ima_verify", "--key", cert_der_, dir_ / "file"});
  EXPECT_EXIT_CODE(evm, 0);
  EXPECT_NE((evm.out + evm.err).find("verification is OK"), std::string::npos);

  // Same header as evmctl would write: type, version, hash algorithm, key id.
  const auto ours = read_xattr(dir_ / "file", "security.ima");
  ASSERT_EQ(run({"evmctl", "ima_sign", "--hashalgo", GetParam().hash, "--key", key_, dir_ / "file"}).exit_code, 0);
  const auto theirs = read_xattr(dir_ / "file", "security.ima");
  ASSERT_GE(ours.size(), 9u);
  ASSERT_GE(theirs.size(), 9u);
  EXPECT_EQ(hex({ours.begin(), ours.begin() + 7}), hex({theirs.begin(), theirs.begin() + 7}));

  // Tampering is caught by evmctl too.
  write_text(dir_ / "file", "signed by vigil!\n");
  ASSERT_EQ(run_vigil({"sign", "--key", key_, "--hash", GetParam().hash, dir_ / "file"}).exit_code, 0);
  write_text(dir_ / "file", "signed by vigil?\n");
  EXPECT_NE(run({"evmctl", "ima_verify", "--key", cert_der_, dir_ / "file"}).exit_code, 0);
}

TEST_P(EvmctlInterop, SigfilesInteroperate) {
  write_text(dir_ / "a", "sidecar a\n");
  write_text(dir_ / "b", "sidecar b\n");
  ASSERT_EQ(run({"evmctl", "ima_sign", "--sigfile", "--hashalgo", GetParam().hash, "--key", key_, dir_ / "a"}).exit_code, 0);
  auto verified = run_vigil({"verify", "--sigfile", "--cert", cert_der_, dir_ / "a"});
  EXPECT_EXIT_CODE(verified, 0);

  auto signed_file = run_vigil({"sign", "--sigfile", "--key", key_, "--cert", cert_pem_, "--hash", GetParam().hash, dir_ / "b"});
  EXPECT_EXIT_CODE(signed_file, 0);
  EXPECT_TRUE(read_xattr(dir_ / "b", "security.ima").empty()) << "--sigfile must not write the xattr";
  auto evm = run({"evmctl", "ima_verify", "--sigfile", "--key", cert_der_, dir_ / "b"});
  EXPECT_EXIT_CODE(evm, 0);
}

TEST_P(EvmctlInterop, EvmctlRecursiveTreeVerifiesInVigil) {
  ASSERT_EQ(::mkdir((dir_ / "tree").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ / "tree/sub").c_str(), 0755), 0);
  for (int i = 0; i < 20; ++i) write_text(dir_ / ("tree/sub/f" + std::to_string(i)), std::string(i * 100, 'x'));
  auto evm = run({"evmctl", "ima_sign", "-r", "--hashalgo", GetParam().hash, "--key", key_, dir_ / "tree"});
  ASSERT_EQ(evm.exit_code, 0) << evm.err;
  auto verified = run_vigil({"verify", "-r", "--keyring", dir_.path(), "--json", dir_ / "tree"});
  EXPECT_EXIT_CODE(verified, 0);
  EXPECT_NE(verified.out.find("\"ok\":20"), std::string::npos) << verified.out;
}

INSTANTIATE_TEST_SUITE_P(AlgorithmPairs, EvmctlInterop,
                         testing::Values(Pair{"sm2", "sm3"}, Pair{"ecdsa-p256", "sha256"}, Pair{"rsa2048", "sha256"}),
                         [](const auto& info) {
                           std::string name = std::string(info.param.algo) + "_" + info.param.hash;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

class DigestForm : public testing::TestWithParam<const char*> {};

TEST_P(DigestForm, MatchesEvmctlImaHashByteForByte) {
  VIGIL_REQUIRE_PRIVILEGED_TOOLS();
  TempDir dir;
  std::string content(100000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  write_text(dir / "file", content);
  ASSERT_EQ(run({"evmctl", "ima_hash", "--hashalgo", GetParam(), dir / "file"}).exit_code, 0);
  const auto theirs = read_xattr(dir / "file", "security.ima");
  ASSERT_FALSE(theirs.empty());
  ASSERT_EQ(::removexattr((dir / "file").c_str(), "security.ima"), 0);
  auto ours_run = run_vigil({"sign", "--digest", "--hash", GetParam(), dir / "file"});
  EXPECT_EXIT_CODE(ours_run, 0);
  EXPECT_EQ(hex(read_xattr(dir / "file", "security.ima")), hex(theirs));
  auto verified = run_vigil({"verify", "--cert", "/dev/null", dir / "file"});
  EXPECT_NE(verified.exit_code, 0);  // /dev/null is no certificate: a usage error, not a crash
  EXPECT_NE(verified.err.find("--cert"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Hashes, DigestForm, testing::Values("sm3", "sha256", "sha512", "sha1"));

// Keys and certificates made by openssl's own commands work in vigil, and the result in evmctl.
TEST(OpensslKeys, LoadInVigil) {
  VIGIL_REQUIRE_PRIVILEGED_TOOLS();
  TempDir dir;
  struct Made {
    const char* name;
    const char* make_key;  // shell, writes $D/NAME.pem
    const char* req_digest;
    const char* hash;
  };
  const Made kinds[] = {
      {"sm2", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2 -out $D/sm2.pem", "-sm3 -sigopt distid:1234567812345678", "sm3"},
      {"ec", "openssl ecparam -name prime256v1 -genkey -noout -out $D/ec.pem", "-sha256", "sha256"},
      {"rsa", "openssl genrsa -traditional -out $D/rsa.pem 2048", "-sha256", "sha256"},
  };
  for (const auto& kind : kinds) {
    SCOPED_TRACE(kind.name);
    const std::string name = kind.name;
    const std::string env = "D=" + dir.path() + "; ";
    ASSERT_EQ(run_shell(env + kind.make_key + " 2>&1").exit_code, 0);
    auto req = run_shell(env + "openssl req -new -x509 -key $D/" + name + ".pem " + kind.req_digest +
                         " -subj /CN=" + name + " -days 30 -out $D/" + name + ".crt && openssl x509 -in $D/" + name +
                         ".crt -outform DER -out $D/" + name + ".der");
    ASSERT_EQ(req.exit_code, 0) << req.err;
    write_text(dir / (name + ".data"), "data for " + name);
    auto signed_file = run_vigil({"sign", "--key", dir / (name + ".pem"), "--cert", dir / (name + ".crt"), "--hash",
                              kind.hash, dir / (name + ".data")});
    EXPECT_EXIT_CODE(signed_file, 0);
    EXPECT_EXIT_CODE(run_vigil({"verify", "--cert", dir / (name + ".crt"), dir / (name + ".data")}), 0);
    EXPECT_EXIT_CODE(run({"evmctl", "ima_verify", "--key", dir / (name + ".der"), dir / (name + ".data")}), 0);
  }
}

TEST(CaIssuedKeys, LeafFromVigilCaVerifiesInEvmctl) {
  VIGIL_REQUIRE_PRIVILEGED_TOOLS();
  TempDir dir;
  EXPECT_EXIT_CODE(run_vigil({"keygen", "--algo", "sm2", "--ca", "-o", dir / "ca"}), 0);
  EXPECT_EXIT_CODE(run_vigil({"keygen", "--algo", "sm2", "--ca-cert", dir / "ca.crt", "--ca-key", dir / "ca.key", "-o",
                          dir / "leaf"}),
                   0);
  auto chain = run({"openssl", "verify", "-CAfile", dir / "ca.crt", "-vfyopt", "distid:1234567812345678", dir / "leaf.crt"});
  EXPECT_EXIT_CODE(chain, 0);
  write_text(dir / "file", "x");
  EXPECT_EXIT_CODE(run_vigil({"sign", "--key", dir / "leaf.key", "--cert", dir / "leaf.crt", dir / "file"}), 0);
  EXPECT_EXIT_CODE(run({"evmctl", "ima_verify", "--key", dir / "leaf.der", dir / "file"}), 0);
  // The CA's certificate does not verify a file signed by the leaf.
  auto wrong = run_vigil({"verify", "--cert", dir / "ca.crt", dir / "file"});
  EXPECT_EXIT_CODE(wrong, 1);
  EXPECT_NE(wrong.out.find("unknown-key"), std::string::npos);
}
