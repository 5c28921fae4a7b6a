// TPM2B_PUBLIC parsing, names, the AK/EK rules and MakeCredential in software, against public
// areas a swtpm made and a credential tpm2-tools made (tests/data/tpm/README.md).
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <array>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "tpm/kdfa.h"
#include "tpm/tpm_bytes.h"
#include "tpm/tpm_public.h"

using namespace vigil;

namespace {

std::string data_path(const std::string& name) { return std::string(VIGIL_SOURCE_DIR) + "/tests/data/tpm/" + name; }

std::vector<uint8_t> read_bytes(const std::string& name) {
  std::ifstream in(data_path(name), std::ios::binary);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_string(const std::string& name) {
  const auto bytes = read_bytes(name);
  return {bytes.begin(), bytes.end()};
}

std::string hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (uint8_t byte : bytes) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 15];
  }
  return text;
}

tpm::TpmPublic parse_file(const std::string& name) {
  auto parsed = tpm::parse_tpm_public(read_bytes(name));
  EXPECT_TRUE(parsed) << name << ": " << parsed.error().message;
  return std::move(parsed.value());
}

// The AK with its TPMA_OBJECT replaced (bytes 6..9 of the TPM2B_PUBLIC).
std::vector<uint8_t> ak_with_attributes(uint32_t attributes) {
  auto bytes = read_bytes("ak_ecc_p256.pub");
  for (int i = 0; i < 4; ++i) bytes[6 + i] = static_cast<uint8_t>(attributes >> (24 - 8 * i));
  return bytes;
}

constexpr uint32_t kAkAttributes = 0x00050072;  // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign

// TPM2_ActivateCredential done in software with the EK's private key, written from the spec
// independently of make_credential: checks the outer HMAC, then decrypts the identity.
Result<std::vector<uint8_t>> software_activate(const crypto::Key& ek_private, std::span<const uint8_t> object_name,
                                               std::span<const uint8_t> credential_blob,
                                               std::span<const uint8_t> encrypted_secret) {
  tpm::ByteReader secret_reader(encrypted_secret);
  auto encrypted_seed = secret_reader.sized("encrypted secret");
  if (!encrypted_seed || !secret_reader.at_end()) return fail("bad TPM2B_ENCRYPTED_SECRET");

  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(
      EVP_PKEY_CTX_new_from_pkey(nullptr, ek_private.get(), nullptr), &EVP_PKEY_CTX_free);
  static constexpr char kLabel[] = "IDENTITY";
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!context || EVP_PKEY_decrypt_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(context.get(), label, sizeof kLabel) != 1) {
    return fail("OAEP setup");
  }
  std::vector<uint8_t> seed(512);
  size_t seed_size = seed.size();
  if (EVP_PKEY_decrypt(context.get(), seed.data(), &seed_size, encrypted_seed->data(), encrypted_seed->size()) != 1) {
    return fail("OAEP decryption failed");
  }
  seed.resize(seed_size);
  if (seed.size() != 32) return fail("seed is not 32 bytes");

  tpm::ByteReader blob_reader(credential_blob);
  auto id_object = blob_reader.sized("credential blob");
  if (!id_object || !blob_reader.at_end()) return fail("bad TPM2B_ID_OBJECT");
  tpm::ByteReader id_reader(*id_object);
  auto integrity = id_reader.sized("integrity HMAC");
  if (!integrity) return fail("bad integrity HMAC");
  auto enc_identity = id_reader.bytes(id_reader.remaining(), "encIdentity");

  auto hmac_key = tpm::kdfa(crypto::HashAlgo::sha256, seed, "INTEGRITY", {}, {}, 256);
  std::vector<uint8_t> hmac_input(enc_identity->begin(), enc_identity->end());
  hmac_input.insert(hmac_input.end(), object_name.begin(), object_name.end());
  auto expected_hmac = tpm::hmac(crypto::HashAlgo::sha256, *hmac_key, hmac_input);
  if (!std::equal(integrity->begin(), integrity->end(), expected_hmac->begin(), expected_hmac->end())) {
    return fail("integrity HMAC does not match");
  }

  auto sym_key = tpm::kdfa(crypto::HashAlgo::sha256, seed, "STORAGE", object_name, {}, 128);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> cipher(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  const std::array<uint8_t, 16> iv{};
  std::vector<uint8_t> plain(enc_identity->size());
  int written = 0;
  if (EVP_DecryptInit_ex(cipher.get(), EVP_aes_128_cfb128(), nullptr, sym_key->data(), iv.data()) != 1 ||
      EVP_DecryptUpdate(cipher.get(), plain.data(), &written, enc_identity->data(),
                        static_cast<int>(enc_identity->size())) != 1) {
    return fail("AES-CFB decryption failed");
  }
  tpm::ByteReader identity(plain);
  auto secret = identity.sized("credential");
  if (!secret || !identity.at_end()) return fail("decrypted identity is not a TPM2B_DIGEST");
  return std::vector<uint8_t>(secret->begin(), secret->end());
}

}  // namespace

TEST(TpmPublic, ParsesSwtpmAttestationKey) {
  const auto ak = parse_file("ak_ecc_p256.pub");
  EXPECT_EQ(ak.kind, tpm::TpmKeyKind::ecc);
  EXPECT_EQ(ak.name_alg, crypto::HashAlgo::sha256);
  EXPECT_EQ(ak.object_attributes, kAkAttributes);
  EXPECT_EQ(ak.curve, 0x0003);
  EXPECT_EQ(ak.key_bits, 256);
  EXPECT_EQ(ak.scheme, 0x0018);       // ECDSA
  EXPECT_EQ(ak.scheme_hash, 0x000b);  // SHA-256
  EXPECT_EQ(ak.symmetric.algorithm, tpm::kTpmAlgNull);
  EXPECT_TRUE(ak.sign());
  EXPECT_TRUE(ak.restricted());
  EXPECT_TRUE(ak.fixed_tpm());
  EXPECT_TRUE(ak.fixed_parent());
  EXPECT_FALSE(ak.decrypt());
  EXPECT_EQ(ak.marshalled, read_bytes("ak_ecc_p256.pub"));
  // tpm2_readpublic's name and, for this primary in the owner hierarchy, its qualified name.
  EXPECT_EQ(hex(ak.name), "000b43e0d603d5c21f64ac866c61b02553d840cd282ab9e36137a56ec729259bc038");
  EXPECT_EQ(hex(tpm::primary_qualified_name(ak, tpm::kTpmRhOwner)),
            "000b3c4fbc57234b6abea3b46a9f0cf1ff1a4c296d20b93883e13f2a7113f04ef15b");
  EXPECT_EQ(tpm::public_key_pem(ak), read_string("ak_ecc_p256.pem"));
  auto from_pem = crypto::Key::load_public(data_path("ak_ecc_p256.pem"));
  ASSERT_TRUE(from_pem) << from_pem.error().message;
  EXPECT_TRUE(from_pem->same_public_key(ak.key));
  EXPECT_EQ(ak.key.type(), crypto::KeyType::ecdsa);
  EXPECT_EQ(ak.describe(), "ECC P-256 restricted sign (AK)");
  EXPECT_TRUE(tpm::check_attestation_key(ak));
  auto as_ek = tpm::check_endorsement_key(ak);
  ASSERT_FALSE(as_ek);
  EXPECT_NE(as_ek.error().message.find("not a decryption key"), std::string::npos) << as_ek.error().message;
}

TEST(TpmPublic, ParsesSwtpmRsaEndorsementKey) {
  const auto ek = parse_file("ek_rsa2048.pub");
  EXPECT_EQ(ek.kind, tpm::TpmKeyKind::rsa);
  EXPECT_EQ(ek.key_bits, 2048);
  EXPECT_EQ(ek.object_attributes, 0x000300b2u);
  EXPECT_EQ(ek.symmetric.algorithm, tpm::kTpmAlgAes);
  EXPECT_EQ(ek.symmetric.key_bits, 128);
  EXPECT_EQ(ek.symmetric.mode, tpm::kTpmAlgCfb);
  EXPECT_EQ(hex(ek.name), "000bc8d16855cfa9ad5372e79854c1d7ba406089699489f7069867e97e846ace7782");
  EXPECT_EQ(tpm::public_key_pem(ek), read_string("ek_rsa2048.pem"));
  EXPECT_EQ(ek.describe(), "RSA 2048 restricted decrypt (EK)");
  EXPECT_TRUE(tpm::check_endorsement_key(ek));
  auto as_ak = tpm::check_attestation_key(ek);
  ASSERT_FALSE(as_ak);
  EXPECT_NE(as_ak.error().message.find("not a signing key"), std::string::npos) << as_ak.error().message;
}

TEST(TpmPublic, ParsesP384EndorsementKeyButRefusesItForCredentials) {
  const auto ek = parse_file("ek_ecc_p384.pub");
  EXPECT_EQ(ek.kind, tpm::TpmKeyKind::ecc);
  EXPECT_EQ(ek.name_alg, crypto::HashAlgo::sha384);
  EXPECT_EQ(ek.curve, 0x0004);
  EXPECT_EQ(hex(ek.name),
            "000cf75d82016e0c7643ed1807adb63ea6881cf114bcfa798fc5a0f03ffbc8dbcd88d5364d3a3b98c3ddf443bb18a82e62c5");
  EXPECT_EQ(tpm::public_key_pem(ek), read_string("ek_ecc_p384.pem"));
  EXPECT_EQ(ek.describe(), "ECC P-384 restricted decrypt");
  auto usable = tpm::check_endorsement_key(ek);
  ASSERT_FALSE(usable);
  EXPECT_NE(usable.error().message.find("ECC endorsement keys are not supported"), std::string::npos)
      << usable.error().message;
  const std::vector<uint8_t> secret(16, 1);
  EXPECT_FALSE(tpm::make_credential(ek, parse_file("ak_ecc_p256.pub").name, secret));
}

TEST(TpmPublic, EveryTruncationIsAnError) {
  for (const char* file : {"ak_ecc_p256.pub", "ek_rsa2048.pub", "ek_ecc_p384.pub"}) {
    const auto bytes = read_bytes(file);
    for (size_t length = 0; length < bytes.size(); ++length) {
      auto parsed = tpm::parse_tpm_public(std::span(bytes).first(length));
      ASSERT_FALSE(parsed) << file << " cut to " << length;
      EXPECT_EQ(parsed.error().message.rfind("TPM2B_PUBLIC", 0), 0u) << parsed.error().message;
    }
    // The size prefix shortened by one: the public area no longer ends where the key does.
    auto inner_cut = bytes;
    inner_cut[1] = static_cast<uint8_t>(inner_cut[1] - 1);
    inner_cut.pop_back();
    EXPECT_FALSE(tpm::parse_tpm_public(inner_cut)) << file;
  }
}

TEST(TpmPublic, RefusesMalformedAndUnsupportedAreas) {
  const auto ak = read_bytes("ak_ecc_p256.pub");
  const auto expect_error = [](std::vector<uint8_t> bytes, const std::string& fragment) {
    auto parsed = tpm::parse_tpm_public(bytes);
    ASSERT_FALSE(parsed) << fragment;
    EXPECT_NE(parsed.error().message.find(fragment), std::string::npos) << parsed.error().message;
  };
  auto trailing = ak;
  trailing.push_back(0);
  expect_error(trailing, "after the");
  auto longer_area = ak;  // the size says one byte more than the key needs, and it is there
  longer_area[1] = static_cast<uint8_t>(longer_area[1] + 1);
  longer_area.push_back(0);
  expect_error(longer_area, "bytes after the public key");
  auto keyedhash = ak;
  keyedhash[3] = 0x08;  // TPM_ALG_KEYEDHASH
  expect_error(keyedhash, "unsupported key type 0x0008");
  auto null_name = ak;
  null_name[5] = 0x10;  // nameAlg TPM_ALG_NULL
  expect_error(null_name, "unsupported nameAlg 0x0010");
  auto rsa_scheme = ak;
  rsa_scheme[15] = 0x14;  // RSASSA on an ECC key
  expect_error(rsa_scheme, "unsupported scheme 0x0014 for an ECC key");
  auto scheme_hash = ak;
  scheme_hash[17] = 0x99;
  expect_error(scheme_hash, "unsupported scheme hash 0x0099");
  auto curve = ak;
  curve[19] = 0x05;  // TPM_ECC_NIST_P521
  expect_error(curve, "unsupported ECC curve 0x0005");
  auto off_curve = ak;
  off_curve.back() ^= 0x01;  // y no longer on P-256
  expect_error(off_curve, "not on curve");
  auto rsa_bits = read_bytes("ek_rsa2048.pub");
  rsa_bits[52] = 0x0c;  // keyBits 3072 with a 256-byte modulus
  expect_error(rsa_bits, "keyBits says 3072");
  expect_error({0x00, 0x00}, "empty public area");
  expect_error({}, "truncated");
  expect_error({0xff, 0xff, 0x00}, "truncated");
}

TEST(TpmPublic, AttestationKeyRulesNameTheMissingProperty) {
  struct Case {
    uint32_t attributes;
    std::string fragment;
  };
  const Case cases[] = {
      {kAkAttributes & ~(1u << 18), "not a signing key"},
      {kAkAttributes & ~(1u << 16), "not restricted"},
      {kAkAttributes | (1u << 17), "also a decryption key"},
      {kAkAttributes & ~(1u << 1), "not fixedTPM"},
      {kAkAttributes & ~(1u << 4), "not fixedParent"},
      {kAkAttributes & ~(1u << 5), "not sensitiveDataOrigin"},
  };
  const auto original = parse_file("ak_ecc_p256.pub");
  for (const auto& c : cases) {
    auto changed = tpm::parse_tpm_public(ak_with_attributes(c.attributes));
    ASSERT_TRUE(changed) << changed.error().message;
    auto checked = tpm::check_attestation_key(*changed);
    ASSERT_FALSE(checked) << c.fragment;
    EXPECT_NE(checked.error().message.find(c.fragment), std::string::npos) << checked.error().message;
    // The attributes are part of the name, not of the key.
    EXPECT_NE(changed->name, original.name);
    EXPECT_TRUE(tpm::same_key(*changed, original));
  }
  EXPECT_FALSE(tpm::same_key(original, parse_file("ek_rsa2048.pub")));
  EXPECT_FALSE(tpm::same_key(parse_file("ek_rsa2048.pub"), parse_file("software_ek.pub")));
}

TEST(TpmPublic, EndorsementKeyRules) {
  auto bytes = read_bytes("ek_rsa2048.pub");
  bytes[7] &= static_cast<uint8_t>(~0x01);  // clear restricted (bit 16)
  auto unrestricted = tpm::parse_tpm_public(bytes);
  ASSERT_TRUE(unrestricted) << unrestricted.error().message;
  auto checked = tpm::check_endorsement_key(*unrestricted);
  ASSERT_FALSE(checked);
  EXPECT_NE(checked.error().message.find("not restricted"), std::string::npos) << checked.error().message;
  EXPECT_EQ(unrestricted->describe(), "RSA 2048 decrypt");
}

TEST(TpmCredential, ActivatesTpm2ToolsCredentialInSoftware) {
  // Proves software_activate (the test's own reading of the spec) against tpm2-tools.
  auto private_key = crypto::Key::load_private(data_path("software_ek.key"));
  ASSERT_TRUE(private_key) << private_key.error().message;
  const auto ak = parse_file("ak_ecc_p256.pub");
  const auto file = read_bytes("software_ek_tpm2_makecredential.bin");
  ASSERT_GT(file.size(), 8u);
  tpm::ByteReader reader{std::span<const uint8_t>(file).subspan(8)};  // after magic and version
  auto blob = reader.sized("blob");
  ASSERT_TRUE(blob);
  const size_t blob_end = 8 + reader.offset();
  auto secret = reader.sized("secret");
  ASSERT_TRUE(secret);
  ASSERT_TRUE(reader.at_end());
  const std::span<const uint8_t> blob_bytes = std::span(file).subspan(8, blob_end - 8);
  const std::span<const uint8_t> secret_bytes = std::span(file).subspan(blob_end);
  auto recovered = software_activate(*private_key, ak.name, blob_bytes, secret_bytes);
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(std::string(recovered->begin(), recovered->end()), "vigil credential test secret 123");
  auto other_name = ak.name;
  other_name.back() ^= 1;
  EXPECT_FALSE(software_activate(*private_key, other_name, blob_bytes, secret_bytes));
}

TEST(TpmCredential, MakeCredentialRoundTripsAndHasTheTpmShape) {
  auto private_key = crypto::Key::load_private(data_path("software_ek.key"));
  ASSERT_TRUE(private_key) << private_key.error().message;
  const auto ek = parse_file("software_ek.pub");
  ASSERT_TRUE(tpm::check_endorsement_key(ek));
  EXPECT_TRUE(private_key->same_public_key(ek.key));
  const auto ak = parse_file("ak_ecc_p256.pub");
  const std::vector<uint8_t> secret = {'s', 'e', 'c', 'r', 'e', 't', ' ', 'f', 'o', 'r', ' ', 'A', 'K'};

  auto credential = tpm::make_credential(ek, ak.name, secret);
  ASSERT_TRUE(credential) << credential.error().message;
  // TPM2B_ID_OBJECT = size || TPM2B_DIGEST(HMAC-SHA256) || encIdentity (TPM2B of the secret).
  ASSERT_EQ(credential->credential_blob.size(), 2u + 2 + 32 + 2 + secret.size());
  EXPECT_EQ(credential->credential_blob[0] << 8 | credential->credential_blob[1],
            static_cast<int>(credential->credential_blob.size() - 2));
  EXPECT_EQ(credential->credential_blob[2] << 8 | credential->credential_blob[3], 32);
  // TPM2B_ENCRYPTED_SECRET = size || RSA-2048 ciphertext.
  ASSERT_EQ(credential->encrypted_secret.size(), 2u + 256);
  EXPECT_EQ(credential->encrypted_secret[0] << 8 | credential->encrypted_secret[1], 256);

  auto recovered = software_activate(*private_key, ak.name, credential->credential_blob, credential->encrypted_secret);
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(*recovered, secret);

  // Bound to the name: another object cannot activate it; a flipped bit breaks the HMAC.
  const auto ek_name = parse_file("ek_rsa2048.pub").name;
  EXPECT_FALSE(software_activate(*private_key, ek_name, credential->credential_blob, credential->encrypted_secret));
  auto tampered = credential->credential_blob;
  tampered.back() ^= 0x80;
  EXPECT_FALSE(software_activate(*private_key, ak.name, tampered, credential->encrypted_secret));

  // A fresh seed every time.
  auto again = tpm::make_credential(ek, ak.name, secret);
  ASSERT_TRUE(again);
  EXPECT_NE(again->encrypted_secret, credential->encrypted_secret);
  EXPECT_NE(again->credential_blob, credential->credential_blob);
}

TEST(TpmCredential, MakeCredentialRefusesBadInput) {
  const auto ek = parse_file("software_ek.pub");
  const auto ak = parse_file("ak_ecc_p256.pub");
  EXPECT_FALSE(tpm::make_credential(ek, ak.name, std::vector<uint8_t>{}));
  EXPECT_FALSE(tpm::make_credential(ek, ak.name, std::vector<uint8_t>(65, 1)));
  EXPECT_TRUE(tpm::make_credential(ek, ak.name, std::vector<uint8_t>(64, 1)));
  auto short_name = ak.name;
  short_name.pop_back();
  auto refused = tpm::make_credential(ek, short_name, std::vector<uint8_t>(8, 1));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("object name"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(tpm::make_credential(ek, std::vector<uint8_t>{0x00, 0x99, 1, 2}, std::vector<uint8_t>(8, 1)));
  // The AK is no endorsement key.
  EXPECT_FALSE(tpm::make_credential(ak, ak.name, std::vector<uint8_t>(8, 1)));
}
