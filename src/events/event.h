#pragma once
// vigil_events: the decoded event model. An Event is a typed, validated *view* of one raw
// ring-buffer record (bpf/abi/, docs/bpf.md): fixed-size fields are copied out, strings are
// std::string_views into the record bytes. Decoding never allocates, so an Event is valid only
// while the record bytes it was decoded from are (during a source's callback; copy what you
// keep). The decoder treats a record as untrusted bytes: every size, length and offset is
// checked against the record before use.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <iterator>
#include <span>
#include <string_view>
#include <variant>

#include "common/error.h"

namespace vigil::events {

// What happened, with Falco-style names (event_type_name). Syscall records (bpf/abi/
// syscall_events.h) take the type of their syscall_nr ("openat", "connect", "execve", ...); the
// process lifecycle records (bpf/abi/process_events.h) have their own: "procexec", "fork",
// "procexit". event.type decides which payload an Event holds (see Event). Adding a syscall: one
// enumerator here plus one row in event_types.cpp; a new record layout: one row in decoder.cpp.
enum class EventType : std::uint16_t {
  unknown = 0,  // never in a decoded Event (such records fail to decode); a "no such name" value
  // Process lifecycle records: ExecPayload, ForkPayload, ExitPayload.
  procexec,  // VIGIL_EVENT_EXEC: a successful exec, recorded after the new program loaded
  fork,      // VIGIL_EVENT_FORK: a new process (fork, vfork, clone, clone3; not threads)
  procexit,  // VIGIL_EVENT_EXIT: the last thread of a process exited
  // VIGIL_EVENT_SYSCALL_FILE: FilePayload
  open, creat, openat, openat2, unlink, unlinkat, rename, renameat, renameat2, chmod, fchmod,
  fchmodat, fchmodat2, chown, fchown, fchownat, lchown, mount, umount2, chdir, fchdir,
  // VIGIL_EVENT_SYSCALL_NET: NetPayload
  socket, connect, accept, accept4, bind, listen,
  // VIGIL_EVENT_SYSCALL_CRED: CredPayload
  setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, setfsgid, capset,
  // VIGIL_EVENT_SYSCALL_PROC: ProcPayload
  ptrace, kill, tkill, tgkill, unshare, setns, dup, dup2, dup3, close, memfd_create, mmap,
  mprotect, bpf, init_module, finit_module,
  // VIGIL_EVENT_SYSCALL_EXEC: ExecPayload (also failed calls: check syscall.ret)
  execve, execveat,
  count_  // not a type: number of enumerators
};
inline constexpr std::size_t kEventTypeCount = static_cast<std::size_t>(EventType::count_);

// "execve", "openat", ...; "unknown" for EventType::unknown or an out-of-range value.
std::string_view event_type_name(EventType type) noexcept;
// The inverse (exact, case-sensitive); EventType::unknown when no type has that name.
EventType event_type_from_name(std::string_view name) noexcept;
// The type of a syscall number as records carry it (x86_64 numbers, bpf/abi/syscall_nr.h);
// EventType::unknown when no probe captures that syscall.
EventType event_type_of_syscall(std::int64_t syscall_nr) noexcept;
// The inverse: the x86_64 number of a syscall type; -1 for unknown and the lifecycle types.
std::int64_t syscall_nr_of(EventType type) noexcept;
// The record type (enum vigil_event_type) that carries events of this type; 0 for unknown.
std::uint32_t record_type_of(EventType type) noexcept;

// The task the event happened in (the header of every record; docs/bpf.md has each field).
struct TaskContext {
  std::uint64_t timestamp_ns = 0;  // CLOCK_BOOTTIME; TimeAnchor (time_anchor.h) turns it into wall time
  std::uint32_t pid = 0;           // thread group id, initial pid namespace
  std::uint32_t tid = 0;           // thread id, initial pid namespace
  std::uint32_t ppid = 0;          // thread group id of the real parent
  std::uint32_t uid = 0;           // real uid, initial user namespace
  std::uint32_t gid = 0;           // real gid
  std::uint64_t cgroup_id = 0;     // cgroup v2 id: inode of the cgroup directory; 1 = root
  std::uint32_t mnt_ns = 0;        // namespace inode numbers
  std::uint32_t pid_ns = 0;
  std::uint32_t net_ns = 0;
  std::string_view comm;           // task name, without its NUL (at most 15 bytes)
};

// The argument area of an exec record: argv strings back to back, each NUL-terminated. When the
// area was truncated the last string may lack its NUL; it then ends at the end of the area.
class ArgList {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;
    iterator() = default;
    iterator(std::string_view area, std::size_t position) noexcept : area_(area), position_(position) {}
    std::string_view operator*() const noexcept;
    iterator& operator++() noexcept;
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const iterator& other) const noexcept { return position_ == other.position_; }

   private:
    std::string_view area_;
    std::size_t position_ = 0;
  };

  ArgList() = default;
  explicit ArgList(std::string_view area) noexcept : area_(area) {}
  iterator begin() const noexcept { return {area_, 0}; }
  iterator end() const noexcept { return {area_, area_.size()}; }
  bool empty() const noexcept { return area_.empty(); }
  std::size_t size() const noexcept;          // strings in the area (counts, never allocates)
  std::string_view raw() const noexcept { return area_; }  // the valid bytes, NULs included

 private:
  std::string_view area_;
};

struct Credentials {
  std::uint32_t uid = 0, euid = 0, suid = 0, fsuid = 0;
  std::uint32_t gid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::uint64_t cap_effective = 0, cap_permitted = 0, cap_inheritable = 0;
};

// What the process probe read in the kernel at a successful exec (procexec records only):
// the facts rules need about the new program, none of them racing with /proc.
struct ExecKernelFacts {
  // Paths as the task sees them: component names from the file up to the task's root, leaf
  // first, each NUL-terminated (append_kernel_path() makes "/usr/bin/true" of them).
  std::string_view exe_path;
  std::string_view cwd;
  Credentials creds;               // task->cred after the exec (set-user-ID bits, file caps applied)
  std::uint64_t exe_mtime_ns = 0;  // the executable's mtime and ctime, ns since the epoch
  std::uint64_t exe_ctime_ns = 0;
  std::uint32_t vpid = 0;          // pid, process group and session in the task's own pid namespace
  std::uint32_t vpgid = 0;         // (0: the group's or session's leader lives in an ancestor one)
  std::uint32_t vsid = 0;
  std::uint32_t loginuid = 0xffffffffu;  // audit login uid; 0xffffffff unset
  std::uint32_t stdio_kind[3] = {0, 0, 0};  // fds 0-2: i_mode | address family << 16; 0 closed
  bool exe_memfd = false;           // memfd_create'd: no file on disk
  bool exe_unlinked = false;        // the file has no name left (deleted, O_TMPFILE, memfd)
  bool exe_path_truncated = false;  // exe_path lacks its outermost components
  bool exe_path_detached = false;   // exe_path did not reach the task's root (see docs/bpf.md)
  bool cwd_truncated = false;
  bool cwd_detached = false;
};

// Appends the path a leaf-first component list names ("true\0bin\0usr\0" -> "/usr/bin/true";
// an empty list is "/"), then " (deleted)" when `deleted` (as readlink of /proc/PID/exe says).
void append_kernel_path(std::string_view components, bool deleted, std::string& out);

// procexec (lifecycle record) and execve/execveat (syscall record, successful or not).
struct ExecPayload {
  std::string_view filename;  // the path as passed to exec, without its NUL ("" if unreadable)
  ArgList args;               // what was captured of argv (see args_truncated)
  std::uint32_t argc = 0;     // the real argument count, even when args is truncated
  std::uint64_t exe_ino = 0;  // inode and st_dev-encoded device of the executed file (0: failed exec)
  std::uint32_t exe_dev = 0;
  std::uint64_t env_size = 0;  // bytes of the new environment area
  std::int32_t dirfd = -100;   // execveat dirfd; AT_FDCWD (-100) otherwise
  std::uint32_t at_flags = 0;  // execveat flags
  bool filename_truncated = false;
  bool args_truncated = false;
  bool args_unreadable = false;
  bool exe_upper_layer = false;  // procexec: the executable is in an overlayfs upper layer
  bool has_kernel_facts = false; // procexec: `kernel` holds what the probe read at exec
  ExecKernelFacts kernel;
};

struct ForkPayload {
  std::uint32_t child_pid = 0;
  std::uint32_t child_tid = 0;
  std::uint32_t child_vpid = 0;    // the child's pid in its own pid namespace
  std::uint32_t child_pid_ns = 0;  // that namespace's inode
};

struct ExitPayload {
  std::uint32_t status = 0;  // the wait(2) status
  bool exited() const noexcept { return (status & 0x7f) == 0; }
  int exit_code() const noexcept { return static_cast<int>((status >> 8) & 0xff); }
  bool signaled() const noexcept { return (status & 0x7f) != 0 && (status & 0x7f) != 0x7f; }
  int term_signal() const noexcept { return static_cast<int>(status & 0x7f); }
  bool core_dumped() const noexcept { return (status & 0x80) != 0; }
};

// File syscalls (vigil_syscall_file_event; which field holds what per call: docs/bpf.md).
struct FilePayload {
  std::int32_t dirfd = -100;     // dirfd of *at calls, AT_FDCWD (-100) otherwise
  std::int32_t dirfd2 = -100;    // renameat/renameat2 newdirfd
  std::int32_t fd = -1;          // open*: the new fd (-1 on failure); fchmod/fchown/fchdir: fd argument
  std::uint32_t mode = 0;        // open/creat/chmod mode
  std::uint64_t open_flags = 0;  // open*: O_* flags; mount: MS_* flags
  std::uint64_t resolve = 0;     // openat2 RESOLVE_*
  std::uint32_t at_flags = 0;    // AT_*, RENAME_*, MNT_* flags
  std::uint32_t uid = 0;         // chown family, as passed (0xffffffff: unchanged)
  std::uint32_t gid = 0;
  std::uint32_t dev = 0;         // open* success: the opened file (st_dev encoding), inode
  std::uint64_t ino = 0;
  std::string_view path;         // first path argument as passed (mount: source), without NUL
  std::string_view path2;        // rename*: new path; mount: target; else ""
  std::string_view fstype;       // mount: filesystem type; else ""
  bool path_truncated = false;
  bool path_unreadable = false;
  bool path2_truncated = false;
  bool path2_unreadable = false;
};

struct SocketAddress {
  std::uint16_t family = 0;            // AF_INET, AF_INET6, AF_UNIX; 0: none
  std::uint16_t port = 0;              // inet: host order
  std::span<const std::uint8_t> addr;  // network order: 4 bytes (AF_INET), 16 (AF_INET6), else empty
  std::string_view unix_path;          // AF_UNIX: sun_path (abstract names start with NUL)
};

// Net syscalls (vigil_syscall_net_event).
struct NetPayload {
  std::int32_t fd = -1;  // socket fd argument (socket(): -1, the new fd is syscall.ret)
  std::int32_t domain = 0;
  std::int32_t type = 0;
  std::int32_t protocol = 0;
  std::int32_t backlog = 0;        // listen()
  std::uint32_t accept_flags = 0;  // accept4()
  SocketAddress local;   // bind: as passed; connect/listen: the socket's; accept*: the new socket's
  SocketAddress remote;  // connect: as passed; accept*: the peer
  bool addr_unreadable = false;
};

// Cred syscalls (vigil_syscall_cred_event).
struct CredPayload {
  Credentials old_creds;  // at entry (all 0 when syscall.no_enter)
  Credentials new_creds;  // at return
  std::uint32_t id_args[3] = {0, 0, 0};  // ids as passed: set*id(a) [a,0,0], setres*id(r,e,s) [r,e,s]
  std::uint32_t cap_version = 0;         // capset: header->version, header->pid, requested sets
  std::int32_t cap_pid = 0;
  std::uint64_t cap_effective_arg = 0, cap_permitted_arg = 0, cap_inheritable_arg = 0;
};

// Proc syscalls (vigil_syscall_proc_event): raw argument registers plus what was read for them.
struct ProcPayload {
  std::uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  std::uint64_t ino = 0;       // mmap/finit_module: the fd's file; setns: the namespace inode
  std::uint32_t dev = 0;
  std::uint32_t bpf_type = 0;  // bpf(): map_type / prog_type
  // That fd's file as the kernel saw it (dup*: oldfd): i_mode in bits 0-15, a socket's
  // address family in bits 16-31; 0: no file. Authoritative where the fd table is not.
  std::uint32_t fd_kind = 0;
  std::uint16_t fd_mode() const noexcept { return static_cast<std::uint16_t>(fd_kind & 0xffff); }
  std::uint16_t fd_family() const noexcept { return static_cast<std::uint16_t>(fd_kind >> 16); }
  std::string_view str;        // memfd_create name, module params; else ""
  bool str_truncated = false;
  bool str_unreadable = false;
};

struct SyscallInfo {
  std::int64_t nr = -1;     // x86_64 syscall number; -1 for lifecycle records
  std::int64_t ret = 0;     // its return value (negative errno on failure)
  std::uint32_t flags = 0;  // raw VIGIL_SYSCALL_* bits (decoded into the payloads' bools)
  bool no_enter = false;    // entry data missing: old creds / exec filename are empty
  bool killed_in_kernel = false;  // the caller got SIGKILL in the kernel as the call returned
};

using Payload = std::variant<std::monostate, ExecPayload, ForkPayload, ExitPayload, FilePayload,
                             NetPayload, CredPayload, ProcPayload>;

// Invariant of a decoded Event: `type` decides the payload (procexec, execve, execveat:
// ExecPayload; fork: ForkPayload; procexit: ExitPayload; file/net/cred/proc syscalls: their
// family's payload), so the accessor for the type's family never returns nullptr.
struct Event {
  EventType type = EventType::unknown;
  std::uint32_t record_type = 0;  // vigil_event_header.type (enum vigil_event_type)
  TaskContext task;
  SyscallInfo syscall;            // nr >= 0 only for syscall records
  Payload payload;

  const ExecPayload* exec() const noexcept { return std::get_if<ExecPayload>(&payload); }
  const ForkPayload* fork() const noexcept { return std::get_if<ForkPayload>(&payload); }
  const ExitPayload* exit() const noexcept { return std::get_if<ExitPayload>(&payload); }
  const FilePayload* file() const noexcept { return std::get_if<FilePayload>(&payload); }
  const NetPayload* net() const noexcept { return std::get_if<NetPayload>(&payload); }
  const CredPayload* cred() const noexcept { return std::get_if<CredPayload>(&payload); }
  const ProcPayload* proc() const noexcept { return std::get_if<ProcPayload>(&payload); }
};

// Why a record was rejected. Stable: counters are kept per reason.
enum class DecodeErrorReason : std::uint8_t {
  short_record,         // fewer bytes than the header (or than the record's header.size claims)
  size_mismatch,        // header.size differs from the record's length
  unknown_record_type,  // header.type is not a record vigil knows
  wrong_record_size,    // the record's length is not what its type's layout needs
  length_out_of_range,  // a *_size/length field exceeds its array or the record
  unterminated_string,  // a string the ABI says is NUL-terminated is not
  unknown_syscall,      // a syscall record's syscall_nr is not one its record type carries
  count_
};
inline constexpr std::size_t kDecodeErrorReasonCount = static_cast<std::size_t>(DecodeErrorReason::count_);
std::string_view decode_error_reason_name(DecodeErrorReason reason) noexcept;  // "short_record", ...

// A precise, allocation-free description of a rejected record.
struct DecodeError {
  DecodeErrorReason reason = DecodeErrorReason::short_record;
  std::uint32_t record_type = 0;  // header.type when it could be read, else 0
  std::string_view field;         // "header.size", "exec.args_size", ... (static storage)
  std::size_t offset = 0;         // byte offset of that field in the record
  std::uint64_t value = 0;        // what the field (or the record length) held
  std::uint64_t limit = 0;        // what it had to be, or not exceed
};
// One line, e.g. "exec record: exec.args_size at offset 96 is 2000, exceeds 1024".
std::string describe(const DecodeError& error);

// Decodes one raw record (the bytes the ring buffer delivered, or a capture file holds). The hot
// path: never allocates, never throws.
std::expected<Event, DecodeError> decode_record(std::span<const std::uint8_t> record) noexcept;
// The same, with the error as a vigil::Error (its message is describe(error)).
Result<Event> decode(std::span<const std::uint8_t> record);

}  // namespace vigil::events
