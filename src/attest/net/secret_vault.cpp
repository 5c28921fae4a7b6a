// Sealed layouts:
//   aes-256-gcm:       nonce (12) || ciphertext || tag (16); AAD = the associated data.
//   sm4-ctr-hmac-sm3:  iv (16) || ciphertext || tag (32), tag = HMAC-SM3(mac key,
//                      u64be(len(AD)) || AD || iv || ciphertext) (encrypt-then-MAC; the length
//                      prefix keeps AD and iv apart).
// Each cipher has its own keys, derived from the master key with HKDF (SHA-256 for AES, SM3 for
// SM4), so the master key never keys two algorithms.
#include "attest/net/secret_vault.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <memory>

namespace vigil::attest {
namespace {

constexpr size_t kMasterKeySize = 32;
constexpr size_t kGcmNonceSize = 12;
constexpr size_t kGcmTagSize = 16;
constexpr size_t kSm4IvSize = 16;
constexpr size_t kSm4KeySize = 16;
constexpr size_t kSm3MacSize = 32;
constexpr size_t kMaxPlaintext = 16 << 20;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Zeroes key material when it goes out of scope.
template <size_t N>
struct SecretBytes {
  std::array<uint8_t, N> bytes{};
  ~SecretBytes() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

Result<void> hkdf(const char* digest, std::span<const uint8_t> master, std::string_view info, std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return fail("vault: HKDF unavailable: " + openssl_errors());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(master.data()), master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) return fail(std::string("vault: HKDF-") + digest + " failed: " + openssl_errors());
  return {};
}

Result<std::vector<uint8_t>> random_bytes(size_t size) {
  std::vector<uint8_t> bytes(size);
  if (RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) return fail("vault: no randomness: " + openssl_errors());
  return bytes;
}

Result<std::vector<uint8_t>> sm4_ctr(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                     std::span<const uint8_t> input) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "SM4-CTR", nullptr);
  std::vector<uint8_t> output(input.size());
  int length = 0;
  bool ok = ctx && cipher && EVP_EncryptInit_ex2(ctx.get(), cipher, key.data(), iv.data(), nullptr) == 1 &&
            EVP_EncryptUpdate(ctx.get(), output.data(), &length, input.data(), static_cast<int>(input.size())) == 1;
  int tail = 0;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), output.data() + length, &tail) == 1;
  EVP_CIPHER_free(cipher);
  if (!ok) return fail("vault: SM4-CTR failed: " + openssl_errors());
  return output;
}

Result<std::array<uint8_t, kSm3MacSize>> hmac_sm3(std::span<const uint8_t> key, std::span<const uint8_t> ad,
                                                  std::span<const uint8_t> iv, std::span<const uint8_t> ciphertext) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_MAC_free(mac);
  if (ctx == nullptr) return fail("vault: HMAC unavailable: " + openssl_errors());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SM3"), 0),
      OSSL_PARAM_construct_end(),
  };
  std::array<uint8_t, 8> ad_length{};
  for (size_t i = 0; i < 8; ++i) ad_length[i] = static_cast<uint8_t>(uint64_t{ad.size()} >> (56 - 8 * i));
  std::array<uint8_t, kSm3MacSize> tag{};
  size_t tag_size = 0;
  const bool ok = EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, ad_length.data(), ad_length.size()) == 1 &&
                  EVP_MAC_update(ctx, ad.data(), ad.size()) == 1 && EVP_MAC_update(ctx, iv.data(), iv.size()) == 1 &&
                  EVP_MAC_update(ctx, ciphertext.data(), ciphertext.size()) == 1 &&
                  EVP_MAC_final(ctx, tag.data(), &tag_size, tag.size()) == 1 && tag_size == tag.size();
  EVP_MAC_CTX_free(ctx);
  if (!ok) return fail("vault: HMAC-SM3 failed: " + openssl_errors());
  return tag;
}

struct Sm4Keys {
  SecretBytes<kSm4KeySize> encryption;
  SecretBytes<kSm3MacSize> mac;
};

Result<void> derive_sm4_keys(std::span<const uint8_t> master, Sm4Keys& keys) {
  if (auto r = hkdf("SM3", master, "vigil vault sm4-ctr key", keys.encryption.bytes); !r) return r;
  return hkdf("SM3", master, "vigil vault hmac-sm3 key", keys.mac.bytes);
}

Result<std::vector<uint8_t>> seal_sm4(std::span<const uint8_t> master, std::span<const uint8_t> plaintext,
                                      std::span<const uint8_t> ad) {
  Sm4Keys keys;
  if (auto r = derive_sm4_keys(master, keys); !r) return std::unexpected(r.error());
  auto iv = random_bytes(kSm4IvSize);
  if (!iv) return iv;
  auto ciphertext = sm4_ctr(keys.encryption.bytes, *iv, plaintext);
  if (!ciphertext) return ciphertext;
  auto tag = hmac_sm3(keys.mac.bytes, ad, *iv, *ciphertext);
  if (!tag) return std::unexpected(tag.error());
  std::vector<uint8_t> sealed = std::move(*iv);
  sealed.insert(sealed.end(), ciphertext->begin(), ciphertext->end());
  sealed.insert(sealed.end(), tag->begin(), tag->end());
  return sealed;
}

Result<std::vector<uint8_t>> unseal_sm4(std::span<const uint8_t> master, std::span<const uint8_t> sealed,
                                        std::span<const uint8_t> ad) {
  if (sealed.size() < kSm4IvSize + kSm3MacSize) return fail("vault: sealed value too short");
  Sm4Keys keys;
  if (auto r = derive_sm4_keys(master, keys); !r) return std::unexpected(r.error());
  const auto iv = sealed.first(kSm4IvSize);
  const auto ciphertext = sealed.subspan(kSm4IvSize, sealed.size() - kSm4IvSize - kSm3MacSize);
  const auto tag = sealed.last(kSm3MacSize);
  auto expected = hmac_sm3(keys.mac.bytes, ad, iv, ciphertext);
  if (!expected) return std::unexpected(expected.error());
  if (CRYPTO_memcmp(expected->data(), tag.data(), kSm3MacSize) != 0) {
    return fail("vault: authentication failed (tampered, another key, or another name/selector)");
  }
  return sm4_ctr(keys.encryption.bytes, iv, ciphertext);
}

Result<std::vector<uint8_t>> seal_gcm(std::span<const uint8_t> master, std::span<const uint8_t> plaintext,
                                      std::span<const uint8_t> ad) {
  SecretBytes<32> key;
  if (auto r = hkdf("SHA256", master, "vigil vault aes-256-gcm key", key.bytes); !r) return std::unexpected(r.error());
  auto nonce = random_bytes(kGcmNonceSize);
  if (!nonce) return nonce;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::vector<uint8_t> sealed = std::move(*nonce);
  sealed.resize(kGcmNonceSize + plaintext.size() + kGcmTagSize);
  uint8_t* out = sealed.data() + kGcmNonceSize;
  int length = 0;
  int tail = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.bytes.data(), sealed.data(), nullptr) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, ad.data(), static_cast<int>(ad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), out, &length, plaintext.data(), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), out + length, &tail) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize, out + plaintext.size()) == 1;
  if (!ok) return fail("vault: AES-256-GCM failed: " + openssl_errors());
  return sealed;
}

Result<std::vector<uint8_t>> unseal_gcm(std::span<const uint8_t> master, std::span<const uint8_t> sealed,
                                        std::span<const uint8_t> ad) {
  if (sealed.size() < kGcmNonceSize + kGcmTagSize) return fail("vault: sealed value too short");
  SecretBytes<32> key;
  if (auto r = hkdf("SHA256", master, "vigil vault aes-256-gcm key", key.bytes); !r) return std::unexpected(r.error());
  const auto nonce = sealed.first(kGcmNonceSize);
  const auto ciphertext = sealed.subspan(kGcmNonceSize, sealed.size() - kGcmNonceSize - kGcmTagSize);
  std::array<uint8_t, kGcmTagSize> tag{};
  std::copy_n(sealed.end() - kGcmTagSize, kGcmTagSize, tag.begin());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::vector<uint8_t> plaintext(ciphertext.size());
  int length = 0;
  int tail = 0;
  const bool set_up =
      ctx && EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.bytes.data(), nonce.data(), nullptr) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, ad.data(), static_cast<int>(ad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), plaintext.data(), &length, ciphertext.data(), static_cast<int>(ciphertext.size())) ==
          1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag.data()) == 1;
  if (!set_up) return fail("vault: AES-256-GCM failed: " + openssl_errors());
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + length, &tail) != 1) {
    openssl_errors();  // drain
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return fail("vault: authentication failed (tampered, another key, or another name/selector)");
  }
  return plaintext;
}

// Creates the key file (0600, exclusively: two processes racing both end up reading one key).
Result<void> create_key_file(const std::string& path) {
  auto key = random_bytes(kMasterKeySize);
  if (!key) return std::unexpected(key.error());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return {};
    return fail_errno("vault: cannot create key file " + path);
  }
  const ssize_t written = ::write(fd, key->data(), key->size());
  const bool synced = ::fsync(fd) == 0;
  OPENSSL_cleanse(key->data(), key->size());
  ::close(fd);
  if (written != static_cast<ssize_t>(kMasterKeySize) || !synced) {
    ::unlink(path.c_str());
    return fail("vault: cannot write key file " + path);
  }
  return {};
}

}  // namespace

std::string_view vault_cipher_name(VaultCipher cipher) {
  return cipher == VaultCipher::aes_256_gcm ? "aes-256-gcm" : "sm4-ctr-hmac-sm3";
}

Result<VaultCipher> vault_cipher_from_name(std::string_view name) {
  if (name == "aes-256-gcm" || name == "aes") return VaultCipher::aes_256_gcm;
  if (name == "sm4-ctr-hmac-sm3" || name == "sm4") return VaultCipher::sm4_ctr_hmac_sm3;
  return fail("unknown vault cipher \"" + std::string(name) + "\" (sm4, aes-256-gcm)");
}

Result<SecretVault> SecretVault::open(const std::string& key_path) {
  if (auto created = create_key_file(key_path); !created) return std::unexpected(created.error());
  const int fd = ::open(key_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail_errno("vault: cannot open key file " + key_path);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    auto error = fail_errno("vault: cannot stat key file " + key_path);
    ::close(fd);
    return error;
  }
  std::string problem;
  if (!S_ISREG(info.st_mode)) problem = "is not a regular file";
  else if ((info.st_mode & 077) != 0) problem = "is readable or writable by group or others (must be mode 0600)";
  else if (info.st_size != static_cast<off_t>(kMasterKeySize)) problem = "must hold exactly 32 bytes";
  SecretVault vault;
  if (problem.empty()) {
    vault.master_key_.resize(kMasterKeySize);
    if (::read(fd, vault.master_key_.data(), kMasterKeySize) != static_cast<ssize_t>(kMasterKeySize)) {
      problem = "cannot be read";
    }
  }
  ::close(fd);
  if (!problem.empty()) return fail("vault: key file " + key_path + " " + problem);
  return vault;
}

Result<std::vector<uint8_t>> SecretVault::seal(VaultCipher cipher, std::span<const uint8_t> plaintext,
                                               std::span<const uint8_t> associated_data) const {
  if (plaintext.size() > kMaxPlaintext) return fail("vault: secrets are limited to 16 MiB");
  if (cipher == VaultCipher::aes_256_gcm) return seal_gcm(master_key_, plaintext, associated_data);
  return seal_sm4(master_key_, plaintext, associated_data);
}

Result<std::vector<uint8_t>> SecretVault::unseal(VaultCipher cipher, std::span<const uint8_t> sealed,
                                                 std::span<const uint8_t> associated_data) const {
  if (sealed.size() > kMaxPlaintext + 64) return fail("vault: sealed value too large");
  if (cipher == VaultCipher::aes_256_gcm) return unseal_gcm(master_key_, sealed, associated_data);
  return unseal_sm4(master_key_, sealed, associated_data);
}

}  // namespace vigil::attest
