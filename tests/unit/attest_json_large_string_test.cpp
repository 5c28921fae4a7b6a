// The evidence body's entries are found without the DOM parser (src/attest/json_large_string.h);
// whatever the shortcut cannot vouch for goes the slow way, with the same result.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "attest/evidence_json.h"
#include "attest/json_large_string.h"
#include "attest_test_quotes.h"

namespace {

using namespace vigil;
using namespace vigil::test::attest;
using vigil::attest::json_text::plain_top_level_string;

std::string contents(std::string_view document, std::string_view key) {
  const auto span = plain_top_level_string(document, key);
  return span ? std::string(document.substr(span->begin, span->end - span->begin)) : "(none)";
}

TEST(JsonLargeString, FindsOnlyAnUnescapedTopLevelStringMember) {
  EXPECT_EQ(contents(R"({"a":1,"entries":"QUJD","b":[1,{"entries":"x"}]})", "entries"), "QUJD");
  EXPECT_EQ(contents(" {\n \"entries\" : \"\" } \n", "entries"), "");
  EXPECT_EQ(contents(R"({"x":{"entries":"QUJD"}})", "entries"), "(none)") << "nested, not top level";
  EXPECT_EQ(contents(R"({"x":["entries","QUJD"]})", "entries"), "(none)") << "inside an array";
  EXPECT_EQ(contents(R"({"a":"entries","entries":"QQ=="})", "entries"), "QQ==") << "a value that looks like the key";
  EXPECT_EQ(contents(R"({"entries":5})", "entries"), "(none)") << "not a string";
  EXPECT_EQ(contents(R"({"entries":{"a":"b"}})", "entries"), "(none)");
  EXPECT_EQ(contents(R"({"entries":"QQ\/=="})", "entries"), "(none)") << "an escape: the DOM parser decodes it";
  EXPECT_EQ(contents(R"({"entr\u0069es":"QQ==","entries":"Qg=="})", "entries"), "(none)") << "an escaped key";
  EXPECT_EQ(contents(R"({"entries":"QQ==","entries":"Qg=="})", "entries"), "(none)") << "duplicates";
  EXPECT_EQ(contents(R"({"s":"a\"b","entries":"QQ=="})", "entries"), "QQ==") << "escaped quote in another string";
  EXPECT_EQ(contents(R"({"entries":"QQ=="} x)", "entries"), "(none)") << "bytes after the root";
  EXPECT_EQ(contents(R"({"entries":"QQ==")", "entries"), "(none)") << "unterminated object";
  EXPECT_EQ(contents(R"({"entries":"QQ==)", "entries"), "(none)") << "unterminated string";
  EXPECT_EQ(contents(R"(["entries","QQ=="])", "entries"), "(none)") << "root is not an object";
  EXPECT_EQ(contents(R"({"entries" "QQ=="})", "entries"), "(none)");
  EXPECT_EQ(contents("", "entries"), "(none)");
}

TEST(JsonLargeString, EvidenceParsesTheSameEitherWay) {
  SoftwareTpm tpm;
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  for (int i = 0; i < 40; ++i) list.record(tpm, file_entry("/usr/bin/tool" + std::to_string(i), std::to_string(i)));
  const auto evidence = round_evidence(tpm, nonce_of(4), list, 0);
  const std::string fast = attest::to_json(evidence);
  ASSERT_TRUE(plain_top_level_string(fast, "entries")) << "what vigil sends takes the shortcut";
  // The same document as another writer may send it: every '/' escaped, which the shortcut
  // leaves to the DOM parser.
  std::string slow;
  for (const char c : fast) {
    if (c == '/') slow += '\\';
    slow += c;
  }
  ASSERT_FALSE(plain_top_level_string(slow, "entries"));
  auto from_fast = attest::parse_round_evidence(fast);
  auto from_slow = attest::parse_round_evidence(slow);
  ASSERT_TRUE(from_fast) << from_fast.error().message;
  ASSERT_TRUE(from_slow) << from_slow.error().message;
  EXPECT_EQ(from_fast->entries, evidence.entries);
  EXPECT_EQ(from_slow->entries, evidence.entries);
  EXPECT_EQ(from_fast->quote.attest, from_slow->quote.attest);

  // Errors in the entries are reported the same on the shortcut.
  auto broken = nlohmann::json::parse(fast);
  broken["entries"] = "not base64!";
  auto refused = attest::parse_round_evidence(broken.dump());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("\"entries\""), std::string::npos) << refused.error().message;
  // The rest of the document is still checked in full.
  broken = nlohmann::json::parse(fast);
  broken.erase("attest");
  EXPECT_FALSE(attest::parse_round_evidence(broken.dump()));
}

}  // namespace
