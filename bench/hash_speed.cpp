// SM3 throughput of vigil's hashing path, for comparison with `openssl speed -evp sm3`.
//   vigil_hash_speed [FILE]
// Prints "label: MB/s" lines (1 MB = 1e6 bytes):
//   of_bytes_16k: hashing independent 16 KiB buffers with Hasher::of_bytes for ~3 s
//                 (the same work as openssl speed's 16384-byte column: init+update+final each).
//   of_fd:        Hasher::of_fd over FILE (best of several passes; make FILE page-cached first).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "crypto/crypto.h"

namespace {

using Clock = std::chrono::steady_clock;
using vigil::crypto::HashAlgo;
using vigil::crypto::Hasher;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int bench_bytes(Hasher& hasher) {
  std::vector<uint8_t> buffer(16384);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 131 + 7);
  // Warm up (also fetches the EVP_MD once, as vigil does).
  for (int i = 0; i < 64; ++i) {
    if (!hasher.of_bytes(HashAlgo::sm3, buffer)) {
      std::fprintf(stderr, "vigil_hash_speed: SM3 not available\n");
      return 1;
    }
  }
  uint64_t bytes = 0;
  uint8_t sink = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < 256; ++i) {
      auto digest = hasher.of_bytes(HashAlgo::sm3, buffer);
      if (!digest) {
        std::fprintf(stderr, "vigil_hash_speed: %s\n", digest.error().message.c_str());
        return 1;
      }
      sink ^= digest->bytes[0];
      bytes += buffer.size();
    }
    elapsed = seconds_since(start);
  } while (elapsed < 3.0);
  buffer[0] = sink;  // keep the results observable
  std::printf("of_bytes_16k: %.1f MB/s\n", static_cast<double>(bytes) / elapsed / 1e6);
  return 0;
}

int bench_fd(Hasher& hasher, const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "vigil_hash_speed: %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    std::fprintf(stderr, "vigil_hash_speed: %s: empty or unreadable\n", path);
    ::close(fd);
    return 1;
  }
  // One untimed pass pulls the file into the page cache; then best of up to 5 passes / ~6 s.
  if (!hasher.of_fd(HashAlgo::sm3, fd)) {
    std::fprintf(stderr, "vigil_hash_speed: hashing %s failed\n", path);
    ::close(fd);
    return 1;
  }
  double best = 0;
  const auto overall = Clock::now();
  for (int pass = 0; pass < 5 && seconds_since(overall) < 6.0; ++pass) {
    const auto start = Clock::now();
    auto digest = hasher.of_fd(HashAlgo::sm3, fd);
    const double elapsed = seconds_since(start);
    if (!digest) {
      std::fprintf(stderr, "vigil_hash_speed: %s: %s\n", path, digest.error().message.c_str());
      ::close(fd);
      return 1;
    }
    const double rate = static_cast<double>(st.st_size) / elapsed / 1e6;
    if (rate > best) best = rate;
  }
  ::close(fd);
  std::printf("of_fd: %.1f MB/s\n", best);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [FILE]\n", argv[0]);
    return 2;
  }
  Hasher hasher;
  if (int rc = bench_bytes(hasher); rc != 0) return rc;
  if (argc == 2) return bench_fd(hasher, argv[1]);
  return 0;
}
