#include "agent/process_killer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "state/proc_reader.h"

namespace vigil::agent {

KillOutcome kill_process(pid_t pid, std::uint64_t expected_start_boot_ns, const std::string& proc_root) {
  if (pid <= 1) return {false, "refused: pid " + std::to_string(pid)};
  if (pid == ::getpid()) return {false, "refused: the agent itself"};
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return {false, errno == ESRCH ? "process already gone" : std::string("pidfd_open: ") + std::strerror(errno)};
  // With the pidfd held the pid cannot be reused, so the check below stays true until the kill.
  if (expected_start_boot_ns != 0) {
    state::ProcReader reader(proc_root);
    state::Process now;
    const std::uint64_t actual = reader.read_stat(static_cast<std::uint32_t>(pid), now) ? now.start_time_ns : 0;
    const std::uint64_t tick = 1'000'000'000ull / static_cast<std::uint64_t>(std::max(1L, ::sysconf(_SC_CLK_TCK)));
    const std::uint64_t difference = actual > expected_start_boot_ns ? actual - expected_start_boot_ns
                                                                     : expected_start_boot_ns - actual;
    if (actual == 0 || difference > 2 * tick) {
      ::close(pidfd);
      return {false, "pid " + std::to_string(pid) + " now belongs to another process"};
    }
  }
  const int rc = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0));
  const int error = errno;
  ::close(pidfd);
  if (rc != 0) return {false, error == ESRCH ? "process already gone" : std::string("pidfd_send_signal: ") + std::strerror(error)};
  return {true, {}};
}

}  // namespace vigil::agent
