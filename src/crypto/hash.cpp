#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/crypto.h"

namespace vigil::crypto {
namespace {

struct HashInfo {
  HashAlgo algo;
  std::string_view name;     // kernel/evmctl spelling
  const char* openssl_name;  // nullptr: OpenSSL has no implementation vigil uses
  size_t size;
};

constexpr HashInfo kHashes[] = {
    {HashAlgo::md4, "md4", nullptr, 16},
    {HashAlgo::md5, "md5", "MD5", 16},
    {HashAlgo::sha1, "sha1", "SHA1", 20},
    {HashAlgo::rmd160, "rmd160", "RIPEMD160", 20},
    {HashAlgo::sha256, "sha256", "SHA256", 32},
    {HashAlgo::sha384, "sha384", "SHA384", 48},
    {HashAlgo::sha512, "sha512", "SHA512", 64},
    {HashAlgo::sha224, "sha224", "SHA224", 28},
    {HashAlgo::sm3, "sm3", "SM3", 32},
    {HashAlgo::streebog256, "streebog256", nullptr, 32},
    {HashAlgo::streebog512, "streebog512", nullptr, 64},
    {HashAlgo::sha3_256, "sha3-256", "SHA3-256", 32},
    {HashAlgo::sha3_384, "sha3-384", "SHA3-384", 48},
    {HashAlgo::sha3_512, "sha3-512", "SHA3-512", 64},
};

const HashInfo* find(HashAlgo algo) {
  for (const auto& info : kHashes) {
    if (info.algo == algo) return &info;
  }
  return nullptr;
}

constexpr size_t kReadBufferSize = 256 * 1024;

}  // namespace

std::optional<HashAlgo> hash_from_kernel_id(uint8_t id) {
  for (const auto& info : kHashes) {
    if (static_cast<uint8_t>(info.algo) == id) return info.algo;
  }
  return std::nullopt;
}

std::optional<HashAlgo> hash_from_name(std::string_view name) {
  for (const auto& info : kHashes) {
    if (info.name == name) return info.algo;
  }
  if (name == "sm3-256" || name == "sm3_256") return HashAlgo::sm3;
  return std::nullopt;
}

std::string_view hash_name(HashAlgo algo) {
  const HashInfo* info = find(algo);
  return info ? info->name : std::string_view("unknown");
}

size_t hash_size(HashAlgo algo) {
  const HashInfo* info = find(algo);
  return info ? info->size : 0;
}

const EVP_MD* hash_md(HashAlgo algo) {
  // Fetching is slow and takes locks; do it once per process.
  static const auto fetched = [] {
    std::array<const EVP_MD*, 256> table{};
    for (const auto& info : kHashes) {
      if (info.openssl_name != nullptr) {
        table[static_cast<uint8_t>(info.algo)] = EVP_MD_fetch(nullptr, info.openssl_name, nullptr);
      }
    }
    return table;
  }();
  return fetched[static_cast<uint8_t>(algo)];
}

std::string Digest::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (uint8_t i = 0; i < size; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 0xF];
  }
  return text;
}

Hasher::Hasher() : context_(EVP_MD_CTX_new()), buffer_(new uint8_t[kReadBufferSize]) {}

Hasher::~Hasher() { EVP_MD_CTX_free(context_); }

Result<Digest> Hasher::of_fd(HashAlgo algo, int fd) {
  const EVP_MD* md = hash_md(algo);
  if (md == nullptr) return fail("hash algorithm " + std::string(hash_name(algo)) + " is not available");
  if (context_ == nullptr || EVP_DigestInit_ex2(context_, md, nullptr) != 1) {
    return fail("cannot start " + std::string(hash_name(algo)) + ": " + openssl_errors());
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  off_t offset = 0;
  for (;;) {
    const ssize_t got = ::pread(fd, buffer_.get(), kReadBufferSize, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail_errno("read");
    }
    if (got == 0) break;
    offset += got;
    EVP_DigestUpdate(context_, buffer_.get(), static_cast<size_t>(got));
  }
  Digest digest;
  digest.algo = algo;
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context_, digest.bytes.data(), &size) != 1) {
    return fail("cannot finish " + std::string(hash_name(algo)) + ": " + openssl_errors());
  }
  digest.size = static_cast<uint8_t>(size);
  return digest;
}

Result<Digest> Hasher::of_bytes(HashAlgo algo, std::span<const uint8_t> data) {
  const EVP_MD* md = hash_md(algo);
  if (md == nullptr) return fail("hash algorithm " + std::string(hash_name(algo)) + " is not available");
  Digest digest;
  digest.algo = algo;
  unsigned int size = 0;
  if (context_ == nullptr || EVP_DigestInit_ex2(context_, md, nullptr) != 1 ||
      EVP_DigestUpdate(context_, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context_, digest.bytes.data(), &size) != 1) {
    return fail("hashing failed: " + openssl_errors());
  }
  digest.size = static_cast<uint8_t>(size);
  return digest;
}

}  // namespace vigil::crypto
