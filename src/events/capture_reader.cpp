// Streaming reader of capture files. Lengths come from the file, so each is checked against
// kCaptureMaxRecordBytes before any buffer grows, and against what is left before a record is
// handed out: a cut-off tail becomes an error naming its offset, never a read past the data.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "event_header.h"
#include "events/capture_file.h"
#include "events/capture_format.h"

namespace vigil::events {
namespace {

constexpr std::size_t kReadChunkBytes = 256 * 1024;

}  // namespace

Result<CaptureReader> CaptureReader::open(const std::string& path) {
  CaptureReader reader;
  reader.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (reader.fd_ < 0) return fail_errno("open capture file " + path);
  reader.buffer_.resize(kReadChunkBytes);
  return start(std::move(reader), path);
}

Result<CaptureReader> CaptureReader::from_memory(std::span<const std::uint8_t> bytes) {
  CaptureReader reader;
  reader.memory_ = bytes;
  reader.window_end_ = bytes.size();
  return start(std::move(reader), "(memory)");
}

Result<CaptureReader> CaptureReader::start(CaptureReader reader, const std::string& name) {
  using namespace capture_format;
  reader.name_ = name;
  auto have_header = reader.fill(kCaptureHeaderBytes);
  if (!have_header) return std::unexpected(have_header.error());
  const std::size_t available = reader.window_end_ - reader.window_begin_;
  if (!*have_header) {
    return fail(fmt::format("{}: not a vigil capture file ({} bytes, shorter than the {}-byte header)", name,
                            available, kCaptureHeaderBytes));
  }
  const std::uint8_t* header = reader.data() + reader.window_begin_;
  if (std::memcmp(header + kMagicOffset, kMagic, sizeof kMagic) != 0) {
    return fail(name + ": not a vigil capture file (bad magic)");
  }
  CaptureHeader& parsed = reader.header_;
  parsed.format_version = get_u32(header + kFormatVersionOffset);
  const std::uint32_t header_size = get_u32(header + kHeaderSizeOffset);
  parsed.abi_version = get_u32(header + kAbiVersionOffset);
  parsed.machine = get_u32(header + kMachineOffset);
  parsed.anchor.boot_ns = get_u64(header + kAnchorBootOffset);
  parsed.anchor.wall_ns = static_cast<std::int64_t>(get_u64(header + kAnchorWallOffset));
  if (parsed.format_version != kCaptureFormatVersion) {
    return fail(fmt::format("{}: capture format version {}, this vigil reads version {}", name,
                            parsed.format_version, kCaptureFormatVersion));
  }
  if (header_size < kCaptureHeaderBytes || header_size > kMaxHeaderBytes) {
    return fail(fmt::format("{}: header size {} at offset {} is outside {}..{}", name, header_size,
                            kHeaderSizeOffset, kCaptureHeaderBytes, kMaxHeaderBytes));
  }
  if (parsed.abi_version < VIGIL_ABI_VERSION_OLDEST_READ || parsed.abi_version > VIGIL_ABI_VERSION) {
    return fail(fmt::format("{}: recorded with eBPF ABI version {}, this vigil decodes versions {} to {}", name,
                            parsed.abi_version, VIGIL_ABI_VERSION_OLDEST_READ, VIGIL_ABI_VERSION));
  }
  if (parsed.machine != this_machine()) {
    return fail(fmt::format("{}: recorded on ELF machine {}, this vigil runs on {} (syscall numbers differ)", name,
                            parsed.machine, this_machine()));
  }
  auto have_full_header = reader.fill(header_size);
  if (!have_full_header) return std::unexpected(have_full_header.error());
  if (!*have_full_header) return fail(fmt::format("{}: truncated inside its {}-byte header", name, header_size));
  reader.window_begin_ += header_size;
  reader.offset_ = header_size;
  return reader;
}

CaptureReader::CaptureReader(CaptureReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      name_(std::move(other.name_)),
      memory_(other.memory_),
      buffer_(std::move(other.buffer_)),
      window_begin_(other.window_begin_),
      window_end_(other.window_end_),
      offset_(other.offset_),
      finished_(other.finished_),
      header_(other.header_) {}

CaptureReader& CaptureReader::operator=(CaptureReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
    memory_ = other.memory_;
    buffer_ = std::move(other.buffer_);
    window_begin_ = other.window_begin_;
    window_end_ = other.window_end_;
    offset_ = other.offset_;
    finished_ = other.finished_;
    header_ = other.header_;
  }
  return *this;
}

CaptureReader::~CaptureReader() {
  if (fd_ >= 0) ::close(fd_);
}

Result<bool> CaptureReader::fill(std::size_t count) {
  if (window_end_ - window_begin_ >= count) return true;
  if (fd_ < 0) return false;  // memory: nothing more will come
  // Move the unread bytes to the front, grow for the request (bounded by the callers' checks),
  // then read until enough arrived or the file ends.
  const std::size_t unread = window_end_ - window_begin_;
  std::memmove(buffer_.data(), buffer_.data() + window_begin_, unread);
  window_begin_ = 0;
  window_end_ = unread;
  if (buffer_.size() < count) buffer_.resize(count);
  while (window_end_ < count) {
    const ssize_t n = ::read(fd_, buffer_.data() + window_end_, buffer_.size() - window_end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("read capture file {} at offset {}", name_, offset_ + window_end_));
    }
    if (n == 0) return false;
    window_end_ += static_cast<std::size_t>(n);
  }
  return true;
}

Result<std::optional<std::span<const std::uint8_t>>> CaptureReader::next() {
  using namespace capture_format;
  if (finished_) return std::nullopt;
  auto have_length = fill(kLengthPrefixBytes);
  if (!have_length) {
    finished_ = true;
    return std::unexpected(have_length.error());
  }
  if (!*have_length) {
    finished_ = true;
    const std::size_t partial = window_end_ - window_begin_;
    if (partial == 0) return std::nullopt;  // clean end
    return fail(fmt::format("{}: truncated at offset {}: {} of the {} bytes of a record length", name_, offset_,
                            partial, kLengthPrefixBytes));
  }
  const std::uint32_t length = get_u32(data() + window_begin_);
  if (length > kCaptureMaxRecordBytes) {
    finished_ = true;
    return fail(fmt::format("{}: record at offset {} claims {} bytes, more than the format's {}", name_, offset_,
                            length, kCaptureMaxRecordBytes));
  }
  auto have_record = fill(kLengthPrefixBytes + length);
  if (!have_record) {
    finished_ = true;
    return std::unexpected(have_record.error());
  }
  if (!*have_record) {
    finished_ = true;
    return fail(fmt::format("{}: truncated at offset {}: record of {} bytes, only {} present", name_, offset_, length,
                            window_end_ - window_begin_ - kLengthPrefixBytes));
  }
  const std::span<const std::uint8_t> record(data() + window_begin_ + kLengthPrefixBytes, length);
  window_begin_ += kLengthPrefixBytes + length;
  offset_ += kLengthPrefixBytes + length;
  return record;
}

}  // namespace vigil::events
