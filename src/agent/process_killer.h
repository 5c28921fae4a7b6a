#pragma once
// The `action: kill` of a rule, carried out from user space: SIGKILL through a pidfd, after
// checking that the pid still belongs to the process the event came from (a pid can be reused
// between the event and the kill).
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace vigil::agent {

struct KillOutcome {
  bool killed = false;
  std::string detail;  // why not, when not killed
};

// Kills `pid` if its start time (CLOCK_BOOTTIME ns, 0: not known) matches. Never pid 1 or the
// agent itself.
KillOutcome kill_process(pid_t pid, std::uint64_t expected_start_boot_ns, const std::string& proc_root = "/proc");

}  // namespace vigil::agent
