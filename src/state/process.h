#pragma once
// One process (thread group) as the process table knows it. Fields say where they come from;
// docs/state.md has the full story and the limits.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "state/container_resolver.h"
#include "state/fd_table.h"

namespace vigil::state {

inline constexpr std::uint32_t kUnknownId = 0xffffffffu;

// How the entry came to be: tells a consumer how complete it is.
enum class ProcessOrigin : std::uint8_t {
  proc,   // read from /proc (seed, or a miss filled from /proc)
  fork,   // created by a fork event: copied from the parent
  event,  // first seen in an event for a pid not in the table: only the header's fields
};

struct Process {
  std::uint32_t pid = 0;   // thread group id, initial pid namespace
  std::uint32_t ppid = 0;  // real parent's thread group id (updated by every event's header)
  std::string comm;        // task name (at most 15 bytes) as the last record's header had it: a
                           // process can rewrite its own (prctl, /proc/self/comm)
  std::string exec_name;   // the name the kernel gave it at its last exec (the file's name): what
                           // rules call proc.name; seeded processes: comm as /proc showed it
  std::string exe;         // the executed file's resolved path (the kernel's, at exec; /proc at seed)
  std::string args;        // argv as /proc/PID/cmdline has it: each string NUL-terminated
  std::uint32_t argc = 0;
  bool args_truncated = false;  // args holds only the first part of argv
  std::string cwd;         // /proc/PID/cwd at seed or exec, then chdir/fchdir; inherited on fork
  std::uint32_t uid = kUnknownId, euid = kUnknownId;  // real / effective
  std::uint32_t gid = kUnknownId, egid = kUnknownId;
  std::uint32_t tty = 0;             // controlling tty device number (stat's tty_nr); 0: none
  // Audit login uid (/proc/PID/loginuid; inherited on fork); kUnknownId when unset or unknown.
  std::uint32_t loginuid = kUnknownId;
  // Capability sets (status CapEff/CapPrm, then cred syscalls' new credentials); rules render
  // them as thread.cap_effective / thread.cap_permitted. Meaningless unless caps_known.
  std::uint64_t cap_effective = 0;
  std::uint64_t cap_permitted = 0;
  bool caps_known = false;
  std::uint64_t start_time_ns = 0;   // CLOCK_BOOTTIME when the process was created
  std::uint64_t cgroup_id = 0;       // cgroup v2 id; 0 unknown
  std::uint32_t mnt_ns = 0;          // mount and pid namespace inodes (every record); 0 unknown
  std::uint32_t pid_ns = 0;
  std::uint32_t vpid = 0;            // pid, process group and session in its own pid namespace
  std::uint32_t vpgid = 0;           // (exec records, fork: vpid; seed: /proc status); 0 unknown
  std::uint32_t vsid = 0;
  std::uint64_t exe_ino = 0;         // executable's inode and st_dev (exec events; 0 unknown)
  std::uint64_t exe_dev = 0;
  bool exe_upper_layer = false;      // executable in an overlayfs upper layer (exec events; seeds: false)
  bool exe_memfd = false;            // executable is a memfd (exec events; seeds: its /proc path says so)
  std::uint64_t exe_mtime_ns = 0;    // executable's mtime and ctime (exec events; seeds: stat); 0 unknown
  std::uint64_t exe_ctime_ns = 0;
  ContainerRef container;            // never null once in the table
  ProcessOrigin origin = ProcessOrigin::proc;
  char state = '?';                  // stat's state letter when read from /proc ('Z' zombie)
  bool exited = false;               // kept for a grace period after its exit event
  std::uint64_t exit_time_ns = 0;
  std::uint32_t exit_status = 0;     // wait(2) status
  FdTable fds;

  // argv split at the NULs (views into args).
  std::vector<std::string_view> argv() const;
  // argv joined by spaces, as `ps -o args` shows it (proc.cmdline for rules).
  std::string cmdline() const;
};

}  // namespace vigil::state
