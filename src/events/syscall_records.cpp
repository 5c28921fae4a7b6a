// Payloads of the syscall records (bpf/abi/syscall_events.h). Each starts by checking that its
// syscall_nr is one its record type carries, so event.type always matches the payload.
#include <sys/socket.h>

#include <cstddef>

#include "events/record_layouts.h"
#include "syscall_events.h"

namespace vigil::events::detail {
namespace {

constexpr std::size_t kCommonOffset = offsetof(vigil_syscall_file_event, sc);
static_assert(offsetof(vigil_syscall_net_event, sc) == kCommonOffset &&
              offsetof(vigil_syscall_cred_event, sc) == kCommonOffset &&
              offsetof(vigil_syscall_proc_event, sc) == kCommonOffset &&
              offsetof(vigil_syscall_exec_event, sc) == kCommonOffset);
constexpr std::size_t kNrOffset = kCommonOffset + offsetof(vigil_syscall_common, syscall_nr);
constexpr std::size_t kFlagsOffset = kCommonOffset + offsetof(vigil_syscall_common, flags);
constexpr std::size_t kRetOffset = kCommonOffset + offsetof(vigil_syscall_common, ret);

Failure decode_common(const RecordReader& in, std::uint32_t record_type, Event& out) noexcept {
  const std::uint32_t nr = in.u32(kNrOffset);
  const EventType type = event_type_of_syscall(nr);
  if (type == EventType::unknown || record_type_of(type) != record_type) {
    return error_at(DecodeErrorReason::unknown_syscall, record_type, "sc.syscall_nr", kNrOffset, nr, 0);
  }
  out.type = type;
  out.syscall.nr = nr;
  out.syscall.flags = in.u32(kFlagsOffset);
  out.syscall.ret = in.i64(kRetOffset);
  out.syscall.no_enter = (out.syscall.flags & VIGIL_SYSCALL_NO_ENTER) != 0;
  out.syscall.killed_in_kernel = (out.syscall.flags & VIGIL_SYSCALL_KILLED) != 0;
  return std::nullopt;
}

bool has(std::uint32_t flags, std::uint32_t bit) noexcept { return (flags & bit) != 0; }

struct SockaddrFields {
  std::size_t offset;  // of the vigil_sockaddr in the record
  std::string_view unix_path_size_field;
  std::string_view unix_path_field;
};

Failure read_sockaddr(const RecordReader& in, const SockaddrFields& fields, SocketAddress& out) noexcept {
  constexpr std::uint32_t type = VIGIL_EVENT_SYSCALL_NET;
  out.family = in.u16(fields.offset + offsetof(vigil_sockaddr, family));
  out.port = in.u16(fields.offset + offsetof(vigil_sockaddr, port));
  const std::size_t addr_offset = fields.offset + offsetof(vigil_sockaddr, addr);
  if (out.family == AF_INET) out.addr = in.bytes(addr_offset, 4);
  if (out.family == AF_INET6) out.addr = in.bytes(addr_offset, 16);
  const std::size_t size_offset = fields.offset + offsetof(vigil_sockaddr, unix_path_size);
  const std::uint32_t unix_path_size = in.u32(size_offset);
  if (unix_path_size > VIGIL_SOCKADDR_UNIX_MAX) {
    return error_at(DecodeErrorReason::length_out_of_range, type, fields.unix_path_size_field, size_offset,
                    unix_path_size, VIGIL_SOCKADDR_UNIX_MAX);
  }
  if (out.family == AF_UNIX && unix_path_size > 0) {
    const std::size_t path_offset = fields.offset + offsetof(vigil_sockaddr, unix_path);
    // Abstract names (leading NUL) are binary: keep every byte. Paths end at their NUL.
    out.unix_path = in.u8(path_offset) == 0 ? in.chars(path_offset, unix_path_size)
                                            : in.string_until_nul(path_offset, unix_path_size);
  }
  return std::nullopt;
}


}  // namespace

Credentials read_credentials(const RecordReader& in, std::size_t offset) noexcept {
  Credentials creds;
  creds.uid = in.u32(offset + offsetof(vigil_creds, uid));
  creds.euid = in.u32(offset + offsetof(vigil_creds, euid));
  creds.suid = in.u32(offset + offsetof(vigil_creds, suid));
  creds.fsuid = in.u32(offset + offsetof(vigil_creds, fsuid));
  creds.gid = in.u32(offset + offsetof(vigil_creds, gid));
  creds.egid = in.u32(offset + offsetof(vigil_creds, egid));
  creds.sgid = in.u32(offset + offsetof(vigil_creds, sgid));
  creds.fsgid = in.u32(offset + offsetof(vigil_creds, fsgid));
  creds.cap_effective = in.u64(offset + offsetof(vigil_creds, cap_effective));
  creds.cap_permitted = in.u64(offset + offsetof(vigil_creds, cap_permitted));
  creds.cap_inheritable = in.u64(offset + offsetof(vigil_creds, cap_inheritable));
  return creds;
}

Failure decode_syscall_file_record(const RecordReader& in, Event& out) noexcept {
  using R = vigil_syscall_file_event;
  constexpr std::uint32_t type = VIGIL_EVENT_SYSCALL_FILE;
  if (auto failure = decode_common(in, type, out)) return failure;
  FilePayload file;
  if (auto failure = read_sized_string(in, type,
                                       {offsetof(R, path_size), "file.path_size", offsetof(R, path), "file.path",
                                        VIGIL_SYSCALL_PATH_MAX},
                                       file.path)) {
    return failure;
  }
  if (auto failure = read_sized_string(in, type,
                                       {offsetof(R, path2_size), "file.path2_size", offsetof(R, path2), "file.path2",
                                        VIGIL_SYSCALL_PATH_MAX},
                                       file.path2)) {
    return failure;
  }
  if (auto failure = read_fixed_string(in, type, offsetof(R, fstype), VIGIL_FSTYPE_MAX, "file.fstype", file.fstype)) {
    return failure;
  }
  file.dirfd = in.i32(offsetof(R, dirfd));
  file.dirfd2 = in.i32(offsetof(R, dirfd2));
  file.fd = in.i32(offsetof(R, fd));
  file.mode = in.u32(offsetof(R, mode));
  file.open_flags = in.u64(offsetof(R, open_flags));
  file.resolve = in.u64(offsetof(R, resolve));
  file.at_flags = in.u32(offsetof(R, at_flags));
  file.uid = in.u32(offsetof(R, uid));
  file.gid = in.u32(offsetof(R, gid));
  file.dev = in.u32(offsetof(R, dev));
  file.ino = in.u64(offsetof(R, ino));
  const std::uint32_t flags = out.syscall.flags;
  file.path_truncated = has(flags, VIGIL_SYSCALL_PATH_TRUNCATED);
  file.path_unreadable = has(flags, VIGIL_SYSCALL_PATH_UNREADABLE);
  file.path2_truncated = has(flags, VIGIL_SYSCALL_PATH2_TRUNCATED);
  file.path2_unreadable = has(flags, VIGIL_SYSCALL_PATH2_UNREADABLE);
  out.payload = file;
  return std::nullopt;
}

Failure decode_syscall_net_record(const RecordReader& in, Event& out) noexcept {
  using R = vigil_syscall_net_event;
  if (auto failure = decode_common(in, VIGIL_EVENT_SYSCALL_NET, out)) return failure;
  NetPayload net;
  if (auto failure = read_sockaddr(in, {offsetof(R, local), "net.local.unix_path_size", "net.local.unix_path"},
                                   net.local)) {
    return failure;
  }
  if (auto failure = read_sockaddr(in, {offsetof(R, remote), "net.remote.unix_path_size", "net.remote.unix_path"},
                                   net.remote)) {
    return failure;
  }
  net.fd = in.i32(offsetof(R, fd));
  net.domain = in.i32(offsetof(R, domain));
  net.type = in.i32(offsetof(R, type));
  net.protocol = in.i32(offsetof(R, protocol));
  net.backlog = in.i32(offsetof(R, backlog));
  net.accept_flags = in.u32(offsetof(R, accept_flags));
  net.addr_unreadable = has(out.syscall.flags, VIGIL_SYSCALL_ADDR_UNREADABLE);
  out.payload = net;
  return std::nullopt;
}

Failure decode_syscall_cred_record(const RecordReader& in, Event& out) noexcept {
  using R = vigil_syscall_cred_event;
  if (auto failure = decode_common(in, VIGIL_EVENT_SYSCALL_CRED, out)) return failure;
  CredPayload cred;
  cred.old_creds = read_credentials(in, offsetof(R, old_creds));
  cred.new_creds = read_credentials(in, offsetof(R, new_creds));
  for (std::size_t i = 0; i < 3; ++i) cred.id_args[i] = in.u32(offsetof(R, id_args) + 4 * i);
  cred.cap_version = in.u32(offsetof(R, cap_version));
  cred.cap_pid = in.i32(offsetof(R, cap_pid));
  cred.cap_effective_arg = in.u64(offsetof(R, cap_effective_arg));
  cred.cap_permitted_arg = in.u64(offsetof(R, cap_permitted_arg));
  cred.cap_inheritable_arg = in.u64(offsetof(R, cap_inheritable_arg));
  out.payload = cred;
  return std::nullopt;
}

Failure decode_syscall_proc_record(const RecordReader& in, Event& out) noexcept {
  using R = vigil_syscall_proc_event;
  constexpr std::uint32_t type = VIGIL_EVENT_SYSCALL_PROC;
  if (auto failure = decode_common(in, type, out)) return failure;
  ProcPayload proc;
  if (auto failure = read_sized_string(
          in, type, {offsetof(R, str_size), "proc.str_size", offsetof(R, str), "proc.str", VIGIL_SYSCALL_STR_MAX},
          proc.str)) {
    return failure;
  }
  for (std::size_t i = 0; i < 6; ++i) proc.args[i] = in.u64(offsetof(R, args) + 8 * i);
  proc.ino = in.u64(offsetof(R, ino));
  proc.dev = in.u32(offsetof(R, dev));
  proc.bpf_type = in.u32(offsetof(R, bpf_type));
  proc.fd_kind = in.u32(offsetof(R, fd_kind));
  proc.str_truncated = has(out.syscall.flags, VIGIL_SYSCALL_PATH_TRUNCATED);
  proc.str_unreadable = has(out.syscall.flags, VIGIL_SYSCALL_PATH_UNREADABLE);
  out.payload = proc;
  return std::nullopt;
}

Failure decode_syscall_exec_record(const RecordReader& in, Event& out) noexcept {
  using R = vigil_syscall_exec_event;
  constexpr std::uint32_t type = VIGIL_EVENT_SYSCALL_EXEC;
  if (auto failure = decode_common(in, type, out)) return failure;
  const auto args_size = in.u32(offsetof(R, args_size));
  if (args_size > VIGIL_SYSCALL_ARGS_MAX) {
    return error_at(DecodeErrorReason::length_out_of_range, type, "syscall_exec.args_size", offsetof(R, args_size),
                    args_size, VIGIL_SYSCALL_ARGS_MAX);
  }
  ExecPayload exec;
  if (auto failure = read_sized_string(in, type,
                                       {offsetof(R, filename_size), "syscall_exec.filename_size", offsetof(R, filename),
                                        "syscall_exec.filename", VIGIL_SYSCALL_PATH_MAX},
                                       exec.filename)) {
    return failure;
  }
  exec.args = ArgList(in.chars(offsetof(R, args), args_size));
  exec.argc = in.u32(offsetof(R, argc));
  exec.exe_ino = in.u64(offsetof(R, exe_ino));
  exec.exe_dev = in.u32(offsetof(R, exe_dev));
  exec.env_size = in.u64(offsetof(R, env_size));
  exec.dirfd = in.i32(offsetof(R, dirfd));
  exec.at_flags = in.u32(offsetof(R, at_flags));
  const std::uint32_t flags = out.syscall.flags;
  exec.filename_truncated = has(flags, VIGIL_SYSCALL_PATH_TRUNCATED);
  exec.args_truncated = has(flags, VIGIL_SYSCALL_ARGS_TRUNCATED);
  exec.args_unreadable = has(flags, VIGIL_SYSCALL_ARGS_UNREADABLE);
  out.payload = exec;
  return std::nullopt;
}

}  // namespace vigil::events::detail
