#pragma once
// Capture files (`vigil capture -w/-r`): a small header, then the raw ring-buffer records, each
// length-prefixed, exactly as the kernel wrote them, so a replay is decoded by the same
// decode_record() as the live run. The byte layout is in docs/capture.md. A capture file is
// untrusted input: the reader checks every length and reports a truncated tail as an error.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "events/time_anchor.h"

namespace vigil::events {

inline constexpr std::uint32_t kCaptureFormatVersion = 1;
inline constexpr std::size_t kCaptureHeaderBytes = 64;
// The largest record a reader accepts (and a writer writes): far above any ABI record, small
// enough that a lying length cannot make the reader allocate much.
inline constexpr std::uint32_t kCaptureMaxRecordBytes = 64 * 1024;

struct CaptureHeader {
  std::uint32_t format_version = kCaptureFormatVersion;
  std::uint32_t abi_version = 0;  // VIGIL_ABI_VERSION of the writer
  std::uint32_t machine = 0;      // ELF e_machine of the recording host (syscall numbers depend on it)
  TimeAnchor anchor;              // boot time <-> wall time when the capture started
};

// This host's header values (VIGIL_ABI_VERSION, e_machine) with the given anchor.
CaptureHeader capture_header_for_this_host(const TimeAnchor& anchor) noexcept;

// The exact bytes of a header and of a framed record (for the writer, tests and fuzz seeds).
std::vector<std::uint8_t> encode_capture_header(const CaptureHeader& header);
void append_capture_record(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> record);

class CaptureWriter {
 public:
  // Creates (or truncates) `path` with mode 0600 (records hold command lines) and writes the header.
  static Result<CaptureWriter> create(const std::string& path, const TimeAnchor& anchor);

  CaptureWriter(CaptureWriter&& other) noexcept;
  CaptureWriter& operator=(CaptureWriter&& other) noexcept;
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;
  ~CaptureWriter();  // closes without reporting errors: call close() to see them

  // Buffers one record (written when the buffer fills). Records over kCaptureMaxRecordBytes are
  // refused.
  Result<void> write(std::span<const std::uint8_t> record);
  // Writes what is buffered, fsyncs and closes. After close, write fails.
  Result<void> close();

  std::uint64_t records_written() const noexcept { return records_; }

 private:
  CaptureWriter(int fd, std::string path);
  Result<void> flush();

  int fd_ = -1;
  std::string path_;
  std::vector<std::uint8_t> buffer_;
  std::uint64_t records_ = 0;
};

class CaptureReader {
 public:
  // Opens a file and checks its header: magic, format version, ABI version and machine must be
  // ones this build decodes.
  static Result<CaptureReader> open(const std::string& path);
  // Reads from memory (not copied: `bytes` must outlive the reader). Same checks as open().
  static Result<CaptureReader> from_memory(std::span<const std::uint8_t> bytes);

  CaptureReader(CaptureReader&& other) noexcept;
  CaptureReader& operator=(CaptureReader&& other) noexcept;
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;
  ~CaptureReader();

  const CaptureHeader& header() const noexcept { return header_; }

  // The next record's bytes (valid until the next call), or nullopt at a clean end of file.
  // Errors (final: later calls return nullopt): a length over kCaptureMaxRecordBytes, a record or
  // length cut off by the end of the file ("truncated at offset N"), a read error.
  Result<std::optional<std::span<const std::uint8_t>>> next();

  // File offset of the next record's length prefix.
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  CaptureReader() = default;
  static Result<CaptureReader> start(CaptureReader reader, const std::string& name);
  // Makes `count` bytes available at window_; false at end of input (fewer are available).
  Result<bool> fill(std::size_t count);

  int fd_ = -1;                        // -1: reading from memory
  std::string name_;                   // for messages
  std::span<const std::uint8_t> memory_;  // from_memory input
  std::vector<std::uint8_t> buffer_;   // file input
  std::size_t window_begin_ = 0;       // unread bytes: [window_begin_, window_end_) of data()
  std::size_t window_end_ = 0;
  std::uint64_t offset_ = 0;
  bool finished_ = false;
  CaptureHeader header_;

  const std::uint8_t* data() const noexcept { return fd_ < 0 ? memory_.data() : buffer_.data(); }
};

}  // namespace vigil::events
