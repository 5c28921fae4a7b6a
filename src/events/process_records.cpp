// Payloads of the process lifecycle records (bpf/abi/process_events.h).
#include <cstddef>

#include "events/record_layouts.h"
#include "process_events.h"

namespace vigil::events::detail {

Failure decode_exec_record(const RecordReader& in, Event& out) noexcept {
  constexpr std::uint32_t type = VIGIL_EVENT_EXEC;
  const auto args_size = in.u32(offsetof(vigil_exec_event, args_size));
  if (args_size > VIGIL_EXEC_ARGS_MAX) {
    return error_at(DecodeErrorReason::length_out_of_range, type, "exec.args_size",
                    offsetof(vigil_exec_event, args_size), args_size, VIGIL_EXEC_ARGS_MAX);
  }
  ExecPayload exec;
  // The ABI guarantees a filename here (1..256 bytes, NUL included), so 0 is an error too.
  if (auto failure = read_sized_string(in, type,
                                       {offsetof(vigil_exec_event, filename_size), "exec.filename_size",
                                        offsetof(vigil_exec_event, filename), "exec.filename", VIGIL_EXEC_FILENAME_MAX},
                                       exec.filename)) {
    return failure;
  }
  if (in.u32(offsetof(vigil_exec_event, filename_size)) == 0) {
    return error_at(DecodeErrorReason::unterminated_string, type, "exec.filename", offsetof(vigil_exec_event, filename),
                    0, VIGIL_EXEC_FILENAME_MAX);
  }
  const auto flags = in.u32(offsetof(vigil_exec_event, flags));
  exec.args = ArgList(in.chars(offsetof(vigil_exec_event, args), args_size));
  exec.argc = in.u32(offsetof(vigil_exec_event, argc));
  exec.exe_ino = in.u64(offsetof(vigil_exec_event, exe_ino));
  exec.exe_dev = in.u32(offsetof(vigil_exec_event, exe_dev));
  exec.env_size = in.u32(offsetof(vigil_exec_event, env_size));
  exec.filename_truncated = (flags & VIGIL_EXEC_FILENAME_TRUNCATED) != 0;
  exec.args_truncated = (flags & VIGIL_EXEC_ARGS_TRUNCATED) != 0;
  exec.args_unreadable = (flags & VIGIL_EXEC_ARGS_UNREADABLE) != 0;
  exec.exe_upper_layer = (flags & VIGIL_EXEC_EXE_UPPER_LAYER) != 0;
  out.type = EventType::procexec;
  out.payload = exec;
  return std::nullopt;
}

Failure decode_fork_record(const RecordReader& in, Event& out) noexcept {
  out.type = EventType::fork;
  out.payload = ForkPayload{in.u32(offsetof(vigil_fork_event, child_pid)), in.u32(offsetof(vigil_fork_event, child_tid))};
  return std::nullopt;
}

Failure decode_exit_record(const RecordReader& in, Event& out) noexcept {
  out.type = EventType::procexit;
  out.payload = ExitPayload{in.u32(offsetof(vigil_exit_event, exit_code))};
  return std::nullopt;
}

}  // namespace vigil::events::detail
