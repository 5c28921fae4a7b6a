#pragma once
// Big-endian TPM wire structures read and written by hand (the verifier has no TSS): a
// bounds-checked reader whose errors name the field, a writer, and TPM_ALG_ID <-> hash.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::tpm {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  Result<uint8_t> u8(const char* field);
  Result<uint16_t> u16(const char* field);
  Result<uint32_t> u32(const char* field);
  Result<uint64_t> u64(const char* field);
  Result<std::span<const uint8_t>> bytes(size_t count, const char* field);
  // A TPM2B: 16-bit size, then that many bytes.
  Result<std::span<const uint8_t>> sized(const char* field);
  size_t remaining() const { return bytes_.size() - offset_; }
  size_t offset() const { return offset_; }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
};

class ByteWriter {
 public:
  void u16(uint16_t value);
  void u32(uint32_t value);
  void bytes(std::span<const uint8_t> data);
  // A TPM2B; false (nothing written) when data does not fit in 16 bits.
  bool sized(std::span<const uint8_t> data);
  const std::vector<uint8_t>& data() const { return data_; }
  std::vector<uint8_t> take() { return std::move(data_); }

 private:
  std::vector<uint8_t> data_;
};

// TPM_ALG_ID of a hash (sha1 0x0004, sha256 0x000b, sha384 0x000c, sha512 0x000d, sm3 0x0012).
std::optional<crypto::HashAlgo> hash_from_tpm_alg(uint16_t alg);
std::optional<uint16_t> tpm_alg_from_hash(crypto::HashAlgo algo);

}  // namespace vigil::tpm
