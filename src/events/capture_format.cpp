#include "events/capture_format.h"

#include <elf.h>

#include <cstring>

#include "event_header.h"
#include "events/capture_file.h"

namespace vigil::events {

namespace capture_format {

std::uint32_t this_machine() noexcept {
#if defined(__x86_64__)
  return EM_X86_64;
#elif defined(__aarch64__)
  return EM_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
  return EM_RISCV;
#elif defined(__s390x__)
  return EM_S390;
#elif defined(__powerpc64__)
  return EM_PPC64;
#else
#error "vigil capture files: add this architecture's ELF machine"
#endif
}

}  // namespace capture_format

CaptureHeader capture_header_for_this_host(const TimeAnchor& anchor) noexcept {
  return CaptureHeader{kCaptureFormatVersion, VIGIL_ABI_VERSION, capture_format::this_machine(), anchor};
}

std::vector<std::uint8_t> encode_capture_header(const CaptureHeader& header) {
  using namespace capture_format;
  std::vector<std::uint8_t> bytes(kCaptureHeaderBytes, 0);
  std::memcpy(bytes.data() + kMagicOffset, kMagic, sizeof kMagic);
  put_u32(bytes.data() + kFormatVersionOffset, header.format_version);
  put_u32(bytes.data() + kHeaderSizeOffset, static_cast<std::uint32_t>(kCaptureHeaderBytes));
  put_u32(bytes.data() + kAbiVersionOffset, header.abi_version);
  put_u32(bytes.data() + kMachineOffset, header.machine);
  put_u64(bytes.data() + kAnchorBootOffset, header.anchor.boot_ns);
  put_u64(bytes.data() + kAnchorWallOffset, static_cast<std::uint64_t>(header.anchor.wall_ns));
  return bytes;
}

void append_capture_record(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> record) {
  std::uint8_t length[capture_format::kLengthPrefixBytes];
  capture_format::put_u32(length, static_cast<std::uint32_t>(record.size()));
  out.insert(out.end(), length, length + sizeof length);
  out.insert(out.end(), record.begin(), record.end());
}

}  // namespace vigil::events
