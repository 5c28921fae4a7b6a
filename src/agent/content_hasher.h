#pragma once
// One read of a file's content for everything a decision needs from it: the digest appraisal
// checks (the algorithm of security.ima) and the digests measurement and audit records take,
// computed side by side from the same bytes. Reads at most the size seen when the event
// arrived, and gives up between reads once nobody waits for the answer.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "crypto/crypto.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace vigil::agent {

class ContentHasher {
 public:
  static constexpr size_t kMaxAlgorithms = 3;
  enum class Outcome {
    done,        // every digest is of the first `length` bytes
    abandoned,   // `abandoned()` said stop (the event was answered, or the agent stops)
    shrank,      // end of file before `length` bytes: the file changed
    failed,      // a read or the hash library failed; `error` says which
  };
  struct Digests {
    Outcome outcome = Outcome::failed;
    std::string error;
    size_t count = 0;
    std::array<crypto::Digest, kMaxAlgorithms> digests{};
    // The digest in `algo`, if it was asked for and computed.
    std::optional<crypto::Digest> of(crypto::HashAlgo algo) const;
  };

  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  // Duplicate algorithms are hashed once; more than kMaxAlgorithms distinct ones is an error.
  // `abandoned` is asked before every read (one read is kReadSize bytes).
  Digests hash(int fd, uint64_t length, std::span<const crypto::HashAlgo> algorithms,
               const std::function<bool()>& abandoned);
  static constexpr size_t kReadSize = 256 * 1024;

 private:
  std::array<EVP_MD_CTX*, kMaxAlgorithms> contexts_{};
  std::unique_ptr<uint8_t[]> buffer_;
};

}  // namespace vigil::agent
