#pragma once
// Internal: the capture file's fixed header, byte by byte (docs/capture.md). Shared by the
// writer and the reader so both agree on every offset.
#include <cstddef>
#include <cstdint>
#include <span>

namespace vigil::events::capture_format {

inline constexpr std::uint8_t kMagic[8] = {'V', 'I', 'G', 'I', 'L', 'C', 'A', 'P'};
inline constexpr std::size_t kMagicOffset = 0;
inline constexpr std::size_t kFormatVersionOffset = 8;
inline constexpr std::size_t kHeaderSizeOffset = 12;
inline constexpr std::size_t kAbiVersionOffset = 16;
inline constexpr std::size_t kMachineOffset = 20;
inline constexpr std::size_t kAnchorBootOffset = 24;
inline constexpr std::size_t kAnchorWallOffset = 32;
// 40..63 reserved, written as zero, ignored by readers.
// A later format may grow the header (header_size); readers skip what they do not know, up to:
inline constexpr std::uint32_t kMaxHeaderBytes = 4096;
inline constexpr std::size_t kLengthPrefixBytes = 4;

// Little-endian, whatever the host (the header is read before anything else is known).
inline void put_u32(std::uint8_t* out, std::uint32_t value) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
inline void put_u64(std::uint8_t* out, std::uint64_t value) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
inline std::uint32_t get_u32(const std::uint8_t* in) noexcept {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}
inline std::uint64_t get_u64(const std::uint8_t* in) noexcept {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

// ELF e_machine of the architecture this binary was built for (syscall numbers follow it).
std::uint32_t this_machine() noexcept;

}  // namespace vigil::events::capture_format
