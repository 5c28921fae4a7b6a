#include <gtest/gtest.h>

#include "ima/ima.h"

using namespace vigil;
using namespace vigil::ima;

namespace {

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Written by `evmctl ima_sign --hashalgo sm3` (ima-evm-utils 1.4) for "hello\n" with an SM2 key.
constexpr std::string_view kEvmctlSm2Signature =
    "030211db3f648f0047304502200101a263dfebf68ce5e0fda93da6c9c0b3dfb6f6ff17e61114b7f98e3a8d7886022100d409b9241658f61"
    "644f2d6c8195393bea60325d40093778fc31af1fadb580ddf";
// Written by `evmctl ima_hash --hashalgo sm3` for "hello\n".
constexpr std::string_view kEvmctlSm3Digest = "0411f7a87a195b0cc0052b9d598482212ceb07e4ea60e8d139a5dfeff36c24abf2b3";

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto parsed = parse_ima_xattr(bytes);
  return parsed ? std::string("parsed") : parsed.error().message;
}

}  // namespace

TEST(XattrFormat, ParsesEvmctlSignature) {
  const auto bytes = from_hex(kEvmctlSm2Signature);
  auto parsed = parse_ima_xattr(bytes);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& signature = std::get<SignatureV2>(*parsed);
  EXPECT_EQ(signature.algo, HashAlgo::sm3);
  EXPECT_EQ(signature.keyid, 0xdb3f648fu);
  EXPECT_EQ(signature.signature.size(), 0x47u);
  EXPECT_EQ(signature.signature.data(), bytes.data() + 9);
}

TEST(XattrFormat, EncodesSignatureByteForByte) {
  const auto bytes = from_hex(kEvmctlSm2Signature);
  auto encoded = encode_signature_v2(HashAlgo::sm3, 0xdb3f648f, std::span(bytes).subspan(9));
  ASSERT_TRUE(encoded);
  EXPECT_EQ(*encoded, bytes);
}

TEST(XattrFormat, ParsesAndEncodesEvmctlDigest) {
  const auto bytes = from_hex(kEvmctlSm3Digest);
  auto parsed = parse_ima_xattr(bytes);
  ASSERT_TRUE(parsed);
  const auto& value = std::get<DigestValue>(*parsed);
  EXPECT_EQ(value.algo, HashAlgo::sm3);
  crypto::Digest digest;
  digest.algo = HashAlgo::sm3;
  digest.size = 32;
  std::copy(value.digest.begin(), value.digest.end(), digest.bytes.begin());
  EXPECT_EQ(encode_digest(digest), bytes);
}

TEST(XattrFormat, Sha1DigestUsesLegacyType) {
  crypto::Digest digest;
  digest.algo = HashAlgo::sha1;
  digest.size = 20;
  digest.bytes.fill(0xab);
  const auto value = encode_digest(digest);
  ASSERT_EQ(value.size(), 21u);
  EXPECT_EQ(value[0], 0x01);
  auto parsed = parse_ima_xattr(value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<DigestValue>(*parsed).algo, HashAlgo::sha1);
}

TEST(XattrFormat, RejectsEveryMalformationWithItsReason) {
  auto signature = from_hex(kEvmctlSm2Signature);
  EXPECT_EQ(parse_error({}), "empty value");
  EXPECT_NE(parse_error({0x03, 0x02, 0x11, 0xdb, 0x3f}).find("truncated"), std::string::npos);
  EXPECT_NE(parse_error({0x03}).find("truncated"), std::string::npos);

  auto short_by_one = signature;
  short_by_one.pop_back();
  EXPECT_NE(parse_error(short_by_one).find("says 71 bytes but 70 follow"), std::string::npos);

  auto extra = signature;
  extra.push_back(0);
  EXPECT_NE(parse_error(extra).find("says 71 bytes but 72 follow"), std::string::npos);

  auto unknown_hash = signature;
  unknown_hash[2] = 99;
  EXPECT_EQ(parse_error(unknown_hash), "unknown hash algorithm 99");

  auto version1 = signature;
  version1[1] = 1;
  EXPECT_NE(parse_error(version1).find("version 1"), std::string::npos);
  auto version3 = signature;
  version3[1] = 3;
  EXPECT_NE(parse_error(version3).find("version 3"), std::string::npos);

  EXPECT_EQ(parse_error({0x03, 0x02, 0x04, 1, 2, 3, 4, 0, 0}), "signature length is zero");
  EXPECT_NE(parse_error({0x02, 1, 2, 3}).find("EVM HMAC"), std::string::npos);
  EXPECT_NE(parse_error({0x05, 1}).find("portable"), std::string::npos);
  EXPECT_NE(parse_error({0x06, 1}).find("fs-verity"), std::string::npos);
  EXPECT_EQ(parse_error({0x7f, 1}), "unknown xattr type 0x7f");

  auto digest = from_hex(kEvmctlSm3Digest);
  digest.pop_back();
  EXPECT_EQ(parse_error(digest), "sm3 digest must be 32 bytes, found 31");
  EXPECT_NE(parse_error({0x04}).find("no hash algorithm"), std::string::npos);
  EXPECT_NE(parse_error({0x01, 1, 2, 3}).find("legacy digest"), std::string::npos);
}

TEST(XattrFormat, RejectsSignaturesThatDoNotFitTheHeader) {
  std::vector<uint8_t> huge(70000, 1);
  EXPECT_FALSE(encode_signature_v2(HashAlgo::sha256, 1, huge));
  EXPECT_FALSE(encode_signature_v2(HashAlgo::sha256, 1, {}));
}

TEST(XattrFormat, KeyIdHex) { EXPECT_EQ(keyid_hex(0x00ab12ff), "00ab12ff"); }
