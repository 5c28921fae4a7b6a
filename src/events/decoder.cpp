// Raw record -> Event. A record is untrusted bytes (a capture file can hold anything, and even
// live records are checked so an ABI mismatch shows up as counted errors, not misreadings):
// every field is read with memcpy at an offset checked against the record's length first.
// Adding a record type = a payload decoder (record_layouts.h) + one row in kLayouts.
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "event_header.h"
#include "events/event.h"
#include "events/record_layouts.h"
#include "process_events.h"
#include "syscall_events.h"

namespace vigil::events {
namespace detail {

std::string_view RecordReader::string_until_nul(std::size_t offset, std::size_t size) const noexcept {
  const auto* begin = reinterpret_cast<const char*>(record_.data() + offset);
  const void* nul = std::memchr(begin, '\0', size);
  return {begin, nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - begin) : size};
}

Failure read_sized_string(const RecordReader& in, std::uint32_t record_type, const SizedString& spec,
                          std::string_view& out) noexcept {
  const std::uint32_t size = in.u32(spec.size_offset);
  if (size > spec.capacity) {
    return error_at(DecodeErrorReason::length_out_of_range, record_type, spec.size_field, spec.size_offset, size,
                    spec.capacity);
  }
  if (size == 0) {
    out = {};
    return std::nullopt;
  }
  if (in.u8(spec.offset + size - 1) != 0) {
    return error_at(DecodeErrorReason::unterminated_string, record_type, spec.field, spec.offset, size,
                    spec.capacity);
  }
  out = in.string_until_nul(spec.offset, size);
  return std::nullopt;
}

Failure read_fixed_string(const RecordReader& in, std::uint32_t record_type, std::size_t offset, std::size_t capacity,
                          std::string_view field, std::string_view& out) noexcept {
  out = in.string_until_nul(offset, capacity);
  if (out.size() == capacity) {
    return error_at(DecodeErrorReason::unterminated_string, record_type, field, offset, capacity, capacity);
  }
  return std::nullopt;
}

namespace {

struct RecordLayout {
  std::uint32_t record_type;  // vigil_event_header.type
  std::string_view name;      // for messages
  std::size_t size;           // every record type has a fixed size
  Failure (*decode_payload)(const RecordReader& in, Event& out) noexcept;  // header already decoded
};

constexpr RecordLayout kLayouts[] = {
    {VIGIL_EVENT_EXEC, "exec", sizeof(vigil_exec_event), decode_exec_record},
    {VIGIL_EVENT_FORK, "fork", sizeof(vigil_fork_event), decode_fork_record},
    {VIGIL_EVENT_EXIT, "exit", sizeof(vigil_exit_event), decode_exit_record},
    {VIGIL_EVENT_SYSCALL_FILE, "syscall_file", sizeof(vigil_syscall_file_event), decode_syscall_file_record},
    {VIGIL_EVENT_SYSCALL_NET, "syscall_net", sizeof(vigil_syscall_net_event), decode_syscall_net_record},
    {VIGIL_EVENT_SYSCALL_CRED, "syscall_cred", sizeof(vigil_syscall_cred_event), decode_syscall_cred_record},
    {VIGIL_EVENT_SYSCALL_PROC, "syscall_proc", sizeof(vigil_syscall_proc_event), decode_syscall_proc_record},
    {VIGIL_EVENT_SYSCALL_EXEC, "syscall_exec", sizeof(vigil_syscall_exec_event), decode_syscall_exec_record},
    {VIGIL_EVENT_SYSCALL_IO, "syscall_io", sizeof(vigil_syscall_io_event), decode_syscall_io_record},
};

const RecordLayout* layout_of(std::uint32_t record_type) noexcept {
  for (const auto& layout : kLayouts) {
    if (layout.record_type == record_type) return &layout;
  }
  return nullptr;
}

}  // namespace

std::string_view record_type_name(std::uint32_t record_type) noexcept {
  const auto* layout = layout_of(record_type);
  return layout ? layout->name : "unknown";
}

}  // namespace detail

std::expected<Event, DecodeError> decode_record(std::span<const std::uint8_t> record) noexcept {
  using detail::error_at;
  const detail::RecordReader in(record);
  if (record.size() < sizeof(vigil_event_header)) {
    return std::unexpected(error_at(DecodeErrorReason::short_record, 0, "record", 0, record.size(),
                                    sizeof(vigil_event_header)));
  }
  const auto record_type = in.u32(offsetof(vigil_event_header, type));
  const auto claimed_size = in.u32(offsetof(vigil_event_header, size));
  if (claimed_size != record.size()) {
    return std::unexpected(error_at(claimed_size > record.size() ? DecodeErrorReason::short_record
                                                                 : DecodeErrorReason::size_mismatch,
                                    record_type, "header.size", offsetof(vigil_event_header, size), claimed_size,
                                    record.size()));
  }
  const auto* layout = detail::layout_of(record_type);
  if (layout == nullptr) {
    return std::unexpected(error_at(DecodeErrorReason::unknown_record_type, record_type, "header.type",
                                    offsetof(vigil_event_header, type), record_type, 0));
  }
  // An ABI-3 exec record (capture files of that version) lacks only the environment.
  const bool v3_exec = record_type == VIGIL_EVENT_EXEC && record.size() == VIGIL_EXEC_EVENT_V3_SIZE;
  if (record.size() != layout->size && !v3_exec) {
    return std::unexpected(
        error_at(DecodeErrorReason::wrong_record_size, record_type, "record", 0, record.size(), layout->size));
  }
  std::string_view comm;
  if (auto failure = detail::read_fixed_string(in, record_type, offsetof(vigil_event_header, comm), VIGIL_COMM_LEN,
                                               "header.comm", comm)) {
    return std::unexpected(*failure);
  }

  Event event;
  event.record_type = record_type;
  event.task.timestamp_ns = in.u64(offsetof(vigil_event_header, timestamp_ns));
  event.task.pid = in.u32(offsetof(vigil_event_header, pid));
  event.task.tid = in.u32(offsetof(vigil_event_header, tid));
  event.task.ppid = in.u32(offsetof(vigil_event_header, ppid));
  event.task.uid = in.u32(offsetof(vigil_event_header, uid));
  event.task.gid = in.u32(offsetof(vigil_event_header, gid));
  event.task.cgroup_id = in.u64(offsetof(vigil_event_header, cgroup_id));
  event.task.mnt_ns = in.u32(offsetof(vigil_event_header, mnt_ns));
  event.task.pid_ns = in.u32(offsetof(vigil_event_header, pid_ns));
  event.task.net_ns = in.u32(offsetof(vigil_event_header, net_ns));
  event.task.comm = comm;
  if (auto failure = layout->decode_payload(in, event)) return std::unexpected(*failure);
  return event;
}

Result<Event> decode(std::span<const std::uint8_t> record) {
  auto event = decode_record(record);
  if (!event) return fail(describe(event.error()));
  return *event;
}

std::string_view decode_error_reason_name(DecodeErrorReason reason) noexcept {
  switch (reason) {
    case DecodeErrorReason::short_record: return "short_record";
    case DecodeErrorReason::size_mismatch: return "size_mismatch";
    case DecodeErrorReason::unknown_record_type: return "unknown_record_type";
    case DecodeErrorReason::wrong_record_size: return "wrong_record_size";
    case DecodeErrorReason::length_out_of_range: return "length_out_of_range";
    case DecodeErrorReason::unterminated_string: return "unterminated_string";
    case DecodeErrorReason::unknown_syscall: return "unknown_syscall";
    case DecodeErrorReason::count_: break;
  }
  return "invalid";
}

std::string describe(const DecodeError& error) {
  const std::string_view kind = detail::record_type_name(error.record_type);
  switch (error.reason) {
    case DecodeErrorReason::short_record:
      if (error.field == "record") {
        return fmt::format("record: {} bytes, shorter than the {}-byte header", error.value, error.limit);
      }
      return fmt::format("{} record: {} at offset {} is {}, but the record has only {} bytes", kind, error.field,
                         error.offset, error.value, error.limit);
    case DecodeErrorReason::size_mismatch:
      return fmt::format("{} record: {} at offset {} is {}, but the record has {} bytes", kind, error.field,
                         error.offset, error.value, error.limit);
    case DecodeErrorReason::unknown_record_type:
      return fmt::format("record: {} at offset {} is {}, not a known record type", error.field, error.offset,
                         error.value);
    case DecodeErrorReason::wrong_record_size:
      return fmt::format("{} record: {} bytes, want {}", kind, error.value, error.limit);
    case DecodeErrorReason::length_out_of_range:
      return fmt::format("{} record: {} at offset {} is {}, exceeds {}", kind, error.field, error.offset,
                         error.value, error.limit);
    case DecodeErrorReason::unterminated_string:
      return fmt::format("{} record: {} at offset {} has no NUL within its {} valid bytes", kind, error.field,
                         error.offset, error.value);
    case DecodeErrorReason::unknown_syscall:
      return fmt::format("{} record: {} at offset {} is {}, not a syscall this record type carries", kind, error.field,
                         error.offset, error.value);
    case DecodeErrorReason::count_: break;
  }
  return fmt::format("{} record: invalid decode error", kind);
}

}  // namespace vigil::events
