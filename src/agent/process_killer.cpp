#include "agent/process_killer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vigil::agent {
namespace {

// Field 22 of /proc/PID/stat (starttime, clock ticks since boot) in ns; 0 when unreadable. The
// command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
std::uint64_t start_time_ns(const std::string& proc_root, pid_t pid) {
  std::ifstream stat(proc_root + "/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index) {
    if (index == 22) {
      const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
      if (ticks_per_second <= 0) return 0;
      std::uint64_t ticks = 0;
      auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), ticks);
      if (error != std::errc{} || end != field.data() + field.size()) return 0;
      return ticks * (1'000'000'000ull / static_cast<std::uint64_t>(ticks_per_second));
    }
  }
  return 0;
}

}  // namespace

KillOutcome kill_process(pid_t pid, std::uint64_t expected_start_boot_ns, const std::string& proc_root) {
  if (pid <= 1) return {false, "refused: pid " + std::to_string(pid)};
  if (pid == ::getpid()) return {false, "refused: the agent itself"};
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return {false, errno == ESRCH ? "process already gone" : std::string("pidfd_open: ") + std::strerror(errno)};
  // With the pidfd held the pid cannot be reused, so the check below stays true until the kill.
  if (expected_start_boot_ns != 0) {
    const std::uint64_t actual = start_time_ns(proc_root, pid);
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
