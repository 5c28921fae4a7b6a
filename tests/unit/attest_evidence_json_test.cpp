#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "attest/evidence_json.h"
#include "attest_test_quotes.h"

namespace {

using namespace vigil;
using namespace vigil::test::attest;

std::vector<uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(attest::base64_encode(bytes(plain)), encoded);
    auto decoded = attest::base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, bytes(plain));
  }
  std::vector<uint8_t> all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  auto decoded = attest::base64_decode(attest::base64_encode(all));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, all);
}

TEST(Base64, StrictAboutEverythingElse) {
  for (std::string_view bad : {"Zg=", "Zg", "Zm9v\n", " Zm9v", "Zm9v====", "Z===", "Zh==", "Zm9=", "Zg==Zg==",
                               "Zm-v", "Zm_v", "=m9v", "Zm=v"}) {
    EXPECT_FALSE(attest::base64_decode(bad)) << "accepted \"" << bad << "\"";
  }
}

TEST(ProtocolJson, SmallBodiesRoundTrip) {
  attest::EnrollRequest enroll{{1, 2, 3}, {4, 5}, std::vector<uint8_t>{0x30, 0x82}};
  auto enroll_back = attest::parse_enroll_request(attest::to_json(enroll));
  ASSERT_TRUE(enroll_back) << enroll_back.error().message;
  EXPECT_EQ(enroll_back->ek_public, enroll.ek_public);
  EXPECT_EQ(enroll_back->ak_public, enroll.ak_public);
  EXPECT_EQ(enroll_back->ek_certificate, enroll.ek_certificate);
  enroll.ek_certificate.reset();
  enroll_back = attest::parse_enroll_request(attest::to_json(enroll));
  ASSERT_TRUE(enroll_back);
  EXPECT_FALSE(enroll_back->ek_certificate);

  const attest::EnrollChallenge challenge{{9, 8, 7}, {6}};
  auto challenge_back = attest::parse_enroll_challenge(attest::to_json(challenge));
  ASSERT_TRUE(challenge_back) << challenge_back.error().message;
  EXPECT_EQ(challenge_back->credential_blob, challenge.credential_blob);
  EXPECT_EQ(challenge_back->encrypted_secret, challenge.encrypted_secret);

  const attest::ActivateRequest activate{std::vector<uint8_t>(32, 0xaa)};
  auto activate_back = attest::parse_activate_request(attest::to_json(activate));
  ASSERT_TRUE(activate_back) << activate_back.error().message;
  EXPECT_EQ(activate_back->secret, activate.secret);

  attest::RoundChallenge round;
  round.nonce = nonce_of(1);
  round.list_start = 1234567890123ull;
  round.selection = quote_selection();
  round.interval_ms = 2500;
  const std::string text = attest::to_json(round);
  auto round_back = attest::parse_round_challenge(text);
  ASSERT_TRUE(round_back) << round_back.error().message;
  EXPECT_EQ(round_back->nonce, round.nonce);
  EXPECT_EQ(round_back->list_start, round.list_start);
  EXPECT_EQ(round_back->selection.bank, round.selection.bank);
  EXPECT_EQ(round_back->selection.pcrs, round.selection.pcrs);
  EXPECT_EQ(round_back->interval_ms, 2500u);
  const auto document = nlohmann::json::parse(text);
  EXPECT_EQ(document["bank"], "sha256");
  EXPECT_EQ(document["nonce"].get<std::string>().size(), 64u);  // nonces are hex
}

TEST(ProtocolJson, EvidenceRoundTripsAndStillAppraises) {
  SoftwareTpm tpm;
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  list.record(tpm, file_entry("/usr/bin/a", "a"));
  list.record(tpm, file_entry("/usr/bin/b", "b", crypto::HashAlgo::sm3));
  list.record(tpm, violation_entry("/tmp/x"));
  const auto nonce = nonce_of(2);
  const auto evidence = round_evidence(tpm, nonce, list, 0);

  const std::string text = attest::to_json(evidence);
  auto parsed = attest::parse_round_evidence(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->quote.attest, evidence.quote.attest);
  EXPECT_EQ(parsed->quote.signature, evidence.quote.signature);
  EXPECT_EQ(parsed->quote.selection.pcrs, evidence.quote.selection.pcrs);
  EXPECT_EQ(parsed->quote.pcr_values, evidence.quote.pcr_values);
  EXPECT_EQ(parsed->list_start, 0u);
  EXPECT_EQ(parsed->entries, evidence.entries);
  std::string nonce_hex;
  for (const uint8_t byte : nonce) {
    static constexpr char kDigits[] = "0123456789abcdef";
    nonce_hex += kDigits[byte >> 4];
    nonce_hex += kDigits[byte & 15];
  }
  EXPECT_EQ(nlohmann::json::parse(text)["nonce"], nonce_hex);  // repeated from the attest, for readers

  auto policy = attest::generate_from_measurements(list.entries);
  policy.exclude_globs = {"/tmp/*"};
  const auto result = attest::appraise_round(tpm.ak(), nonce, attest::initial_progress(), *parsed, policy);
  EXPECT_EQ(result.verdict, attest::Verdict::trusted) << result.reason;
  EXPECT_EQ(result.progress.entries_verified, 4u);

  const auto result_json = nlohmann::json::parse(attest::to_json(result));
  EXPECT_EQ(result_json["verdict"], "trusted");
  EXPECT_EQ(result_json["kind"], "none");
  EXPECT_EQ(result_json["entries_verified"], 4);
  EXPECT_EQ(result_json["failing_entry"], -1);
}

TEST(ProtocolJson, RejectsMalformedBodiesWithAReason) {
  SoftwareTpm tpm;
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  list.record(tpm, file_entry("/usr/bin/a", "a"));
  const auto good = nlohmann::json::parse(attest::to_json(round_evidence(tpm, nonce_of(3), list, 0)));

  auto expect_error = [](const nlohmann::json& document, std::string_view needle) {
    const auto parsed = attest::parse_round_evidence(document.dump());
    ASSERT_FALSE(parsed) << "accepted: " << document.dump().substr(0, 200);
    EXPECT_NE(parsed.error().message.find(needle), std::string::npos) << parsed.error().message;
  };
  auto with = [&](const char* field, nlohmann::json value) {
    auto copy = good;
    copy[field] = std::move(value);
    return copy;
  };
  auto without = [&](const char* field) {
    auto copy = good;
    copy.erase(field);
    return copy;
  };
  expect_error(without("attest"), "\"attest\" is missing");
  expect_error(with("attest", 5), "\"attest\" must be a string, not number");
  expect_error(with("attest", "not base64!"), "\"attest\"");
  expect_error(with("attest", attest::base64_encode(std::vector<uint8_t>(64 * 1024 + 1))), "longer than 65536");
  expect_error(with("signature", std::string(90000, 'A')), "longer than 65536");
  expect_error(with("bank", "sha9"), "\"bank\"");
  expect_error(with("pcrs", {10, 0}), "ascending");
  expect_error(with("pcrs", {0, 24}), "0-23");
  expect_error(with("pcrs", {-1}), "0-23");
  expect_error(with("pcr_values", {"00"}), "one hex value per PCR");
  auto short_value = good;
  short_value["pcr_values"][0] = "abcd";
  expect_error(short_value, "64 hex digits");
  expect_error(with("list_start", -4), "must not be negative");
  expect_error(with("list_start", "4"), "unsigned integer");
  expect_error(with("nonce", "xyz"), "\"nonce\" is not hex");

  // A record whose template hash does not match its fields.
  auto records = attest::base64_decode(good["entries"].get<std::string>());
  ASSERT_TRUE(records);
  (*records)[8] ^= 1;  // inside the first record's SHA-1 template hash
  expect_error(with("entries", attest::base64_encode(*records)), "template hash mismatch");

  auto syntax = attest::parse_round_evidence("{\"attest\": \"AAAA\",, }");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("JSON syntax error at byte 18"), std::string::npos) << syntax.error().message;
  EXPECT_FALSE(attest::parse_round_evidence("[]"));
  EXPECT_FALSE(attest::parse_round_evidence(""));

  EXPECT_FALSE(attest::parse_activate_request(R"({"secret": ")" + attest::base64_encode(std::vector<uint8_t>(65)) + "\"}"));
  EXPECT_FALSE(attest::parse_round_challenge(R"({"nonce": "", "list_start": 0, "bank": "sha256", "pcrs": [], "interval_ms": 1})"));
  EXPECT_FALSE(attest::parse_round_challenge(
      R"({"nonce": "00", "list_start": 0, "bank": "sha256", "pcrs": [], "interval_ms": 4294967296})"));
  EXPECT_FALSE(attest::parse_enroll_request(R"({"ek_public": "AAAA"})"));
  EXPECT_FALSE(attest::parse_enroll_challenge(R"({"credential_blob": null, "encrypted_secret": "AAAA"})"));
}

TEST(ProtocolJson, CapsTheNumberOfEntries) {
  // 100,001 records of the smallest kind the kernel writes still fit 64 MiB: the count cap holds.
  ima::MeasurementEntry entry = file_entry("/a", "a");
  const auto record = ima::binary_record(entry);
  std::vector<uint8_t> records;
  records.reserve(record.size() * 100001);
  for (int i = 0; i < 100001; ++i) records.insert(records.end(), record.begin(), record.end());
  SoftwareTpm tpm;
  auto document = nlohmann::json::parse(attest::to_json(round_evidence(tpm, nonce_of(4), MeasuredList{}, 0)));
  document["entries"] = attest::base64_encode(records);
  const auto parsed = attest::parse_round_evidence(document.dump());
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("more than 100000"), std::string::npos) << parsed.error().message;
}

}  // namespace
