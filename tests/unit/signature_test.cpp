#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "ima/ima.h"

using namespace vigil::crypto;

namespace {

Digest digest_of(HashAlgo algo, std::string_view text) {
  Hasher hasher;
  auto digest = hasher.of_bytes(algo, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_TRUE(digest);
  return *digest;
}

struct Case {
  KeyAlgo key;
  HashAlgo hash;
};

class SignatureRoundTrip : public testing::TestWithParam<Case> {};

}  // namespace

TEST_P(SignatureRoundTrip, ValidWrongDigestAndCorruptAreTold) {
  auto key = generate_key(GetParam().key);
  ASSERT_TRUE(key) << key.error().message;
  const Digest signed_digest = digest_of(GetParam().hash, "content v1");
  auto signature = sign_digest(*key, signed_digest);
  ASSERT_TRUE(signature) << signature.error().message;

  EXPECT_EQ(verify_digest(*key, signed_digest, *signature), SignatureCheck::valid);
  EXPECT_EQ(verify_digest(*key, digest_of(GetParam().hash, "content v2"), *signature), SignatureCheck::wrong_digest);

  auto truncated = *signature;
  truncated.pop_back();
  EXPECT_EQ(verify_digest(*key, signed_digest, truncated), SignatureCheck::corrupt);
  auto garbage = *signature;
  std::fill(garbage.begin(), garbage.begin() + 4, 0xff);
  EXPECT_EQ(verify_digest(*key, signed_digest, garbage), SignatureCheck::corrupt);
  EXPECT_EQ(verify_digest(*key, signed_digest, {}), SignatureCheck::corrupt);

  // Another key of the same kind never accepts it.
  auto other = generate_key(GetParam().key);
  ASSERT_TRUE(other);
  EXPECT_NE(verify_digest(*other, signed_digest, *signature), SignatureCheck::valid);
}

INSTANTIATE_TEST_SUITE_P(AllKeyKinds, SignatureRoundTrip,
                         testing::Values(Case{KeyAlgo::sm2, HashAlgo::sm3}, Case{KeyAlgo::ecdsa_p256, HashAlgo::sha256},
                                         Case{KeyAlgo::ecdsa_p384, HashAlgo::sha384},
                                         Case{KeyAlgo::rsa2048, HashAlgo::sha256},
                                         Case{KeyAlgo::rsa2048, HashAlgo::sha512},
                                         Case{KeyAlgo::ecdsa_p256, HashAlgo::sm3}));

TEST(Signature, Sm2SignsOnlySm3) {
  auto key = generate_key(KeyAlgo::sm2);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->type(), KeyType::sm2);
  auto signature = sign_digest(*key, digest_of(HashAlgo::sha256, "x"));
  ASSERT_FALSE(signature);
  EXPECT_NE(signature.error().message.find("SM3"), std::string::npos);
}

TEST(Signature, RsaSignatureIsPkcs1OverDigestInfo) {
  auto key = generate_key(KeyAlgo::rsa2048);
  ASSERT_TRUE(key);
  auto signature = sign_digest(*key, digest_of(HashAlgo::sha256, "x"));
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature->size(), 256u);
}

TEST(Signature, KeyIdFromPublicKeyIsSha1BytesSixteenToNineteen) {
  auto key = generate_key(KeyAlgo::ecdsa_p256);
  ASSERT_TRUE(key);
  auto bits = key->public_key_bits();
  ASSERT_TRUE(bits);
  EXPECT_EQ(bits->size(), 65u);  // uncompressed point
  EXPECT_EQ((*bits)[0], 0x04);
  const Digest sha1 = digest_of(HashAlgo::sha1, std::string_view(reinterpret_cast<const char*>(bits->data()), bits->size()));
  const uint32_t expected = (uint32_t{sha1.bytes[16]} << 24) | (uint32_t{sha1.bytes[17]} << 16) |
                            (uint32_t{sha1.bytes[18]} << 8) | sha1.bytes[19];
  auto keyid = vigil::ima::keyid_from_public_key(*key);
  ASSERT_TRUE(keyid);
  EXPECT_EQ(*keyid, expected);
}
