#pragma once
// The exec guard and the kernel-side verdict cache (docs/agent.md, "Exec guard and kernel-side
// verdict cache").
//
// Exec guard: an allowed exec of an ELF file runs the content that was decided on, or it is
// killed before its first instruction (reported only in log mode). Before deciding, the agent
// takes a lock on the inode (so the kernel's release of every writable file of it is counted) and
// notes the baseline; the allowed exec carries it as a ticket that the kernel checks at
// sched_process_exec. This closes the window between the permission event's answer and the
// kernel's own denial of writers (deny_write_access), whatever way a writer opened the file.
//
// Kernel-side verdict cache (decision.kernel_cache): a settled exec (allowed, and the verdict is
// final for every subject) puts a fanotify ignore mark on the inode, so its later execs never
// leave the kernel; they meet the inode's cached baseline instead of a ticket.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "agent/config.h"
#include "agent/fanotify_listener.h"
#include "common/unique_fd.h"
#include "probe/exec_guard.h"

namespace vigil::agent {

struct KernelCacheStats {
  std::atomic<uint64_t> watched{0};          // inodes taken under guard (lock + entry)
  std::atomic<uint64_t> ignored{0};          // ignore marks placed
  std::atomic<uint64_t> withdrawn{0};        // marks taken back (writer, reload, denial, eviction)
  std::atomic<uint64_t> kills{0};            // execs the guard killed
  std::atomic<uint64_t> violations{0};       // mismatches reported without a kill (log mode)
  std::atomic<uint64_t> tickets{0};          // allowed execs handed to the guard
  std::atomic<uint64_t> watch_failures{0};   // inodes that could not be guarded (map full)
  std::atomic<uint64_t> ticket_failures{0};  // allowed execs whose ticket could not be stored
  std::atomic<uint64_t> unlocked{0};         // inodes guarded without the agent's own lock
};

class KernelVerdictCache {
 public:
  // An exec permission event under guard: from before its content is read until it is decided.
  class ExecArm {
   public:
    ExecArm() = default;
    ExecArm(ExecArm&& other) noexcept { *this = std::move(other); }
    ExecArm& operator=(ExecArm&& other) noexcept;
    ExecArm(const ExecArm&) = delete;
    ExecArm& operator=(const ExecArm&) = delete;
    ~ExecArm();
    bool armed() const { return owner_ != nullptr; }

   private:
    friend class KernelVerdictCache;
    KernelVerdictCache* owner_ = nullptr;
    probe::GuardedInode inode_;
    probe::ExecBaseline baseline_;
  };

  using OnKill = std::function<void(const probe::GuardKill&)>;
  // The guard loads in every mode (it protects every allowed exec); ignore marks are placed when
  // `mode` is on or auto. nullptr (with `why`) when the guard cannot load; an error if `mode` is on.
  static Result<std::unique_ptr<KernelVerdictCache>> create(KernelCache mode, Mode agent_mode,
                                                            FanotifyListener& listener, std::string& why);
  ~KernelVerdictCache();
  bool marks_enabled() const { return marks_enabled_; }

  // An exec permission event of an ELF file, before its content is read: locks the inode and
  // notes the baseline. Unarmed when the inode cannot be guarded. Must not block.
  ExecArm arm(int fd);
  // The same event decided. `settled`: allowed, and the verdict for this file version is final for
  // every subject (see IntegrityEngine). Must not block.
  void exec_decided(int fd, pid_t pid, Verdict verdict, bool settled, ExecArm& arm);
  // A writer closed the file (FAN_CLOSE_WRITE): take its mark back.
  void invalidate(int fd, const struct stat& st);
  void clear();  // reload, queue overflow: every mark and cached baseline
  // Starts the thread that reports the guard's kills and retires consumed tickets.
  void start_reporting(OnKill on_kill);
  const KernelCacheStats& stats() const { return stats_; }

  // Inodes whose ignore mark may be in place at once (each costs the agent a descriptor); past it
  // execs are still guarded, by tickets. Also at most an eighth of RLIMIT_NOFILE.
  static constexpr std::size_t kMaxCachedInodes = 4096;

 private:
  // An inode under guard: the agent's lock lives on `fd`'s open file description.
  struct Held {
    std::optional<UniqueFd> fd;
    int reservations = 0;  // arms not yet decided
    int tickets = 0;       // tickets issued and not yet met or retired
    bool cached = false;   // ignore mark placed
    bool countable = true; // the filesystem's locks pass the guard's tracepoints (see arm())
  };
  struct Outstanding {
    uint32_t tgid;
    probe::GuardedInode inode;
    std::chrono::steady_clock::time_point issued;
  };

  KernelVerdictCache(probe::ExecGuard guard, FanotifyListener& listener, bool marks_enabled, Mode agent_mode);
  void drop_reservation(const probe::GuardedInode& inode);
  void withdraw_locked(const probe::GuardedInode& inode, Held& held);
  void release_if_idle_locked(const probe::GuardedInode& inode);
  void place_mark_locked(int fd, const probe::GuardedInode& inode, Held& held, const probe::ExecBaseline& baseline);
  void sweep();

  probe::ExecGuard guard_;
  FanotifyListener& listener_;
  const bool marks_enabled_;
  const Mode agent_mode_;
  KernelCacheStats stats_;
  std::mutex mutex_;
  std::unordered_map<probe::GuardedInode, Held, probe::GuardedInodeHash> held_;
  std::deque<Outstanding> outstanding_;
  std::deque<probe::GuardedInode> poisoned_;  // cached baselines left poisoned, oldest first
  std::size_t cached_count_ = 0;
  std::size_t max_cached_ = kMaxCachedInodes;
  std::chrono::steady_clock::time_point last_unlink_check_{};
  std::atomic<bool> stopping_{false};
  std::thread reporter_;
};

}  // namespace vigil::agent
