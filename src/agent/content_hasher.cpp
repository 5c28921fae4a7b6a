#include "agent/content_hasher.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

namespace vigil::agent {

std::optional<crypto::Digest> ContentHasher::Digests::of(crypto::HashAlgo algo) const {
  if (outcome != Outcome::done) return std::nullopt;
  for (size_t i = 0; i < count; ++i) {
    if (digests[i].algo == algo) return digests[i];
  }
  return std::nullopt;
}

ContentHasher::ContentHasher() : buffer_(new uint8_t[kReadSize]) {
  for (auto& context : contexts_) context = EVP_MD_CTX_new();
}

ContentHasher::~ContentHasher() {
  for (auto* context : contexts_) EVP_MD_CTX_free(context);
}

ContentHasher::Digests ContentHasher::hash(int fd, uint64_t length, std::span<const crypto::HashAlgo> algorithms,
                                           const std::function<bool()>& abandoned) {
  Digests result;
  for (const crypto::HashAlgo algo : algorithms) {
    bool seen = false;
    for (size_t i = 0; i < result.count; ++i) seen |= result.digests[i].algo == algo;
    if (seen) continue;
    if (result.count == kMaxAlgorithms) {
      result.error = "more than " + std::to_string(kMaxAlgorithms) + " digest algorithms for one file";
      return result;
    }
    const EVP_MD* md = crypto::hash_md(algo);
    if (md == nullptr) {
      result.error = "hash algorithm " + std::string(crypto::hash_name(algo)) + " is not available";
      return result;
    }
    EVP_MD_CTX* context = contexts_[result.count];
    if (context == nullptr || EVP_DigestInit_ex2(context, md, nullptr) != 1) {
      result.error = "cannot start " + std::string(crypto::hash_name(algo));
      return result;
    }
    result.digests[result.count++].algo = algo;
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t offset = 0;
  while (offset < length) {
    if (abandoned && abandoned()) {
      result.outcome = Outcome::abandoned;
      return result;
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kReadSize, length - offset));
    const ssize_t got = ::pread(fd, buffer_.get(), want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      result.error = std::string("read: ") + std::strerror(errno);
      return result;
    }
    if (got == 0) {
      result.outcome = Outcome::shrank;
      return result;
    }
    offset += static_cast<uint64_t>(got);
    for (size_t i = 0; i < result.count; ++i) {
      if (EVP_DigestUpdate(contexts_[i], buffer_.get(), static_cast<size_t>(got)) != 1) {
        result.error = "hashing failed";
        return result;
      }
    }
  }
  for (size_t i = 0; i < result.count; ++i) {
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(contexts_[i], result.digests[i].bytes.data(), &size) != 1) {
      result.error = "cannot finish " + std::string(crypto::hash_name(result.digests[i].algo));
      return result;
    }
    result.digests[i].size = static_cast<uint8_t>(size);
  }
  result.outcome = Outcome::done;
  return result;
}

}  // namespace vigil::agent
