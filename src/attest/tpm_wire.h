#pragma once
// Reading the TPM 2.0 wire format (big endian, TPM2B = u16 size + bytes) from untrusted bytes,
// and the signature schemes' TPM_ALG_IDs; hash ids are tpm/tpm_bytes.h's.
#include <cstddef>
#include <cstdint>
#include <span>

namespace vigil::attest::wire {

inline constexpr uint16_t kAlgRsassa = 0x0014;
inline constexpr uint16_t kAlgRsapss = 0x0016;
inline constexpr uint16_t kAlgEcdsa = 0x0018;

// A cursor that never reads past the end: a short read sets failed() and yields zeros/empty.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool failed() const { return failed_; }
  size_t left() const { return bytes_.size() - pos_; }

  uint64_t uint(size_t width) {
    if (!have(width)) return 0;
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | bytes_[pos_ + i];
    pos_ += width;
    return value;
  }
  uint8_t u8() { return static_cast<uint8_t>(uint(1)); }
  uint16_t u16() { return static_cast<uint16_t>(uint(2)); }
  uint32_t u32() { return static_cast<uint32_t>(uint(4)); }
  uint64_t u64() { return uint(8); }
  std::span<const uint8_t> take(size_t size) {
    if (!have(size)) return {};
    auto out = bytes_.subspan(pos_, size);
    pos_ += size;
    return out;
  }
  // A TPM2B: u16 size then that many bytes; a size over max_size fails.
  std::span<const uint8_t> sized(size_t max_size) {
    const uint16_t size = u16();
    if (size > max_size) {
      failed_ = true;
      return {};
    }
    return take(size);
  }

 private:
  bool have(size_t size) {
    if (failed_ || size > left()) {
      failed_ = true;
      return false;
    }
    return true;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace vigil::attest::wire
