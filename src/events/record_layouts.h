#pragma once
// Internal to the decoder: bounds-checked helpers to read fields out of a record, and the
// per-record-type payload decoders (process_records.cpp, syscall_records.cpp) that decoder.cpp
// lists in its layout table.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "events/event.h"

namespace vigil::events::detail {

// Reads fields of a record. Offsets passed here lie within the record: the layout table checked
// the record's length against the type's size before any payload decoder runs.
class RecordReader {
 public:
  explicit RecordReader(std::span<const std::uint8_t> record) noexcept : record_(record) {}

  std::uint8_t u8(std::size_t offset) const noexcept { return record_[offset]; }
  std::uint16_t u16(std::size_t offset) const noexcept { return load<std::uint16_t>(offset); }
  std::uint32_t u32(std::size_t offset) const noexcept { return load<std::uint32_t>(offset); }
  std::uint64_t u64(std::size_t offset) const noexcept { return load<std::uint64_t>(offset); }
  std::int32_t i32(std::size_t offset) const noexcept { return load<std::int32_t>(offset); }
  std::int64_t i64(std::size_t offset) const noexcept { return load<std::int64_t>(offset); }
  std::size_t size() const noexcept { return record_.size(); }

  std::span<const std::uint8_t> bytes(std::size_t offset, std::size_t size) const noexcept {
    return record_.subspan(offset, size);
  }
  std::string_view chars(std::size_t offset, std::size_t size) const noexcept {
    return {reinterpret_cast<const char*>(record_.data() + offset), size};
  }
  // The string at offset: up to its first NUL, or all `size` bytes when there is none.
  std::string_view string_until_nul(std::size_t offset, std::size_t size) const noexcept;

 private:
  template <class T>
  T load(std::size_t offset) const noexcept {
    T value;
    std::memcpy(&value, record_.data() + offset, sizeof value);
    return value;
  }

  std::span<const std::uint8_t> record_;
};

using Failure = std::optional<DecodeError>;

inline DecodeError error_at(DecodeErrorReason reason, std::uint32_t record_type, std::string_view field,
                            std::size_t offset, std::uint64_t value, std::uint64_t limit) noexcept {
  return DecodeError{reason, record_type, field, offset, value, limit};
}

// A char array with a "valid bytes, NUL included" size field (0: no string): the size must not
// exceed the array and, when not 0, its last valid byte must be the NUL. `field` names the
// array; the size field is reported as `size_field`.
struct SizedString {
  std::size_t size_offset;
  std::string_view size_field;
  std::size_t offset;
  std::string_view field;
  std::size_t capacity;
};
Failure read_sized_string(const RecordReader& in, std::uint32_t record_type, const SizedString& spec,
                          std::string_view& out) noexcept;

// A NUL-terminated char array without size field (comm, fstype): the NUL must be inside it.
Failure read_fixed_string(const RecordReader& in, std::uint32_t record_type, std::size_t offset, std::size_t capacity,
                          std::string_view field, std::string_view& out) noexcept;

// Payload decoders: the header (TaskContext) is already in `out`.
// A struct vigil_creds at `offset` (syscall_records.cpp).
Credentials read_credentials(const RecordReader& in, std::size_t offset) noexcept;

Failure decode_exec_record(const RecordReader& in, Event& out) noexcept;
Failure decode_fork_record(const RecordReader& in, Event& out) noexcept;
Failure decode_exit_record(const RecordReader& in, Event& out) noexcept;
Failure decode_syscall_file_record(const RecordReader& in, Event& out) noexcept;
Failure decode_syscall_net_record(const RecordReader& in, Event& out) noexcept;
Failure decode_syscall_cred_record(const RecordReader& in, Event& out) noexcept;
Failure decode_syscall_proc_record(const RecordReader& in, Event& out) noexcept;
Failure decode_syscall_exec_record(const RecordReader& in, Event& out) noexcept;

// "exec", "fork", "syscall_file", ... for messages.
std::string_view record_type_name(std::uint32_t record_type) noexcept;

}  // namespace vigil::events::detail
