#pragma once
// ExecGuard: the eBPF half of the agent's exec guard and kernel-side verdict cache
// (bpf/exec_guard.bpf.c). An exec runs the content user space decided on, or it is killed
// before its first instruction: every allowed exec leaves a ticket (the baseline user space saw),
// a cached inode a baseline for the execs that skip user space, and the kernel counts the release
// of every writable file of a guarded inode. bpf/abi/exec_guard_map.h and docs/agent.md ("Exec
// guard and kernel-side verdict cache") have the protocol.
#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"

namespace vigil::probe {

// An inode as the kernel names it: (i_sb->s_dev in the kernel's encoding, i_ino).
struct GuardedInode {
  std::uint32_t kernel_dev = 0;
  std::uint64_t inode = 0;
  static GuardedInode of(dev_t st_dev, ino_t st_ino);  // from stat(2)'s fields
  bool operator==(const GuardedInode&) const = default;
};

struct GuardedInodeHash {
  std::size_t operator()(const GuardedInode& inode) const noexcept {
    return std::hash<std::uint64_t>()(inode.inode * 0x9e3779b97f4a7c15ULL ^ inode.kernel_dev);
  }
};

// What user space saw when it decided; an exec that meets it must find the file the same.
struct ExecBaseline {
  std::uint64_t releases = 0;  // writable files of the inode released, as counted by the guard
  std::int64_t ctime_sec = 0;
  std::uint32_t ctime_nsec = 0;
  std::int64_t size = 0;
  bool poison = false;       // every exec that meets it is killed
  bool report_only = false;  // a mismatch is reported, not killed
  static ExecBaseline of(const struct stat& st, std::uint64_t releases);
  bool same_file_state(const struct stat& st) const;
};

struct GuardKill {
  std::uint64_t timestamp_ns = 0;  // CLOCK_BOOTTIME
  GuardedInode inode;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string comm;
  bool killed = false;       // false: reported only (report-only baseline)
  bool from_ticket = false;  // the exec's own decision; false: a cached verdict
  bool changed = false;      // the file changed (false: the baseline was withdrawn)
};

struct GuardCounters {
  std::uint64_t kills = 0;
  std::uint64_t lost_reports = 0;      // reports that did not fit the ring buffer
  std::uint64_t releases = 0;          // writable files of guarded inodes released
  std::uint64_t reported = 0;          // mismatches reported without a kill
  std::uint64_t tickets_consumed = 0;  // execs that met their ticket
};

class ExecGuard {
 public:
  // Loads and attaches the programs (CAP_BPF + CAP_PERFMON, or root).
  static Result<ExecGuard> open();

  ExecGuard(ExecGuard&&) noexcept;
  ExecGuard& operator=(ExecGuard&&) noexcept;
  ExecGuard(const ExecGuard&) = delete;
  ExecGuard& operator=(const ExecGuard&) = delete;
  ~ExecGuard();

  // Starts counting the writable releases of `inode` (keeps an existing count). `unlocked`: the
  // caller could not take its lock, so every unlock of the inode counts. Fails when the map is full.
  Result<void> guard(GuardedInode inode, bool unlocked);
  std::optional<std::uint64_t> releases(GuardedInode inode) const;
  void unguard(GuardedInode inode);

  // The baseline of one allowed (or, poisoned, denied) exec permission event of process `tgid`.
  Result<void> issue_ticket(std::uint32_t tgid, GuardedInode inode, const ExecBaseline& baseline);
  bool ticket_outstanding(std::uint32_t tgid, GuardedInode inode) const;
  void withdraw_ticket(std::uint32_t tgid, GuardedInode inode);

  // The baseline of execs that skip user space (the inode carries a fanotify ignore mark).
  Result<void> set_cached(GuardedInode inode, const ExecBaseline& baseline);
  std::optional<ExecBaseline> cached(GuardedInode inode) const;
  void remove_cached(GuardedInode inode);

  void clear();  // every entry, ticket and cached baseline
  // Waits up to `timeout` for reports and hands each to on_kill; returns how many.
  Result<std::size_t> poll_kills(std::chrono::milliseconds timeout, const std::function<void(const GuardKill&)>& on_kill);
  GuardCounters counters() const;

 private:
  struct State;
  explicit ExecGuard(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vigil::probe
