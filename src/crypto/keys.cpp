#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"

namespace vigil::crypto {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string group_name(EVP_PKEY* pkey) {
  char name[64] = {};
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &length) != 1) {
    return {};
  }
  return name;
}

// Passphrase callback that never prompts: a key vigil cannot open non-interactively is an error.
int passphrase_callback(char* buffer, int size, int /*rwflag*/, void* user) {
  const auto* passphrase = static_cast<const std::string*>(user);
  if (passphrase == nullptr || passphrase->empty()) return 0;
  const int length = static_cast<int>(std::min<size_t>(passphrase->size(), static_cast<size_t>(size)));
  std::memcpy(buffer, passphrase->data(), static_cast<size_t>(length));
  return length;
}

Result<KeyType> classify(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "SM2")) return KeyType::sm2;
  if (EVP_PKEY_is_a(pkey, "RSA")) return KeyType::rsa;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    if (group_name(pkey) == "SM2") return KeyType::sm2;
    return KeyType::ecdsa;
  }
  return fail(std::string("unsupported key type ") + EVP_PKEY_get0_type_name(pkey) +
              " (vigil signs with RSA, ECDSA and SM2)");
}

}  // namespace

void Key::Free::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

Key::Key(EVP_PKEY* owned) : pkey_(owned) {
  auto type = classify(owned);
  type_ = type ? *type : KeyType::rsa;
}

Key::Key(const Key& other) : pkey_(other.pkey_.get()), type_(other.type_) { EVP_PKEY_up_ref(pkey_.get()); }

Key& Key::operator=(const Key& other) {
  if (this != &other) {
    EVP_PKEY_up_ref(other.pkey_.get());
    pkey_.reset(other.pkey_.get());
    type_ = other.type_;
  }
  return *this;
}

Key::~Key() = default;

std::string_view key_type_name(KeyType type) {
  switch (type) {
    case KeyType::rsa: return "rsa";
    case KeyType::ecdsa: return "ecdsa";
    case KeyType::sm2: return "sm2";
  }
  return "unknown";
}

Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(path);
  std::vector<uint8_t> bytes;
  uint8_t chunk[8192];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR) continue;
      auto error = fail_errno(path + ": read");
      ::close(fd);
      return error;
    }
    if (got == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + got);
    if (bytes.size() > max_size) {
      ::close(fd);
      return fail(path + ": larger than " + std::to_string(max_size) + " bytes");
    }
  }
  ::close(fd);
  return bytes;
}

Result<void> write_file(const std::string& path, std::span<const uint8_t> bytes, unsigned mode, bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) return fail(path + ": already exists (use --force to replace it)", EEXIST);
    return fail_errno(path);
  }
  // An existing file keeps its old mode through O_TRUNC; a private key must not.
  if (::fchmod(fd, mode) != 0) {
    auto error = fail_errno(path + ": chmod");
    ::close(fd);
    return error;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      auto error = fail_errno(path + ": write");
      ::close(fd);
      return error;
    }
    done += static_cast<size_t>(wrote);
  }
  if (::close(fd) != 0) return fail_errno(path + ": close");
  return {};
}

Result<Key> Key::load_private(const std::string& path, const std::string& passphrase) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(bytes->data(), static_cast<int>(bytes->size())));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_callback,
                                           const_cast<std::string*>(&passphrase));
  if (pkey == nullptr) {
    const unsigned char* cursor = bytes->data();
    pkey = d2i_AutoPrivateKey(nullptr, &cursor, static_cast<long>(bytes->size()));
  }
  if (pkey == nullptr) {
    return fail(path + ": not a private key in PEM or DER (or wrong passphrase): " + openssl_errors());
  }
  ERR_clear_error();
  if (auto type = classify(pkey); !type) {
    EVP_PKEY_free(pkey);
    return fail(path + ": " + type.error().message);
  }
  return Key(pkey);
}

Result<Key> Key::load_public(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  BioPtr bio(BIO_new_mem_buf(bytes->data(), static_cast<int>(bytes->size())));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    const unsigned char* cursor = bytes->data();
    pkey = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(bytes->size()));
  }
  ERR_clear_error();
  if (pkey == nullptr) return fail(path + ": not a public key in PEM or DER");
  if (auto type = classify(pkey); !type) {
    EVP_PKEY_free(pkey);
    return fail(path + ": " + type.error().message);
  }
  return Key(pkey);
}

Result<std::vector<uint8_t>> Key::public_key_bits() const {
  X509_PUBKEY* wrapper = nullptr;
  if (X509_PUBKEY_set(&wrapper, pkey_.get()) != 1) {
    return fail("cannot encode public key: " + openssl_errors());
  }
  const unsigned char* bits = nullptr;
  int length = 0;
  if (X509_PUBKEY_get0_param(nullptr, &bits, &length, nullptr, wrapper) != 1) {
    X509_PUBKEY_free(wrapper);
    return fail("cannot read public key bits: " + openssl_errors());
  }
  std::vector<uint8_t> copy(bits, bits + length);
  X509_PUBKEY_free(wrapper);
  return copy;
}

bool Key::same_public_key(const Key& other) const {
  auto mine = public_key_bits();
  auto theirs = other.public_key_bits();
  return mine && theirs && *mine == *theirs;
}

std::string Key::describe() const {
  switch (type_) {
    case KeyType::sm2: return "SM2";
    case KeyType::ecdsa: return "ECDSA " + group_name(pkey_.get());
    case KeyType::rsa: return "RSA " + std::to_string(EVP_PKEY_get_bits(pkey_.get()));
  }
  return "unknown";
}

Result<std::string> Key::private_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail("cannot encode private key: " + openssl_errors());
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

}  // namespace vigil::crypto
