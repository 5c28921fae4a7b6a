#include "agent/process_killer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "state/proc_reader.h"

namespace vigil::agent {
namespace {

int send_signal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

std::string gone_or(const char* call, int error) {
  return error == ESRCH ? std::string("process already gone") : std::string(call) + ": " + std::strerror(error);
}

}  // namespace

KillOutcome kill_process(const KillTarget& target, const std::string& proc_root) {
  const pid_t pid = target.pid;
  if (pid <= 1) return {false, "refused: pid " + std::to_string(pid)};
  if (pid == ::getpid()) return {false, "refused: the agent itself"};
  if (target.start_boot_ns == 0 && target.event_boot_ns == 0) {
    return {false, "refused: neither the start time nor the event time of pid " + std::to_string(pid) +
                       " is known, so a reused pid could not be told apart"};
  }
  // The pidfd names one process for good. The pid number, though, is freed when that process
  // is reaped, even while the pidfd is held, and /proc/PID then shows whoever takes it next.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) return {false, gone_or("pidfd_open", errno)};

  state::ProcReader reader(proc_root);
  state::Process now;
  if (auto read = reader.read_stat(static_cast<std::uint32_t>(pid), now); !read || now.start_time_ns == 0) {
    return {false, "refused: cannot read the start time of pid " + std::to_string(pid) +
                       (read ? std::string() : ": " + read.error().message)};
  }
  const std::uint64_t actual = now.start_time_ns;  // truncated to clock ticks by the kernel
  const std::uint64_t tick = 1'000'000'000ull / static_cast<std::uint64_t>(std::max(1L, ::sysconf(_SC_CLK_TCK)));
  if (target.start_boot_ns != 0) {
    const std::uint64_t difference = actual > target.start_boot_ns ? actual - target.start_boot_ns
                                                                   : target.start_boot_ns - actual;
    if (difference > 2 * tick) return {false, "pid " + std::to_string(pid) + " now belongs to another process"};
  }
  // A process that took the pid over was created after the event's process exited, so after
  // the event. The kernel rounds the start time down to a tick, which could hide a takeover
  // within one tick of the event; pids are handed out cyclically, so that would need the whole
  // pid space to be used up within one tick.
  if (target.event_boot_ns != 0 && actual > target.event_boot_ns) {
    return {false, "pid " + std::to_string(pid) + " now belongs to another process (started after the event)"};
  }
  // Still not reaped after the stat was read: the number was not yet free, so the stat read
  // above was this pidfd's process.
  if (send_signal(pidfd.get(), 0) != 0) return {false, gone_or("pidfd_send_signal", errno)};
  if (send_signal(pidfd.get(), SIGKILL) != 0) return {false, gone_or("pidfd_send_signal", errno)};
  return {true, {}};
}

}  // namespace vigil::agent
