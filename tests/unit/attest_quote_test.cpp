#include <gtest/gtest.h>

#include "attest/quote.h"
#include "attest_test_quotes.h"

namespace {

using namespace vigil;
using namespace vigil::test::attest;
using attest::QuoteProblem;

TEST(QuoteParse, ReadsEveryField) {
  SoftwareTpm tpm;
  const auto nonce = nonce_of(1);
  QuoteParts parts = tpm.quote_parts(nonce, quote_selection());
  parts.clock = 0x0102030405060708;
  parts.restart_count = 7;
  const auto info = attest::parse_quote_attest(marshal_attest(parts));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->qualified_signer, parts.qualified_signer);
  EXPECT_EQ(info->extra_data, nonce);
  EXPECT_EQ(info->clock, 0x0102030405060708u);
  EXPECT_EQ(info->reset_count, tpm.reset_count());
  EXPECT_EQ(info->restart_count, 7u);
  EXPECT_TRUE(info->safe);
  EXPECT_EQ(info->firmware_version, 0x2023u);
  ASSERT_EQ(info->selections.size(), 1u);
  EXPECT_EQ(info->selections[0].bank, crypto::HashAlgo::sha256);
  EXPECT_EQ(info->selections[0].pcrs, quote_selection().pcrs);
  EXPECT_EQ(info->pcr_digest, parts.pcr_digest);
}

TEST(QuoteParse, RefusesWrongMagicTypeAndTrailingBytes) {
  SoftwareTpm tpm;
  QuoteParts parts = tpm.quote_parts(nonce_of(1), quote_selection());
  parts.magic = 0xff544348;
  auto info = attest::parse_quote_attest(marshal_attest(parts));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("magic"), std::string::npos) << info.error().message;

  parts = tpm.quote_parts(nonce_of(1), quote_selection());
  parts.type = 0x8017;  // TPM_ST_ATTEST_CERTIFY
  info = attest::parse_quote_attest(marshal_attest(parts));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("8017"), std::string::npos) << info.error().message;

  auto bytes = marshal_attest(tpm.quote_parts(nonce_of(1), quote_selection()));
  bytes.push_back(0);
  info = attest::parse_quote_attest(bytes);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("1 bytes after"), std::string::npos) << info.error().message;
}

TEST(QuoteParse, EveryTruncationIsAnErrorNeverACrash) {
  SoftwareTpm tpm;
  const auto bytes = marshal_attest(tpm.quote_parts(nonce_of(1), quote_selection()));
  for (size_t size = 0; size < bytes.size(); ++size) {
    const auto info = attest::parse_quote_attest(std::span<const uint8_t>(bytes).first(size));
    EXPECT_FALSE(info) << "prefix of " << size << " bytes parsed";
  }
}

TEST(QuoteParse, RefusesOversizedSignerName) {
  SoftwareTpm tpm;
  QuoteParts parts = tpm.quote_parts(nonce_of(1), quote_selection());
  parts.qualified_signer.resize(67, 0xab);
  const auto info = attest::parse_quote_attest(marshal_attest(parts));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("qualifiedSigner"), std::string::npos) << info.error().message;
}

struct KeyCase {
  crypto::KeyAlgo key;
  crypto::HashAlgo hash;
};
class QuoteCheckKinds : public testing::TestWithParam<KeyCase> {};

TEST_P(QuoteCheckKinds, GoodQuoteVerifiesAndAlteredAttestDoesNot) {
  SoftwareTpm tpm(GetParam().key, GetParam().hash);
  const auto nonce = nonce_of(2);
  auto evidence = tpm.quote(nonce);
  const auto check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::none) << check.reason;
  EXPECT_TRUE(check.reason.empty());
  EXPECT_EQ(check.info.extra_data, nonce);

  // magic 4, type 2, signer 2+34, extraData 2+32: byte 80 is inside clock. Still parses, no
  // longer what was signed.
  evidence.attest[80] ^= 0x01;
  const auto altered = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(altered.problem, QuoteProblem::signature) << altered.reason;
  EXPECT_NE(altered.reason.find("does not verify"), std::string::npos) << altered.reason;
}

INSTANTIATE_TEST_SUITE_P(AkKinds, QuoteCheckKinds,
                         testing::Values(KeyCase{crypto::KeyAlgo::ecdsa_p256, crypto::HashAlgo::sha256},
                                         KeyCase{crypto::KeyAlgo::ecdsa_p384, crypto::HashAlgo::sha384},
                                         KeyCase{crypto::KeyAlgo::rsa2048, crypto::HashAlgo::sha256}));

TEST(QuoteCheck, MalformedAttestOrSignature) {
  SoftwareTpm tpm;
  const auto nonce = nonce_of(3);
  auto evidence = tpm.quote(nonce);
  evidence.attest.resize(10);
  auto check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::malformed);
  EXPECT_NE(check.reason.find("attest"), std::string::npos) << check.reason;

  evidence = tpm.quote(nonce);
  evidence.signature.resize(evidence.signature.size() - 1);
  check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::malformed);
  EXPECT_NE(check.reason.find("signature"), std::string::npos) << check.reason;

  evidence = tpm.quote(nonce);
  evidence.signature[0] = 0x00;
  evidence.signature[1] = 0x16;  // RSAPSS
  check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::malformed);
  EXPECT_NE(check.reason.find("RSAPSS"), std::string::npos) << check.reason;
}

TEST(QuoteCheck, QuoteFromAnotherTpmNamesBothSigners) {
  SoftwareTpm enrolled;
  SoftwareTpm other;
  const auto nonce = nonce_of(4);
  const auto check = attest::check_quote(enrolled.ak(), nonce, other.quote(nonce));
  EXPECT_EQ(check.problem, QuoteProblem::different_signer) << check.reason;
  EXPECT_NE(check.reason.find("quote signed by 000b"), std::string::npos) << check.reason;
  EXPECT_NE(check.reason.find("enrolled AK is 000b"), std::string::npos) << check.reason;
}

TEST(QuoteCheck, ForgedSignerNameStillNeedsTheSignature) {
  SoftwareTpm enrolled;
  SoftwareTpm other;
  const auto nonce = nonce_of(5);
  // Another key claims to be the enrolled AK: the name matches, the signature cannot.
  QuoteParts parts = other.quote_parts(nonce, quote_selection());
  parts.qualified_signer = owner_primary_qualified_name(enrolled.ak());
  const auto check = attest::check_quote(enrolled.ak(), nonce, other.evidence_for(parts, quote_selection()));
  EXPECT_EQ(check.problem, QuoteProblem::signature) << check.reason;
}

TEST(QuoteCheck, ReplayedQuoteNamesBothNonces) {
  SoftwareTpm tpm;
  const auto old_quote = tpm.quote(nonce_of(6));
  const auto check = attest::check_quote(tpm.ak(), nonce_of(7), old_quote);
  EXPECT_EQ(check.problem, QuoteProblem::nonce) << check.reason;
  auto hex8 = [](const std::vector<uint8_t>& bytes) {
    crypto::Digest digest;
    digest.size = 8;
    std::copy_n(bytes.begin(), 8, digest.bytes.begin());
    return digest.hex();
  };
  EXPECT_NE(check.reason.find("quote answers nonce " + hex8(nonce_of(6)) + "..."), std::string::npos) << check.reason;
  EXPECT_NE(check.reason.find("this round's is " + hex8(nonce_of(7)) + "..."), std::string::npos) << check.reason;
}

TEST(QuoteCheck, ReportedSelectionMustBeTheQuotedOne) {
  SoftwareTpm tpm;
  const auto nonce = nonce_of(8);
  tpm::PcrSelection fewer = {crypto::HashAlgo::sha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  auto evidence = tpm.evidence_for(tpm.quote_parts(nonce, fewer), quote_selection());
  auto check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::selection) << check.reason;
  EXPECT_NE(check.reason.find("sha256:0,1,2,3,4,5,6,7,10"), std::string::npos) << check.reason;

  evidence = tpm.evidence_for(tpm.quote_parts(nonce, quote_selection()), quote_selection());
  evidence.selection.bank = crypto::HashAlgo::sha384;
  check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::selection) << check.reason;
}

TEST(QuoteCheck, ReportedPcrValuesMustHashToTheQuotedDigest) {
  SoftwareTpm tpm;
  const auto nonce = nonce_of(9);
  auto evidence = tpm.quote(nonce);
  evidence.pcr_values.back().bytes[0] ^= 0x80;  // PCR 10 read differently from what was quoted
  auto check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::pcr_digest) << check.reason;
  EXPECT_NE(check.reason.find("hash to"), std::string::npos) << check.reason;

  evidence = tpm.quote(nonce);
  evidence.pcr_values.pop_back();
  check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::pcr_digest) << check.reason;

  evidence = tpm.quote(nonce);
  evidence.pcr_values[0].size = 20;
  check = attest::check_quote(tpm.ak(), nonce, evidence);
  EXPECT_EQ(check.problem, QuoteProblem::pcr_digest) << check.reason;
}

TEST(QuoteCheck, ExtendAfterTheQuoteIsCaughtByTheDigest) {
  SoftwareTpm tpm;
  const auto nonce = nonce_of(10);
  const QuoteParts parts = tpm.quote_parts(nonce, quote_selection());
  tpm.extend(10, hash_of(crypto::HashAlgo::sha256, bytes_of("later")));
  const auto check = attest::check_quote(tpm.ak(), nonce, tpm.evidence_for(parts, quote_selection()));
  EXPECT_EQ(check.problem, QuoteProblem::pcr_digest) << check.reason;
}

}  // namespace
