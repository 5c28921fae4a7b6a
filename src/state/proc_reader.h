#pragma once
// Reads a process's state from a /proc tree (the real one, or a fake tree in tests). Every
// byte is untrusted: a process can put anything in its comm and argv, including ")", spaces,
// newlines and invalid UTF-8, so parsing anchors on what the process cannot forge (the last
// ")" in stat) and bounds every read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "state/process.h"

namespace vigil::state {

// argv kept from /proc/PID/cmdline; longer ones are cut and flagged (exec events keep 1 KiB).
inline constexpr std::size_t kMaxProcArgsBytes = 4096;

class ProcReader {
 public:
  explicit ProcReader(std::string proc_root = "/proc");

  const std::string& root() const { return root_; }

  // The numeric entries of the root (thread group ids), unsorted.
  Result<std::vector<std::uint32_t>> list_pids();

  // Fills everything /proc has about `pid` except `container`: stat (ppid, tty, start time,
  // comm), status (uids, gids, capabilities, pids in its namespace), cmdline, exe (and a stat
  // of it), cwd, loginuid, the mount and pid namespace inodes. `cgroup_path` gets the cgroup v2 path
  // ("0::" line) or, on a v1-only host, the first v1 path; "" when none. Fails only when the
  // process is gone (or stat is unreadable): missing exe/cwd (kernel threads, permissions)
  // leave those fields empty.
  Result<void> read(std::uint32_t pid, Process& out, std::string& cgroup_path);

  // Single pieces, for refreshing an entry after exec.
  Result<void> read_exe(std::uint32_t pid, std::string& out);
  Result<void> read_cwd(std::uint32_t pid, std::string& out);
  Result<void> read_ids(std::uint32_t pid, Process& out);  // Uid:/Gid:/Cap*/NS* lines of status
  // stat alone: comm, state, ppid, tty and start time (CLOCK_BOOTTIME ns).
  Result<void> read_stat(std::uint32_t pid, Process& out);
  // The descriptors in /proc/PID/fd with their link targets and O_CLOEXEC from fdinfo.
  Result<void> read_fds(std::uint32_t pid, FdTable& out);
  // stat of /proc/PID/exe's target: the executable's inode and device, to check an exec
  // event against the live process.
  Result<void> stat_exe(std::uint32_t pid, std::uint64_t& ino, std::uint64_t& dev);

 private:
  const std::string& path_of(std::uint32_t pid, std::string_view leaf);
  Result<std::string_view> read_file(const std::string& path, std::size_t limit, bool* truncated = nullptr);
  Result<void> read_link(const std::string& path, std::string& out);
  Result<void> read_cgroup(std::uint32_t pid, std::string& out);

  std::string root_;
  std::string path_;    // reused for every path built
  std::string buffer_;  // reused for every file read
  std::uint64_t ns_per_tick_ = 10'000'000;
};

}  // namespace vigil::state
