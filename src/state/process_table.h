#pragma once
// The process table: every live process on the host, seeded from /proc and kept current by
// the probe's events. Lookups and updates are the hot path of the pipeline: entries live in
// reused slots (strings keep their capacity, so a fork or exec assigns in place) behind a flat
// pid index, and container attribution is one cached lookup per cgroup id.
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "events/event.h"
#include "state/container_resolver.h"
#include "state/pid_map.h"
#include "state/proc_reader.h"
#include "state/process.h"

namespace vigil::state {

struct ProcessTableOptions {
  std::string proc_root = "/proc";
  // An exited process stays findable this long (event time) so that records still queued
  // behind its exit resolve; at most max_exited are kept (oldest dropped first).
  std::uint64_t exit_grace_ns = 5'000'000'000ull;
  std::size_t max_exited = 4096;
  // An event for a pid the table does not know reads /proc/PID once (live hosts only; off for
  // replayed events). Nothing else reads /proc after the seed: exec records carry the rest.
  bool fill_misses_from_proc = true;
  // Track descriptors (FdTable per process) and, when seeding, read /proc/PID/fd.
  bool track_fds = true;
  bool seed_fds = false;
};

struct ProcessTableCounters {
  std::uint64_t seeded = 0;           // processes read from /proc by seed()
  std::uint64_t seed_failures = 0;    // listed but gone (or unreadable) before they were read
  std::uint64_t seed_zombies = 0;     // exited, not yet reaped: left out
  std::uint64_t forks = 0, execs = 0, exits = 0, fd_events = 0, cred_events = 0;
  std::uint64_t misses = 0;           // events for a pid not in the table (entry created)
  std::uint64_t misses_filled_from_proc = 0;
  std::uint64_t parent_misses = 0;    // forks whose parent was unknown
  std::uint64_t exit_misses = 0;      // exits of unknown pids (nothing to remove)
  std::uint64_t stale_events = 0;     // older than the entry's process (a reused pid)
  std::uint64_t exec_without_kernel_path = 0;  // exec records whose exe path the probe could not give whole
  std::uint64_t fd_misses = 0;        // close/dup/connect of a descriptor not in the table
  std::uint64_t exited_evicted = 0;   // exited entries dropped before their grace ended
};

// The header fields the table uses (events::TaskContext carries them all).
struct TaskFacts {
  std::uint64_t timestamp_ns = 0;
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  std::uint32_t ppid = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t cgroup_id = 0;
  std::uint32_t mnt_ns = 0;  // 0: unknown
  std::uint32_t pid_ns = 0;
  std::string_view comm;
};

struct ExecFacts {
  std::string_view filename;  // as passed to exec
  std::string_view args;      // argv strings, each NUL-terminated, back to back
  std::uint32_t argc = 0;
  std::uint64_t exe_ino = 0;
  std::uint64_t exe_dev = 0;
  bool args_truncated = false;
  bool exe_upper_layer = false;
  // What the probe read in the kernel (procexec records); null for sources without it.
  const events::ExecKernelFacts* kernel = nullptr;
};

// New credentials after a successful set*id call; kUnknownId for what did not change.
struct CredFacts {
  std::uint32_t uid = kUnknownId, euid = kUnknownId;
  std::uint32_t gid = kUnknownId, egid = kUnknownId;
  bool caps_known = false;  // cap_* hold the task's capability sets after the call
  std::uint64_t cap_effective = 0, cap_permitted = 0;
};

class ProcessTable {
 public:
  ProcessTable(ContainerResolver& containers, ProcessTableOptions options = {});

  // Reads every process in the /proc root. Entries already present are replaced. Fails only
  // if the root cannot be listed.
  Result<void> seed();

  // Applies one decoded event: lifecycle records, descriptor and credential syscalls. Other
  // events only refresh the header fields (ppid, real ids, comm, cgroup) of their process.
  void apply(const events::Event& event);

  // The same, from the facts (for sources other than events::Event, and tests).
  // child_vpid, child_pid_ns: the child's pid in its own pid namespace and that namespace's
  // inode, as the fork record gives them (0: unknown, the parent's are assumed).
  void on_fork(const TaskFacts& parent, std::uint32_t child_pid, std::uint32_t child_vpid = 0,
               std::uint32_t child_pid_ns = 0);
  void on_exec(const TaskFacts& task, const ExecFacts& exec);
  void on_exit(const TaskFacts& task, std::uint32_t wait_status);
  void on_credentials(const TaskFacts& task, const CredFacts& creds);
  // Any other event of `task`: refreshes its header fields; returns its entry (live only).
  Process* on_task(const TaskFacts& task);

  // The process with this pid, live or within its exit grace (check `exited`). Pointers stay
  // valid until the next non-const call.
  const Process* find(std::uint32_t pid) const;
  // Live processes only.
  const Process* find_live(std::uint32_t pid) const;

  // The parent chain of `pid`, nearest first, at most out.size() (or `depth`) entries. Stops
  // at a pid the table does not know, pid 0, or a loop.
  std::size_t ancestors(std::uint32_t pid, std::span<const Process*> out) const;
  std::vector<const Process*> ancestors(std::uint32_t pid, std::size_t depth) const;

  template <class F>
  void for_each_live(F&& fn) const {
    for (const Slot& slot : slots_) {
      if (slot.used && !slot.process.exited) fn(slot.process);
    }
  }
  std::size_t live_count() const { return index_.size() - exited_count_; }
  std::size_t exited_count() const { return exited_count_; }

  // Drops exited entries whose grace ended before now_ns (apply does this as it goes).
  void expire(std::uint64_t now_ns);

  const ProcessTableCounters& counters() const { return counters_; }
  ContainerResolver& containers() { return containers_; }

 private:
  struct Slot {
    Process process;
    bool used = false;
    std::uint32_t generation = 0;  // bumped on release: queued exit records check it
  };
  struct ExitedRef {
    std::uint32_t pid;
    std::uint32_t slot;
    std::uint32_t generation;
    std::uint64_t exit_time_ns;
  };

  std::uint32_t allocate(std::uint32_t pid);
  void release(std::uint32_t slot);
  Process* live(std::uint32_t pid);
  // The live entry of task.pid, created if missing (counted as a miss). Null when the event
  // is older than the process now holding the pid.
  Process* resolve(const TaskFacts& task);
  Process* adopt(const TaskFacts& task);
  void refresh_header(Process& process, const TaskFacts& task);
  void set_container(Process& process, const TaskFacts& task);
  void apply_kernel_exec_facts(Process& process, const events::ExecKernelFacts& kernel, std::string_view filename);
  void assign_exe_from_filename(Process& process, std::string_view filename);
  // Seed and misses: the container of a process read from /proc.
  void attribute_from_proc(Process& process, std::string_view cgroup_path);
  void apply_fd_event(Process& process, const events::Event& event);
  // chdir/fchdir that worked: cwd follows (relative opens and fd.name resolve against it).
  void change_directory(Process& process, const events::Event& event);

  ContainerResolver& containers_;
  ProcessTableOptions options_;
  ProcReader reader_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  PidMap index_;
  std::deque<ExitedRef> exited_;
  std::size_t exited_count_ = 0;
  std::string scratch_path_;  // reused by seeding and misses
  std::string resolved_path_, resolve_scratch_;  // reused by resolve_path_of
  std::uint64_t last_container_expire_ns_ = 0;
  ProcessTableCounters counters_;
};

}  // namespace vigil::state
