#pragma once
// The `action: kill` of a rule, carried out from user space: SIGKILL through a pidfd, after
// proving that the pid still belongs to the process the event came from (a pid can be reused
// between the event and the kill). When the start time cannot be checked, nothing is killed.
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace vigil::agent {

struct KillOutcome {
  bool killed = false;
  std::string detail;  // why not, when not killed
};

// What is known about the process the event came from. Times are CLOCK_BOOTTIME ns, 0: unknown.
struct KillTarget {
  pid_t pid = 0;
  std::uint64_t start_boot_ns = 0;  // its start time, from the process table
  std::uint64_t event_boot_ns = 0;  // when the event happened (the process was alive then)
};

// Kills target.pid only if the process holding that pid now passes every check that can be
// made: its start time (read from /proc/PID/stat at kill time) equals start_boot_ns when that is
// known, and is not later than event_boot_ns when that is known. With neither known it refuses.
// A pidfd taken before the check, and found still alive after it, makes sure the signal goes
// to the process that was checked. Never pid 1 or the agent itself.
KillOutcome kill_process(const KillTarget& target, const std::string& proc_root = "/proc");

}  // namespace vigil::agent
