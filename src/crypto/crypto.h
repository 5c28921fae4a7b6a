#pragma once
// vigil's crypto: hashes, keys, certificates and raw-digest signatures, all through OpenSSL 3.
// Hash algorithms carry the kernel's numbering (linux/hash_info.h) because every format vigil
// speaks (security.ima, measurement lists) records them that way.
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace vigil::crypto {

enum class HashAlgo : uint8_t {
  md4 = 0, md5 = 1, sha1 = 2, rmd160 = 3, sha256 = 4, sha384 = 5, sha512 = 6, sha224 = 7,
  sm3 = 17, streebog256 = 18, streebog512 = 19, sha3_256 = 20, sha3_384 = 21, sha3_512 = 22,
};

// The kernel's id for a number read from untrusted bytes, if it names a known algorithm.
std::optional<HashAlgo> hash_from_kernel_id(uint8_t id);
// "sha256", "sm3", ... as evmctl and the kernel spell them.
std::optional<HashAlgo> hash_from_name(std::string_view name);
std::string_view hash_name(HashAlgo algo);
size_t hash_size(HashAlgo algo);
// OpenSSL implementation, fetched once and cached; nullptr if OpenSSL lacks it.
const EVP_MD* hash_md(HashAlgo algo);

constexpr size_t kMaxDigestSize = 64;

struct Digest {
  HashAlgo algo = HashAlgo::sha256;
  uint8_t size = 0;
  std::array<uint8_t, kMaxDigestSize> bytes{};
  std::span<const uint8_t> view() const { return {bytes.data(), size}; }
  std::string hex() const;
  bool operator==(const Digest& other) const {
    return algo == other.algo && std::equal(view().begin(), view().end(), other.view().begin(), other.view().end());
  }
};

// Reusable hasher: one per thread, so hashing a file allocates nothing.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Result<Digest> of_fd(HashAlgo algo, int fd);
  Result<Digest> of_bytes(HashAlgo algo, std::span<const uint8_t> data);

 private:
  EVP_MD_CTX* context_;
  std::unique_ptr<uint8_t[]> buffer_;
};

enum class KeyType { rsa, ecdsa, sm2 };
std::string_view key_type_name(KeyType type);

// A public or private key. Private keys also answer public-key questions.
class Key {
 public:
  static Result<Key> load_private(const std::string& path, const std::string& passphrase = {});
  static Result<Key> load_public(const std::string& path);  // PEM or DER SubjectPublicKeyInfo
  explicit Key(EVP_PKEY* owned);  // takes ownership
  Key(const Key& other);
  Key& operator=(const Key& other);
  Key(Key&&) noexcept = default;
  Key& operator=(Key&&) noexcept = default;
  ~Key();

  KeyType type() const { return type_; }
  EVP_PKEY* get() const { return pkey_.get(); }
  // The contents of the SubjectPublicKeyInfo BIT STRING (what SKIDs and IMA key ids hash).
  Result<std::vector<uint8_t>> public_key_bits() const;
  bool same_public_key(const Key& other) const;
  std::string describe() const;  // "SM2", "ECDSA P-256", "RSA 2048"

  Result<std::string> private_pem() const;

 private:
  struct Free { void operator()(EVP_PKEY* key) const; };
  std::unique_ptr<EVP_PKEY, Free> pkey_;
  KeyType type_;
};

class Certificate {
 public:
  static Result<Certificate> load(const std::string& path);  // PEM or DER
  static Result<Certificate> from_der(std::span<const uint8_t> der);
  explicit Certificate(X509* owned);
  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;
  ~Certificate();

  X509* get() const { return cert_.get(); }
  std::optional<std::vector<uint8_t>> subject_key_id() const;
  Result<Key> public_key() const;
  std::string subject() const;
  Result<std::string> pem() const;
  Result<std::vector<uint8_t>> der() const;
  // Checks this certificate's signature with the issuer's key (SM2 with the default ID).
  bool signed_by(const Key& issuer) const;

 private:
  struct Free { void operator()(X509* cert) const; };
  std::unique_ptr<X509, Free> cert_;
};

// The SM2 distinguishing ID used for certificate signatures (GM/T 0009 default).
inline constexpr std::string_view kSm2DefaultId = "1234567812345678";

// Signs a precomputed digest the way the kernel verifies IMA signatures: RSA PKCS#1 v1.5
// with DigestInfo, ECDSA DER (r,s), SM2 DER (r,s) over the raw digest with no ID prefix.
Result<std::vector<uint8_t>> sign_digest(const Key& key, const Digest& digest);

enum class SignatureCheck {
  valid,
  wrong_digest,  // a well-formed signature by this key, but not over this digest
  corrupt,       // cannot be a signature by this key (bad encoding, padding, size)
};
// For RSA the signed digest is recovered, so wrong_digest is certain. For ECDSA and SM2 no
// digest can be recovered: a well-formed (r,s) that fails is reported as wrong_digest.
SignatureCheck verify_digest(const Key& key, const Digest& digest, std::span<const uint8_t> signature);

enum class KeyAlgo { sm2, ecdsa_p256, ecdsa_p384, rsa2048, rsa3072, rsa4096 };
std::optional<KeyAlgo> key_algo_from_name(std::string_view name);
std::string_view key_algo_name(KeyAlgo algo);
Result<Key> generate_key(KeyAlgo algo);

struct CertificateRequest {
  std::string common_name = "vigil signing key";
  std::string organization;
  int validity_days = 3650;
  bool is_ca = false;
  // subjectAltName entries as OpenSSL spells them: "DNS:localhost", "IP:127.0.0.1".
  std::vector<std::string> subject_alt_names;
  // extendedKeyUsage of a non-CA certificate: "codeSigning" (IMA), "serverAuth", "clientAuth".
  std::string extended_key_usage = "codeSigning";
};
// Self-signed when issuer is null. The SubjectKeyIdentifier is SHA-1 over the public key
// bits (RFC 5280 method 1), the value IMA's key id is taken from.
Result<Certificate> make_certificate(const Key& subject_key, const CertificateRequest& request,
                                     const Key* issuer_key = nullptr,
                                     const Certificate* issuer_cert = nullptr);

// Writes bytes to a new file with the given mode (created exclusively unless overwrite).
Result<void> write_file(const std::string& path, std::span<const uint8_t> bytes, unsigned mode, bool overwrite);
Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_size = 1 << 20);

}  // namespace vigil::crypto
