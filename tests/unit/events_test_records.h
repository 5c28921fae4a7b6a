#pragma once
// Hand-built raw records (the bytes the eBPF programs write) for events_* tests.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "event_header.h"
#include "events/event.h"
#include "process_events.h"
#include "syscall_events.h"

namespace vigil::test {

template <class T>
std::vector<std::uint8_t> record_bytes(const T& record) {
  std::vector<std::uint8_t> bytes(sizeof(T));
  std::memcpy(bytes.data(), &record, sizeof(T));
  return bytes;
}

inline void fill_header(vigil_event_header& header, std::uint32_t type, std::uint32_t size, std::uint32_t pid,
                        std::string_view comm = "tester") {
  header.timestamp_ns = 1'000'000'000ull * 5 + 42;
  header.type = type;
  header.size = size;
  header.pid = pid;
  header.tid = pid + 1;
  header.ppid = 1;
  header.uid = 1000;
  header.gid = 1001;
  header.cgroup_id = 4242;
  header.mnt_ns = 4026531841u;
  header.pid_ns = 4026531836u;
  header.net_ns = 4026531840u;
  std::memset(header.comm, 0, sizeof header.comm);
  std::memcpy(header.comm, comm.data(), std::min(comm.size(), sizeof header.comm));
}

// argv strings back to back, each NUL-terminated.
inline std::string arg_area(std::initializer_list<std::string_view> args) {
  std::string area;
  for (auto arg : args) {
    area.append(arg);
    area.push_back('\0');
  }
  return area;
}

inline vigil_exec_event make_exec(std::uint32_t pid, std::string_view filename,
                                   std::initializer_list<std::string_view> args) {
  vigil_exec_event exec{};
  fill_header(exec.header, VIGIL_EVENT_EXEC, sizeof exec, pid, "ls");
  exec.exe_ino = 123456;
  exec.exe_dev = 0x803;
  exec.argc = static_cast<std::uint32_t>(args.size());
  const std::string area = arg_area(args);
  exec.args_size = static_cast<std::uint32_t>(area.size());
  std::memcpy(exec.args, area.data(), area.size());
  exec.filename_size = static_cast<std::uint32_t>(filename.size() + 1);
  std::memcpy(exec.filename, filename.data(), filename.size());
  return exec;
}

inline vigil_fork_event make_fork(std::uint32_t parent, std::uint32_t child) {
  vigil_fork_event fork{};
  fill_header(fork.header, VIGIL_EVENT_FORK, sizeof fork, parent, "bash");
  fork.child_pid = child;
  fork.child_tid = child;
  return fork;
}

inline vigil_exit_event make_exit(std::uint32_t pid, std::uint32_t status) {
  vigil_exit_event exit{};
  fill_header(exit.header, VIGIL_EVENT_EXIT, sizeof exit, pid, "ls");
  exit.exit_code = status;
  return exit;
}

inline vigil_syscall_file_event make_openat(std::uint32_t pid, std::string_view path, std::int64_t ret) {
  vigil_syscall_file_event file{};
  fill_header(file.header, VIGIL_EVENT_SYSCALL_FILE, sizeof file, pid, "cat");
  file.sc.syscall_nr = VIGIL_NR_openat;
  file.sc.ret = ret;
  file.dirfd = -100;
  file.dirfd2 = -100;
  file.fd = ret >= 0 ? static_cast<std::int32_t>(ret) : -1;
  file.open_flags = 0x80000;  // O_CLOEXEC
  file.ino = 777;
  file.dev = 0x803;
  file.path_size = static_cast<std::uint32_t>(path.size() + 1);
  std::memcpy(file.path, path.data(), path.size());
  return file;
}

inline vigil_syscall_net_event make_connect_v4(std::uint32_t pid, std::int32_t fd, std::uint8_t a, std::uint8_t b,
                                               std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  vigil_syscall_net_event net{};
  fill_header(net.header, VIGIL_EVENT_SYSCALL_NET, sizeof net, pid, "curl");
  net.sc.syscall_nr = VIGIL_NR_connect;
  net.sc.ret = 0;
  net.fd = fd;
  net.domain = 2;
  net.type = 1;
  net.remote.family = 2;  // AF_INET
  net.remote.port = port;
  net.remote.addr[0] = a;
  net.remote.addr[1] = b;
  net.remote.addr[2] = c;
  net.remote.addr[3] = d;
  return net;
}

inline vigil_syscall_cred_event make_setuid(std::uint32_t pid, std::uint32_t from, std::uint32_t to) {
  vigil_syscall_cred_event cred{};
  fill_header(cred.header, VIGIL_EVENT_SYSCALL_CRED, sizeof cred, pid, "su");
  cred.sc.syscall_nr = VIGIL_NR_setuid;
  cred.old_creds.uid = cred.old_creds.euid = from;
  cred.new_creds.uid = cred.new_creds.euid = to;
  cred.id_args[0] = to;
  return cred;
}

inline vigil_syscall_proc_event make_memfd(std::uint32_t pid, std::string_view name, std::int64_t fd) {
  vigil_syscall_proc_event proc{};
  fill_header(proc.header, VIGIL_EVENT_SYSCALL_PROC, sizeof proc, pid, "loader");
  proc.sc.syscall_nr = VIGIL_NR_memfd_create;
  proc.sc.ret = fd;
  proc.args[1] = 1;  // MFD_CLOEXEC
  proc.str_size = static_cast<std::uint32_t>(name.size() + 1);
  std::memcpy(proc.str, name.data(), name.size());
  return proc;
}

inline vigil_syscall_exec_event make_execve_syscall(std::uint32_t pid, std::string_view filename, std::int64_t ret,
                                                    std::initializer_list<std::string_view> args) {
  vigil_syscall_exec_event exec{};
  fill_header(exec.header, VIGIL_EVENT_SYSCALL_EXEC, sizeof exec, pid, "sh");
  exec.sc.syscall_nr = VIGIL_NR_execve;
  exec.sc.ret = ret;
  exec.dirfd = -100;
  exec.argc = static_cast<std::uint32_t>(args.size());
  const std::string area = arg_area(args);
  exec.args_size = static_cast<std::uint32_t>(area.size());
  std::memcpy(exec.args, area.data(), area.size());
  exec.filename_size = static_cast<std::uint32_t>(filename.size() + 1);
  std::memcpy(exec.filename, filename.data(), filename.size());
  return exec;
}

// A record's bytes together with its decoding: an Event only views its record, so tests keep
// both alive together (moving keeps the bytes' buffer, so the views stay valid).
class DecodedRecord {
 public:
  explicit DecodedRecord(std::vector<std::uint8_t> bytes)
      : bytes_(std::move(bytes)), event_(vigil::events::decode_record(bytes_)) {}
  DecodedRecord(DecodedRecord&&) = default;
  DecodedRecord& operator=(DecodedRecord&&) = default;
  DecodedRecord(const DecodedRecord&) = delete;
  DecodedRecord& operator=(const DecodedRecord&) = delete;

  explicit operator bool() const { return event_.has_value(); }
  const vigil::events::Event* operator->() const { return &*event_; }
  const vigil::events::Event& operator*() const { return *event_; }
  const vigil::events::DecodeError& error() const { return event_.error(); }

 private:
  std::vector<std::uint8_t> bytes_;
  std::expected<vigil::events::Event, vigil::events::DecodeError> event_;
};

}  // namespace vigil::test
