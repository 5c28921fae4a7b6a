// The agent's side of attestation against a private swtpm: EK, EK certificate and AK read and
// judged by the verifier's rules; credentials made in software (and by tpm2_makecredential)
// activated by the TPM; quotes checked by tpm2_checkquote; the PCR backend and the attestation
// TPM sharing one single-client swtpm.
#include <gtest/gtest.h>

#include <tss2/tss2_tpm2_types.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "support/swtpm.h"
#include "support/test_support.h"
#include "tpm/attestation.h"
#include "tpm/tpm.h"
#include "tpm/tpm_bytes.h"
#include "tpm/tpm_public.h"
#include "unit/attest_test_quotes.h"

using namespace vigil;
using namespace vigil::test;
using crypto::HashAlgo;

namespace {

using Clock = std::chrono::steady_clock;

std::string hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (uint8_t byte : bytes) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 15];
  }
  return text;
}

void write_bytes(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::vector<uint32_t> kQuotedPcrs = {0, 1, 2, 3, 4, 5, 6, 7, 10};

crypto::Digest sha256_of(const std::string& text) {
  crypto::Hasher hasher;
  return hasher.of_bytes(HashAlgo::sha256, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}).value();
}

// One digest per bank of the backend, as the agent extends a measurement.
std::vector<crypto::Digest> digests_for(const tpm::PcrBackend& backend, const std::string& text) {
  std::vector<crypto::Digest> digests;
  crypto::Hasher hasher;
  for (auto algo : backend.banks()) {
    digests.push_back(hasher.of_bytes(algo, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}).value());
  }
  return digests;
}

// The start of TPMS_ATTEST: magic, type, qualifiedSigner, extraData.
struct AttestHead {
  uint32_t magic = 0;
  uint16_t type = 0;
  std::vector<uint8_t> qualified_signer;
  std::vector<uint8_t> extra_data;
};

AttestHead parse_attest_head(std::span<const uint8_t> attest) {
  tpm::ByteReader in(attest);
  AttestHead head;
  head.magic = in.u32("magic").value_or(0);
  head.type = in.u16("type").value_or(0);
  auto signer = in.sized("qualifiedSigner");
  auto extra = in.sized("extraData");
  EXPECT_TRUE(signer && extra);
  if (signer) head.qualified_signer.assign(signer->begin(), signer->end());
  if (extra) head.extra_data.assign(extra->begin(), extra->end());
  return head;
}

class TpmAttestation : public testing::Test {
 protected:
  void start(const SwtpmOptions& options) {
    VIGIL_REQUIRE(SwtpmProcess::available(options), "needs swtpm, swtpm_setup and swtpm_localca (swtpm-tools)");
    auto started = SwtpmProcess::start(options);
    ASSERT_TRUE(started) << started.error();
    swtpm_ = std::move(*started);
    auto opened = tpm::open_attestation_tpm(swtpm_->tcti_spec());
    ASSERT_TRUE(opened) << opened.error().message << "\nswtpm log:\n" << swtpm_->log();
    tpm_ = std::move(*opened);
  }

  tpm::TpmPublic endorsement_key() {
    auto bytes = tpm_->endorsement_key();
    EXPECT_TRUE(bytes) << bytes.error().message;
    auto parsed = tpm::parse_tpm_public(bytes.value_or(std::vector<uint8_t>{}));
    EXPECT_TRUE(parsed) << parsed.error().message;
    return std::move(parsed.value());
  }

  tpm::TpmPublic attestation_key() {
    auto bytes = tpm_->attestation_key();
    EXPECT_TRUE(bytes) << bytes.error().message;
    auto parsed = tpm::parse_tpm_public(bytes.value_or(std::vector<uint8_t>{}));
    EXPECT_TRUE(parsed) << parsed.error().message;
    return std::move(parsed.value());
  }

  // The transient objects in the TPM (tpm2_getcap handles-transient), "" when none.
  std::string transient_handles() {
    auto listed = run({"tpm2_getcap", "handles-transient", "-T", swtpm_->tcti_spec()}, 30);
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    return listed.out;
  }

  // Sessions the TPM still holds, loaded or context-saved, "" when none.
  std::string sessions() {
    std::string out;
    for (const char* kind : {"handles-loaded-session", "handles-saved-session"}) {
      auto listed = run({"tpm2_getcap", kind, "-T", swtpm_->tcti_spec()}, 30);
      EXPECT_EQ(listed.exit_code, 0) << listed.err;
      out += listed.out;
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SwtpmProcess> swtpm_;
  std::unique_ptr<tpm::AttestationTpm> tpm_;  // after swtpm_: gone before swtpm is killed
};

}  // namespace

TEST_F(TpmAttestation, ManufacturedEkCertificateAndAkPassTheVerifierRules) {
  SwtpmOptions options;
  options.with_ek_cert = true;
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  VIGIL_REQUIRE(have_program("tpm2_readpublic"), "needs tpm2-tools");

  const auto ek = endorsement_key();
  EXPECT_TRUE(tpm::check_endorsement_key(ek)) << ek.describe();
  EXPECT_EQ(ek.describe(), "RSA 2048 restricted decrypt (EK)");
  // The persistent EK swtpm_setup made, byte for byte as tpm2-tools reads it.
  auto tools = run({"tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", dir_ / "ek.pem", "-T", swtpm_->tcti_spec()},
                   30);
  ASSERT_EQ(tools.exit_code, 0) << tools.err;
  auto tools_public = run({"tpm2_readpublic", "-c", "0x81010001", "-o", dir_ / "ek.tss", "-T", swtpm_->tcti_spec()}, 30);
  ASSERT_EQ(tools_public.exit_code, 0) << tools_public.err;
  EXPECT_EQ(ek.marshalled, read_bytes(dir_ / "ek.tss"));
  EXPECT_EQ(tpm::public_key_pem(ek), read_text(dir_ / "ek.pem"));

  auto certificate = tpm_->endorsement_certificate();
  ASSERT_TRUE(certificate) << certificate.error().message;
  ASSERT_TRUE(certificate->has_value());
  EXPECT_EQ(**certificate, read_bytes(swtpm_->ek_cert_dir() + "/ek-rsa2048.crt"));
  auto parsed_certificate = crypto::Certificate::from_der(**certificate);
  ASSERT_TRUE(parsed_certificate) << parsed_certificate.error().message;
  auto certified_key = parsed_certificate->public_key();
  ASSERT_TRUE(certified_key);
  EXPECT_TRUE(certified_key->same_public_key(ek.key));

  const auto ak = attestation_key();
  EXPECT_TRUE(tpm::check_attestation_key(ak)) << ak.describe();
  EXPECT_EQ(ak.describe(), "ECC P-256 restricted sign (AK)");
  EXPECT_EQ(ak.scheme, 0x0018);  // ECDSA
  // A primary from a fixed template: the same key on every call, and nothing left behind.
  EXPECT_EQ(attestation_key().marshalled, ak.marshalled);
  EXPECT_EQ(transient_handles().find("0x80"), std::string::npos) << transient_handles();
}

TEST_F(TpmAttestation, WithoutPersistentEkTheDefaultTemplateIsUsed) {
  ASSERT_NO_FATAL_FAILURE(start({}));
  if (IsSkipped()) return;
  VIGIL_REQUIRE(have_program("tpm2_createek"), "needs tpm2-tools");
  const auto ek = endorsement_key();
  EXPECT_TRUE(tpm::check_endorsement_key(ek));
  // tpm2_createek's default RSA EK is the same TCG template, so the same key.
  auto tools = run({"tpm2_createek", "-c", "-", "-G", "rsa", "-u", dir_ / "ek.pub", "-T", swtpm_->tcti_spec()}, 30);
  ASSERT_EQ(tools.exit_code, 0) << tools.err;
  EXPECT_EQ(ek.marshalled, read_bytes(dir_ / "ek.pub"));
  auto certificate = tpm_->endorsement_certificate();
  ASSERT_TRUE(certificate) << certificate.error().message;
  EXPECT_FALSE(certificate->has_value());
  EXPECT_EQ(transient_handles().find("0x80"), std::string::npos) << transient_handles();
}

TEST_F(TpmAttestation, SoftwareCredentialActivatesOnlyForTheAk) {
  SwtpmOptions options;
  options.with_ek = true;
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  const auto ek = endorsement_key();
  const auto ak = attestation_key();
  std::vector<uint8_t> secret(32);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i * 7 + 3);

  auto credential = tpm::make_credential(ek, ak.name, secret);
  ASSERT_TRUE(credential) << credential.error().message;
  auto recovered = tpm_->activate_credential(credential->credential_blob, credential->encrypted_secret);
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(*recovered, secret);

  // Made for another object's name (here the EK's): the TPM refuses it for the AK.
  auto for_other = tpm::make_credential(ek, ek.name, secret);
  ASSERT_TRUE(for_other);
  auto refused = tpm_->activate_credential(for_other->credential_blob, for_other->encrypted_secret);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("Esys_ActivateCredential"), std::string::npos) << refused.error().message;

  // Bytes that are no TPM structure are refused before the TPM sees them.
  const std::vector<uint8_t> garbage = {0xff, 0xff, 1, 2, 3};
  EXPECT_FALSE(tpm_->activate_credential(garbage, credential->encrypted_secret));
  auto trailing = credential->credential_blob;
  trailing.push_back(0);
  EXPECT_FALSE(tpm_->activate_credential(trailing, credential->encrypted_secret));
  // A tampered blob fails the TPM's integrity check.
  auto tampered = credential->credential_blob;
  tampered.back() ^= 1;
  EXPECT_FALSE(tpm_->activate_credential(tampered, credential->encrypted_secret));
  // And the TPM still works after all of that, with nothing left loaded.
  auto again = tpm_->activate_credential(credential->credential_blob, credential->encrypted_secret);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, secret);
  EXPECT_EQ(transient_handles().find("0x80"), std::string::npos) << transient_handles();
  EXPECT_EQ(sessions(), "");
}

TEST_F(TpmAttestation, Tpm2MakecredentialOutputActivates) {
  SwtpmOptions options;
  options.with_ek = true;
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  VIGIL_REQUIRE(have_program("tpm2_makecredential"), "needs tpm2-tools");
  const auto ek = endorsement_key();
  const auto ak = attestation_key();
  write_bytes(dir_ / "ek.pub", ek.marshalled);
  write_text(dir_ / "secret", "made by tpm2-tools, offline");
  auto made = run({"tpm2_makecredential", "-T", "none", "-u", dir_ / "ek.pub", "-s", dir_ / "secret", "-n", hex(ak.name),
                   "-o", dir_ / "credential"},
                  30);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // tpm2-tools' file: magic badcc0de, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
  const auto file = read_bytes(dir_ / "credential");
  ASSERT_GT(file.size(), 12u);
  ASSERT_EQ(hex(std::span(file).first(8)), "badcc0de00000001");
  tpm::ByteReader reader{std::span<const uint8_t>(file).subspan(8)};
  ASSERT_TRUE(reader.sized("blob"));
  const size_t blob_end = 8 + reader.offset();
  ASSERT_TRUE(reader.sized("secret"));
  ASSERT_TRUE(reader.at_end());
  auto recovered = tpm_->activate_credential(std::span(file).subspan(8, blob_end - 8), std::span(file).subspan(blob_end));
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(std::string(recovered->begin(), recovered->end()), "made by tpm2-tools, offline");
}

TEST_F(TpmAttestation, QuoteVerifiesWithTpm2CheckquoteAndNamesTheQualifiedSigner) {
  SwtpmOptions options;
  options.with_ek = true;
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  VIGIL_REQUIRE(have_program("tpm2_checkquote"), "needs tpm2-tools");
  // Something in PCR 10 (through the agent's PCR backend, on the same swtpm).
  auto backend = tpm::open_pcr_backend(swtpm_->tcti_spec());
  ASSERT_TRUE(backend) << backend.error().message;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*backend)->extend(10, digests_for(**backend, "event " + std::to_string(i))));
  auto pcr10 = (*backend)->read(10, HashAlgo::sha256);
  ASSERT_TRUE(pcr10);

  const auto ak = attestation_key();
  const crypto::Digest nonce_digest = sha256_of("round 1");
  const std::vector<uint8_t> nonce(nonce_digest.view().begin(), nonce_digest.view().begin() + 20);
  tpm::PcrSelection selection;
  selection.pcrs = kQuotedPcrs;
  auto quote = tpm_->quote(nonce, selection);
  ASSERT_TRUE(quote) << quote.error().message;
  EXPECT_EQ(quote->selection.bank, HashAlgo::sha256);
  EXPECT_EQ(quote->selection.pcrs, kQuotedPcrs);
  ASSERT_EQ(quote->pcr_values.size(), kQuotedPcrs.size());
  EXPECT_EQ(quote->pcr_values[8], *pcr10);
  EXPECT_EQ(quote->pcr_values[0].hex(), std::string(64, '0'));

  const AttestHead head = parse_attest_head(quote->attest);
  EXPECT_EQ(head.magic, 0xff544347u);  // TPM_GENERATED_VALUE
  EXPECT_EQ(head.type, 0x8018);        // TPM_ST_ATTEST_QUOTE
  EXPECT_EQ(head.extra_data, nonce);
  // A primary AK in the owner hierarchy signs as its qualified name, not its name.
  EXPECT_EQ(hex(head.qualified_signer), hex(tpm::primary_qualified_name(ak, tpm::kTpmRhOwner)));
  EXPECT_NE(head.qualified_signer, ak.name);

  write_text(dir_ / "ak.pem", tpm::public_key_pem(ak));
  write_bytes(dir_ / "attest", quote->attest);
  write_bytes(dir_ / "signature", quote->signature);
  write_bytes(dir_ / "pcrs", vigil::test::attest::tpm2_tools_pcr_file(*quote));
  const auto checkquote = [&](const std::string& nonce_hex, const std::string& pcrs) {
    return run({"tpm2_checkquote", "-u", dir_ / "ak.pem", "-m", dir_ / "attest", "-s", dir_ / "signature", "-f", pcrs,
                "-g", "sha256", "-q", nonce_hex},
               30);
  };
  auto verified = checkquote(hex(nonce), dir_ / "pcrs");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  // The same check fails with another nonce or another PCR 10 value: it is really checking.
  auto other_nonce = nonce;
  other_nonce[0] ^= 1;
  EXPECT_NE(checkquote(hex(other_nonce), dir_ / "pcrs").exit_code, 0);
  auto altered = *quote;
  altered.pcr_values[8].bytes[0] ^= 1;
  write_bytes(dir_ / "pcrs-altered", vigil::test::attest::tpm2_tools_pcr_file(altered));
  EXPECT_NE(checkquote(hex(nonce), dir_ / "pcrs-altered").exit_code, 0);
  EXPECT_EQ(transient_handles().find("0x80"), std::string::npos) << transient_handles();
}

TEST_F(TpmAttestation, QuoteLeavesOutMissingPcrsAndRefusesBadRequests) {
  SwtpmOptions options;
  options.with_ek = true;
  options.pcr_banks = "sha256";
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  tpm::PcrSelection selection;
  selection.pcrs = {0, 10, 23, 24, 31};  // swtpm has PCRs 0..23
  auto quote = tpm_->quote(std::vector<uint8_t>{1, 2, 3}, selection);
  ASSERT_TRUE(quote) << quote.error().message;
  EXPECT_EQ(quote->selection.pcrs, (std::vector<uint32_t>{0, 10, 23}));
  EXPECT_EQ(quote->pcr_values.size(), 3u);

  selection.bank = HashAlgo::sha1;  // not active in this TPM
  auto no_bank = tpm_->quote(std::vector<uint8_t>{1}, selection);
  ASSERT_FALSE(no_bank);
  EXPECT_NE(no_bank.error().message.find("no active sha1"), std::string::npos) << no_bank.error().message;
  selection.bank = HashAlgo::sha256;
  EXPECT_FALSE(tpm_->quote(std::vector<uint8_t>(65, 1), selection));  // nonce too long
  selection.pcrs = {10, 0};
  EXPECT_FALSE(tpm_->quote(std::vector<uint8_t>{1}, selection));  // not ascending
  selection.pcrs = {24, 30};
  EXPECT_FALSE(tpm_->quote(std::vector<uint8_t>{1}, selection));  // nothing left to quote
}

TEST_F(TpmAttestation, PcrBackendAttestationAndTpm2ToolsShareOneSwtpm) {
  SwtpmOptions options;
  options.with_ek = true;
  ASSERT_NO_FATAL_FAILURE(start(options));
  if (IsSkipped()) return;
  VIGIL_REQUIRE(have_program("tpm2_pcrread"), "needs tpm2-tools");
  auto backend = tpm::open_pcr_backend(swtpm_->tcti_spec());
  ASSERT_TRUE(backend) << backend.error().message;
  const auto ek = endorsement_key();
  const auto ak = attestation_key();
  auto replay = tpm::make_software_pcrs((*backend)->banks());

  constexpr int kExtends = 60;
  constexpr int kQuotes = 6;
  std::atomic<int> extend_failures = 0;
  std::atomic<bool> extending = true;
  const auto started = Clock::now();
  std::thread extender([&] {
    for (int i = 0; i < kExtends; ++i) {
      const auto digests = digests_for(**backend, "shared " + std::to_string(i));
      if (!(*backend)->extend(10, digests) || !replay->extend(10, digests)) ++extend_failures;
    }
    extending = false;
  });
  int quotes = 0;
  int activations = 0;
  std::string errors;
  for (int i = 0; i < kQuotes; ++i) {
    tpm::PcrSelection selection;
    selection.pcrs = kQuotedPcrs;
    auto quote = tpm_->quote(std::vector<uint8_t>{static_cast<uint8_t>(i)}, selection);
    if (quote) {
      ++quotes;
    } else {
      errors += quote.error().message + "\n";
    }
    const std::vector<uint8_t> secret(16, static_cast<uint8_t>(i));
    auto credential = tpm::make_credential(ek, ak.name, secret);
    if (credential) {
      auto recovered = tpm_->activate_credential(credential->credential_blob, credential->encrypted_secret);
      if (recovered && *recovered == secret) ++activations;
    }
  }
  extender.join();
  EXPECT_FALSE(extending.load());
  EXPECT_EQ(extend_failures.load(), 0);
  EXPECT_EQ(quotes, kQuotes) << errors;
  EXPECT_EQ(activations, kQuotes);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(60));

  // An outside client gets its turn too, and sees what vigil extended.
  auto tools = run({"tpm2_pcrread", "sha256:10", "-T", swtpm_->tcti_spec()}, 20);
  ASSERT_EQ(tools.exit_code, 0) << tools.err;
  EXPECT_FALSE(tools.timed_out);
  auto expected = replay->read(10, HashAlgo::sha256);
  ASSERT_TRUE(expected);
  std::string upper = expected->hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(tools.out.find(upper), std::string::npos) << tools.out;
  auto vigil_value = (*backend)->read(10, HashAlgo::sha256);
  ASSERT_TRUE(vigil_value);
  EXPECT_EQ(*vigil_value, *expected);
}

TEST(TpmAttestationSpec, SoftwarePcrsAndUnknownTctisCannotAttest) {
  auto none = tpm::open_attestation_tpm("none");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("cannot attest"), std::string::npos) << none.error().message;
  auto unknown = tpm::open_attestation_tpm("libfoo:bar");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown TCTI"), std::string::npos) << unknown.error().message;
  auto missing = tpm::open_attestation_tpm("device:/nonexistent/tpmrm9");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("device:/nonexistent/tpmrm9"), std::string::npos) << missing.error().message;
}
