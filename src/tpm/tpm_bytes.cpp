#include "tpm/tpm_bytes.h"

namespace vigil::tpm {

namespace {

struct HashMapping {
  uint16_t tpm;
  crypto::HashAlgo algo;
};
constexpr HashMapping kHashes[] = {
    {0x0004, crypto::HashAlgo::sha1},   {0x000b, crypto::HashAlgo::sha256}, {0x000c, crypto::HashAlgo::sha384},
    {0x000d, crypto::HashAlgo::sha512}, {0x0012, crypto::HashAlgo::sm3},
};

std::unexpected<Error> truncated(const char* field, size_t want, size_t have) {
  return fail(std::string(field) + ": truncated (needs " + std::to_string(want) + " bytes, " + std::to_string(have) +
              " left)");
}

}  // namespace

Result<std::span<const uint8_t>> ByteReader::bytes(size_t count, const char* field) {
  if (count > remaining()) return truncated(field, count, remaining());
  const auto out = bytes_.subspan(offset_, count);
  offset_ += count;
  return out;
}

Result<uint8_t> ByteReader::u8(const char* field) {
  auto raw = bytes(1, field);
  if (!raw) return std::unexpected(raw.error());
  return (*raw)[0];
}

Result<uint16_t> ByteReader::u16(const char* field) {
  auto raw = bytes(2, field);
  if (!raw) return std::unexpected(raw.error());
  return static_cast<uint16_t>((*raw)[0] << 8 | (*raw)[1]);
}

Result<uint32_t> ByteReader::u32(const char* field) {
  auto raw = bytes(4, field);
  if (!raw) return std::unexpected(raw.error());
  uint32_t value = 0;
  for (uint8_t byte : *raw) value = value << 8 | byte;
  return value;
}

Result<uint64_t> ByteReader::u64(const char* field) {
  auto raw = bytes(8, field);
  if (!raw) return std::unexpected(raw.error());
  uint64_t value = 0;
  for (uint8_t byte : *raw) value = value << 8 | byte;
  return value;
}

Result<std::span<const uint8_t>> ByteReader::sized(const char* field) {
  auto size = u16(field);
  if (!size) return std::unexpected(size.error());
  return bytes(*size, field);
}

void ByteWriter::u16(uint16_t value) {
  data_.push_back(static_cast<uint8_t>(value >> 8));
  data_.push_back(static_cast<uint8_t>(value));
}

void ByteWriter::u32(uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) data_.push_back(static_cast<uint8_t>(value >> shift));
}

void ByteWriter::bytes(std::span<const uint8_t> data) { data_.insert(data_.end(), data.begin(), data.end()); }

bool ByteWriter::sized(std::span<const uint8_t> data) {
  if (data.size() > 0xffff) return false;
  u16(static_cast<uint16_t>(data.size()));
  bytes(data);
  return true;
}

std::optional<crypto::HashAlgo> hash_from_tpm_alg(uint16_t alg) {
  for (const auto& mapping : kHashes) {
    if (mapping.tpm == alg) return mapping.algo;
  }
  return std::nullopt;
}

std::optional<uint16_t> tpm_alg_from_hash(crypto::HashAlgo algo) {
  for (const auto& mapping : kHashes) {
    if (mapping.algo == algo) return mapping.tpm;
  }
  return std::nullopt;
}

}  // namespace vigil::tpm
