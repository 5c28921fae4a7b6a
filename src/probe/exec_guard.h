#pragma once
// ExecGuard: the eBPF half of the agent's kernel-side verdict cache (bpf/exec_guard.bpf.c).
// An inode is watched before user space lets the kernel skip its exec permission events (a
// fanotify ignore mark); from then on an open for writing makes it dirty and an exec of a dirty
// inode is killed before it runs. docs/agent.md, "Kernel-side verdict cache", has the protocol.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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

enum class GuardState { absent, pending, confirmed, dirty };

struct GuardKill {
  std::uint64_t timestamp_ns = 0;  // CLOCK_BOOTTIME
  GuardedInode inode;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string comm;
};

struct GuardCounters {
  std::uint64_t kills = 0;
  std::uint64_t lost_reports = 0;  // kills whose report did not fit the ring buffer
  std::uint64_t dirtied = 0;       // opens for writing of a watched inode
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

  GuardState state(GuardedInode inode) const;
  // (Re)starts watching as pending. Fails when the map is full: then no ignore mark may be placed.
  Result<void> watch(GuardedInode inode);
  // A watched inode's execs are killed from now on, until watch() or forget(). No-op if absent.
  void mark_dirty(GuardedInode inode);
  void forget(GuardedInode inode);
  void clear();
  // Waits up to `timeout` for kill reports and hands each to on_kill; returns how many.
  Result<std::size_t> poll_kills(std::chrono::milliseconds timeout, const std::function<void(const GuardKill&)>& on_kill);
  GuardCounters counters() const;

 private:
  struct State;
  explicit ExecGuard(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vigil::probe
