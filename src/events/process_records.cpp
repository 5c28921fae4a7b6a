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
  ExecKernelFacts& kernel = exec.kernel;
  // Component lists: every name NUL-terminated, so a non-empty list ends with one.
  const auto components = [&](std::size_t size_offset, const char* size_name, std::size_t offset, const char* name,
                              std::string_view& out_view) -> Failure {
    const auto size = in.u32(size_offset);
    if (size > VIGIL_EXEC_PATH_MAX) {
      return error_at(DecodeErrorReason::length_out_of_range, type, size_name, size_offset, size, VIGIL_EXEC_PATH_MAX);
    }
    out_view = in.chars(offset, size);
    if (!out_view.empty() && out_view.back() != '\0') {
      return error_at(DecodeErrorReason::unterminated_string, type, name, offset, size, VIGIL_EXEC_PATH_MAX);
    }
    return std::nullopt;
  };
  if (auto failure = components(offsetof(vigil_exec_event, exe_path_size), "exec.exe_path_size",
                                offsetof(vigil_exec_event, exe_path), "exec.exe_path", kernel.exe_path)) {
    return failure;
  }
  if (auto failure = components(offsetof(vigil_exec_event, cwd_size), "exec.cwd_size", offsetof(vigil_exec_event, cwd),
                                "exec.cwd", kernel.cwd)) {
    return failure;
  }
  kernel.creds = read_credentials(in, offsetof(vigil_exec_event, creds));
  kernel.exe_mtime_ns = in.u64(offsetof(vigil_exec_event, exe_mtime_ns));
  kernel.exe_ctime_ns = in.u64(offsetof(vigil_exec_event, exe_ctime_ns));
  kernel.vpid = in.u32(offsetof(vigil_exec_event, vpid));
  kernel.vpgid = in.u32(offsetof(vigil_exec_event, vpgid));
  kernel.vsid = in.u32(offsetof(vigil_exec_event, vsid));
  kernel.loginuid = in.u32(offsetof(vigil_exec_event, loginuid));
  for (std::size_t fd = 0; fd < 3; ++fd) {
    kernel.stdio_kind[fd] = in.u32(offsetof(vigil_exec_event, stdio_kind) + fd * sizeof(std::uint32_t));
  }
  kernel.exe_memfd = (flags & VIGIL_EXEC_EXE_MEMFD) != 0;
  kernel.exe_unlinked = (flags & VIGIL_EXEC_EXE_UNLINKED) != 0;
  kernel.exe_path_truncated = (flags & VIGIL_EXEC_EXE_PATH_TRUNCATED) != 0;
  kernel.exe_path_detached = (flags & VIGIL_EXEC_EXE_PATH_DETACHED) != 0;
  kernel.cwd_truncated = (flags & VIGIL_EXEC_CWD_TRUNCATED) != 0;
  kernel.cwd_detached = (flags & VIGIL_EXEC_CWD_DETACHED) != 0;
  exec.has_kernel_facts = (flags & VIGIL_EXEC_KERNEL_FACTS) != 0;
  out.type = EventType::procexec;
  out.payload = exec;
  return std::nullopt;
}

Failure decode_fork_record(const RecordReader& in, Event& out) noexcept {
  out.type = EventType::fork;
  out.payload = ForkPayload{in.u32(offsetof(vigil_fork_event, child_pid)), in.u32(offsetof(vigil_fork_event, child_tid)),
                            in.u32(offsetof(vigil_fork_event, child_vpid)),
                            in.u32(offsetof(vigil_fork_event, child_pid_ns))};
  return std::nullopt;
}

Failure decode_exit_record(const RecordReader& in, Event& out) noexcept {
  out.type = EventType::procexit;
  out.payload = ExitPayload{in.u32(offsetof(vigil_exit_event, exit_code))};
  return std::nullopt;
}

}  // namespace vigil::events::detail

namespace vigil::events {

void append_kernel_path(std::string_view components, bool deleted, std::string& out) {
  if (!components.empty() && components.back() == '\0') components.remove_suffix(1);
  if (components.empty()) {
    out.push_back('/');
  } else {
    // Names are NUL-separated, leaf first: emit them from the last one back.
    std::size_t end = components.size();
    for (;;) {
      std::size_t begin = end;
      while (begin > 0 && components[begin - 1] != '\0') --begin;
      out.push_back('/');
      out.append(components.substr(begin, end - begin));
      if (begin == 0) break;
      end = begin - 1;
    }
  }
  if (deleted) out.append(" (deleted)");
}

}  // namespace vigil::events
