// ima-sig entries carrying signatures made by evmctl (ima-evm-utils), not by vigil, checked by
// the attestation runtime policy: SM2/SM3 (which Keylime cannot verify) and ECDSA/SHA-256.
// evmctl writes a sidecar (--sigfile), so no xattr and no root are needed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "attest/runtime_policy.h"
#include "ima/ima.h"
#include "ima/measurement_list.h"
#include "privileged/cli_fixture.h"

using namespace vigil;
using namespace vigil::test;

namespace {

struct Case {
  const char* algo;  // vigil keygen --algo
  const char* hash;  // evmctl --hashalgo
};

class AttestEvmctlSignature : public testing::TestWithParam<Case> {};

ima::MeasurementEntry signed_entry_for(const std::string& path, crypto::HashAlgo algo,
                                       const std::vector<uint8_t>& signature) {
  ima::MeasurementEntry entry;
  entry.template_name = ima::TemplateName::ima_sig;
  entry.path = path;
  crypto::Hasher hasher;
  const std::string content = read_text(path);
  entry.file_digest = *hasher.of_bytes(algo, {reinterpret_cast<const uint8_t*>(content.data()), content.size()});
  entry.signature = signature;
  ima::compute_template_hashes(entry);
  return entry;
}

}  // namespace

TEST_P(AttestEvmctlSignature, TrustedKeyAcceptsAndTamperingFails) {
  VIGIL_REQUIRE(have_program("evmctl"), "evmctl (ima-evm-utils) not installed");
  TempDir dir;
  ASSERT_EQ(run_vigil({"keygen", "--algo", GetParam().algo, "-o", dir / "key"}).exit_code, 0);
  write_text(dir / "app", "an application signed by evmctl\n");
  const auto signed_by_evmctl =
      run({"evmctl", "ima_sign", "--sigfile", "--hashalgo", GetParam().hash, "--key", dir / "key.key", dir / "app"});
  ASSERT_EQ(signed_by_evmctl.exit_code, 0) << signed_by_evmctl.err;
  const std::string sig_text = read_text(dir / "app.sig");
  const std::vector<uint8_t> signature(sig_text.begin(), sig_text.end());
  ASSERT_GT(signature.size(), 9u);
  ASSERT_EQ(signature[0], 0x03);  // evmctl's signature v2

  // The policy trusts vigil keygen's PEM certificate, given in vigil's JSON format.
  const nlohmann::json document = {{"vigil_runtime_policy", 1}, {"keys", {read_text(dir / "key.crt")}}};
  auto policy = attest::parse_runtime_policy(document.dump(), "policy.json");
  ASSERT_TRUE(policy) << policy.error().message;

  const auto algo = crypto::hash_from_name(GetParam().hash);
  ASSERT_TRUE(algo);
  auto verdict = attest::check_entry(*policy, signed_entry_for(dir / "app", *algo, signature));
  EXPECT_TRUE(verdict.allowed) << verdict.reason;
  EXPECT_EQ(verdict.reason.rfind("signed by key ", 0), 0u) << verdict.reason;

  // The binary replaced, its old signature kept: the trusted key's signature does not verify.
  write_text(dir / "app", "an application signed by evmctl, then replaced\n");
  verdict = attest::check_entry(*policy, signed_entry_for(dir / "app", *algo, signature));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("does not verify"), std::string::npos) << verdict.reason;
}

INSTANTIATE_TEST_SUITE_P(Keys, AttestEvmctlSignature,
                         testing::Values(Case{"sm2", "sm3"}, Case{"ecdsa-p256", "sha256"}, Case{"rsa2048", "sha256"}));
