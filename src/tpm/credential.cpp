// TPM2_MakeCredential in software (TPM 2.0 Part 1, "Credential Protection"; Part 3,
// "TPM2_MakeCredential"). The verifier wraps a secret so that only the TPM holding the EK's
// private key can unwrap it, and only for an object with the given name:
//   seed            random, |H_ekNameAlg| bytes, RSA-OAEP(ekNameAlg, label "IDENTITY\0") to the EK
//   symKey          KDFa(ekNameAlg, seed, "STORAGE", name, -, EK symmetric key bits)
//   encIdentity     AES-CFB(symKey, IV 0, TPM2B_DIGEST(secret))
//   HMACkey         KDFa(ekNameAlg, seed, "INTEGRITY", -, -, |H_ekNameAlg| * 8)
//   outerHMAC       HMAC_ekNameAlg(HMACkey, encIdentity || name)
//   credentialBlob  TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity)
#include <array>
#include <cstring>
#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tpm/kdfa.h"
#include "tpm/tpm_bytes.h"
#include "tpm/tpm_public.h"

namespace vigil::tpm {

namespace {

constexpr size_t kMaxCredentialSize = 64;  // TPM2B_DIGEST: sizeof(TPMU_HA)

Result<std::vector<uint8_t>> oaep_encrypt(const TpmPublic& ek, std::span<const uint8_t> seed) {
  const EVP_MD* md = crypto::hash_md(ek.name_alg);
  if (md == nullptr) return fail("OpenSSL lacks " + std::string(crypto::hash_name(ek.name_alg)));
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(EVP_PKEY_CTX_new_from_pkey(nullptr, ek.key.get(), nullptr),
                                                                      &EVP_PKEY_CTX_free);
  // The label includes its terminating zero octet (Part 1, "Secret Sharing": "IDENTITY").
  static constexpr char kLabel[] = "IDENTITY";
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!context || label == nullptr || EVP_PKEY_encrypt_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), md) != 1 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(context.get(), label, sizeof kLabel) != 1) {
    OPENSSL_free(label);  // set0 did not take it (the OAEP label setter only fails before taking)
    return fail("RSA-OAEP setup: " + openssl_errors());
  }
  size_t length = 0;
  if (EVP_PKEY_encrypt(context.get(), nullptr, &length, seed.data(), seed.size()) != 1) {
    return fail("RSA-OAEP: " + openssl_errors());
  }
  std::vector<uint8_t> out(length);
  if (EVP_PKEY_encrypt(context.get(), out.data(), &length, seed.data(), seed.size()) != 1) {
    return fail("RSA-OAEP: " + openssl_errors());
  }
  out.resize(length);
  return out;
}

const EVP_CIPHER* aes_cfb(uint16_t bits) {
  switch (bits) {
    case 128: return EVP_aes_128_cfb128();
    case 192: return EVP_aes_192_cfb128();
    case 256: return EVP_aes_256_cfb128();
    default: return nullptr;
  }
}

Result<std::vector<uint8_t>> cfb_encrypt(uint16_t key_bits, std::span<const uint8_t> key, std::span<const uint8_t> plain) {
  const EVP_CIPHER* cipher = aes_cfb(key_bits);
  if (cipher == nullptr) return fail("unsupported AES key size " + std::to_string(key_bits));
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  const std::array<uint8_t, 16> iv{};  // the credential's IV is all zeros
  std::vector<uint8_t> out(plain.size() + 16);
  int written = 0;
  int final_written = 0;
  if (!context || EVP_EncryptInit_ex(context.get(), cipher, nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(context.get(), out.data(), &written, plain.data(), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), out.data() + written, &final_written) != 1) {
    return fail("AES-CFB: " + openssl_errors());
  }
  out.resize(static_cast<size_t>(written + final_written));
  return out;
}

// A name is nameAlg (2 bytes) || digest of that algorithm's size.
Result<void> check_name(std::span<const uint8_t> name) {
  if (name.size() < 2) return fail("object name is " + std::to_string(name.size()) + " bytes");
  const auto algo = hash_from_tpm_alg(static_cast<uint16_t>(name[0] << 8 | name[1]));
  if (!algo) return fail("object name has an unknown hash algorithm");
  if (name.size() != 2 + crypto::hash_size(*algo)) {
    return fail("object name has " + std::to_string(name.size() - 2) + " digest bytes, " +
                std::string(crypto::hash_name(*algo)) + " has " + std::to_string(crypto::hash_size(*algo)));
  }
  return {};
}

}  // namespace

Result<Credential> make_credential(const TpmPublic& ek, std::span<const uint8_t> object_name,
                                   std::span<const uint8_t> secret) {
  if (auto usable = check_endorsement_key(ek); !usable) return fail("make_credential: " + usable.error().message);
  if (auto named = check_name(object_name); !named) return fail("make_credential: " + named.error().message);
  if (secret.empty() || secret.size() > kMaxCredentialSize) {
    return fail("make_credential: the secret must be 1.." + std::to_string(kMaxCredentialSize) + " bytes, is " +
                std::to_string(secret.size()));
  }
  const size_t digest_size = crypto::hash_size(ek.name_alg);
  std::vector<uint8_t> seed(digest_size);
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return fail("make_credential: no random bytes: " + openssl_errors());
  }
  auto encrypted_seed = oaep_encrypt(ek, seed);
  if (!encrypted_seed) return fail("make_credential: " + encrypted_seed.error().message);

  auto sym_key = kdfa(ek.name_alg, seed, "STORAGE", object_name, {}, ek.symmetric.key_bits);
  if (!sym_key) return fail("make_credential: " + sym_key.error().message);
  ByteWriter identity;
  identity.sized(secret);
  auto enc_identity = cfb_encrypt(ek.symmetric.key_bits, *sym_key, identity.data());
  if (!enc_identity) return fail("make_credential: " + enc_identity.error().message);

  auto hmac_key = kdfa(ek.name_alg, seed, "INTEGRITY", {}, {}, static_cast<uint32_t>(digest_size * 8));
  if (!hmac_key) return fail("make_credential: " + hmac_key.error().message);
  std::vector<uint8_t> hmac_input = *enc_identity;
  hmac_input.insert(hmac_input.end(), object_name.begin(), object_name.end());
  auto outer_hmac = hmac(ek.name_alg, *hmac_key, hmac_input);
  if (!outer_hmac) return fail("make_credential: " + outer_hmac.error().message);
  OPENSSL_cleanse(seed.data(), seed.size());
  OPENSSL_cleanse(sym_key->data(), sym_key->size());
  OPENSSL_cleanse(hmac_key->data(), hmac_key->size());

  ByteWriter id_object;
  id_object.sized(*outer_hmac);
  id_object.bytes(*enc_identity);
  ByteWriter blob;
  ByteWriter encrypted_secret;
  if (!blob.sized(id_object.data()) || !encrypted_secret.sized(*encrypted_seed)) {
    return fail("make_credential: output does not fit a TPM2B");
  }
  return Credential{blob.take(), encrypted_secret.take()};
}

}  // namespace vigil::tpm
