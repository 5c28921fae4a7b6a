// Buffered writes (one write(2) per ~256 KiB, not per record), fsync at close so a finished
// capture survives a crash.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "events/capture_file.h"
#include "events/capture_format.h"

namespace vigil::events {
namespace {

constexpr std::size_t kFlushBytes = 256 * 1024;

}  // namespace

Result<CaptureWriter> CaptureWriter::create(const std::string& path, const TimeAnchor& anchor) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("create capture file " + path);
  CaptureWriter writer(fd, path);
  writer.buffer_ = encode_capture_header(capture_header_for_this_host(anchor));
  if (auto flushed = writer.flush(); !flushed) return std::unexpected(flushed.error());
  return writer;
}

CaptureWriter::CaptureWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  buffer_.reserve(kFlushBytes + kCaptureMaxRecordBytes + capture_format::kLengthPrefixBytes);
}

CaptureWriter::CaptureWriter(CaptureWriter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      buffer_(std::move(other.buffer_)),
      records_(other.records_) {}

CaptureWriter& CaptureWriter::operator=(CaptureWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) (void)close();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    buffer_ = std::move(other.buffer_);
    records_ = other.records_;
  }
  return *this;
}

CaptureWriter::~CaptureWriter() {
  if (fd_ >= 0) (void)close();
}

Result<void> CaptureWriter::write(std::span<const std::uint8_t> record) {
  if (fd_ < 0) return fail("write capture file " + path_ + ": already closed");
  if (record.size() > kCaptureMaxRecordBytes) {
    return fail(fmt::format("write capture file {}: record of {} bytes exceeds the format's {}", path_,
                            record.size(), kCaptureMaxRecordBytes));
  }
  append_capture_record(buffer_, record);
  ++records_;
  if (buffer_.size() >= kFlushBytes) return flush();
  return {};
}

Result<void> CaptureWriter::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto error = fail_errno("write capture file " + path_);
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(done));  // never written twice
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return {};
}

Result<void> CaptureWriter::close() {
  if (fd_ < 0) return {};
  auto flushed = flush();
  // A pipe or terminal (-w /dev/stdout) cannot be fsynced: nothing to make durable there.
  if (flushed && ::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
    flushed = fail_errno("fsync capture file " + path_);
  }
  if (::close(std::exchange(fd_, -1)) != 0 && flushed) flushed = fail_errno("close capture file " + path_);
  return flushed;
}

}  // namespace vigil::events
