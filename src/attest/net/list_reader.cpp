#include "attest/net/list_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/unique_fd.h"

namespace vigil::attest {
namespace {

constexpr size_t kMaxTemplateNameSize = 64;

uint32_t native_u32(const uint8_t* bytes) {
  uint32_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

}  // namespace

Result<size_t> binary_record_length(std::span<const uint8_t> bytes) {
  // pcr (u32), SHA-1 template hash (20), template name length (u32), name, then either the
  // `ima` template's fixed fields or a u32 template data length and the data.
  size_t offset = 4 + 20;
  if (bytes.size() < offset + 4) return 0;
  const uint32_t name_length = native_u32(bytes.data() + offset);
  offset += 4;
  if (name_length == 0 || name_length > kMaxTemplateNameSize) return fail("bad template name length");
  if (bytes.size() < offset + name_length) return 0;
  const std::string_view name(reinterpret_cast<const char*>(bytes.data() + offset), name_length);
  offset += name_length;
  if (name == "ima") {
    offset += 20;  // the SHA-1 file digest
    if (bytes.size() < offset + 4) return 0;
    const uint32_t path_length = native_u32(bytes.data() + offset);
    offset += 4;
    if (path_length > ima::kImaEventNameMax + 1) return fail("bad `ima` name length");
    offset += path_length;
  } else {
    if (bytes.size() < offset + 4) return 0;
    const uint32_t data_length = native_u32(bytes.data() + offset);
    offset += 4;
    if (data_length > ima::kMaxTemplateDataSize) return fail("template data too long");
    offset += data_length;
  }
  return bytes.size() < offset ? 0 : offset;
}

Result<std::vector<uint8_t>> IncrementalListReader::read_tail(int fd, uint64_t from) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return fail_errno(path_);
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  std::vector<uint8_t> bytes(size > from ? size - from : 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(from + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail_errno("read " + path_);
    }
    if (got == 0) break;  // shrank meanwhile: the next read notices
    done += static_cast<size_t>(got);
  }
  bytes.resize(done);
  bytes_read_ += done;
  return bytes;
}

Result<std::vector<ima::MeasurementEntry>> IncrementalListReader::read_from(uint64_t start) {
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail_errno("cannot open " + path_);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return fail_errno(path_);
  if (static_cast<uint64_t>(info.st_size) < indexed_end_ || info.st_dev != device_ || info.st_ino != inode_) {
    offsets_.clear();  // a shorter file, or another file, is a new list
    indexed_end_ = 0;
    device_ = info.st_dev;
    inode_ = info.st_ino;
  }
  const uint64_t first_index = std::min<uint64_t>(start, offsets_.size());
  const uint64_t first_offset = first_index < offsets_.size() ? offsets_[first_index] : indexed_end_;
  auto bytes = read_tail(fd.get(), first_offset);
  if (!bytes) return std::unexpected(bytes.error());

  size_t cursor = 0;
  size_t wanted_from = bytes->size();  // where entry `start` begins within bytes
  uint64_t index = first_index;
  if (index == start) wanted_from = 0;
  for (;;) {
    auto length = binary_record_length(std::span(*bytes).subspan(cursor));
    if (!length) {
      return fail(path_ + ": entry " + std::to_string(index) + " at byte " + std::to_string(first_offset + cursor) +
                  ": " + length.error().message);
    }
    if (*length == 0) break;
    if (index >= offsets_.size()) {
      offsets_.push_back(first_offset + cursor);
      indexed_end_ = first_offset + cursor + *length;
    }
    cursor += *length;
    ++index;
    if (index == start) wanted_from = cursor;
  }
  if (start > index) {
    return fail(path_ + ": the verifier asks for entries from " + std::to_string(start) + " but the list has " +
                std::to_string(index));
  }
  auto entries = ima::parse_binary_list(std::span(*bytes).subspan(wanted_from, cursor - wanted_from));
  if (!entries) return fail(path_ + " (from entry " + std::to_string(start) + "): " + entries.error().message);
  return entries;
}

}  // namespace vigil::attest
