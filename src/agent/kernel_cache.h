#pragma once
// Kernel-side verdict cache: after an executable's verdict is settled (allowed, nothing left to
// record, independent of who runs it), its later execs skip the trip to user space through a
// fanotify ignore mark. The eBPF exec guard keeps that safe where the kernel would not clear the
// mark (writes through a shared mapping): see docs/agent.md, "Kernel-side verdict cache".
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agent/config.h"
#include "agent/fanotify_listener.h"
#include "probe/exec_guard.h"

namespace vigil::agent {

struct KernelCacheStats {
  std::atomic<uint64_t> watched{0};     // inodes handed to the guard (pending)
  std::atomic<uint64_t> ignored{0};     // ignore marks placed
  std::atomic<uint64_t> withdrawn{0};   // marks taken back (writer, reload, dirty)
  std::atomic<uint64_t> kills{0};       // execs the guard killed
  std::atomic<uint64_t> watch_failures{0};
};

class KernelVerdictCache {
 public:
  using OnKill = std::function<void(const probe::GuardKill&)>;
  // nullptr (with `why`) when the mode is off, or auto and the kernel offers a way around the
  // guard (io_uring enabled), or the guard cannot load (required when mode is on: then an error).
  static Result<std::unique_ptr<KernelVerdictCache>> create(KernelCache mode, FanotifyListener& listener,
                                                            std::string& why);
  ~KernelVerdictCache();

  // An exec permission event about to be answered. `settled`: allowed, and the verdict for this
  // file version is final for every subject (see IntegrityEngine). Must not block.
  void exec_decided(int fd, const struct stat& st, Verdict verdict, bool settled);
  // A writer closed the file (FAN_CLOSE_WRITE): take its mark back. The guard entry turns dirty
  // rather than going away, so an exec that passed the mark just before it was removed (and has
  // not reached sched_process_exec yet) is still killed.
  void invalidate(int fd, const struct stat& st);
  void clear();  // reload, queue overflow: every mark and guard entry
  // Starts the thread that reports the guard's kills.
  void start_reporting(OnKill on_kill);
  const KernelCacheStats& stats() const { return stats_; }

 private:
  KernelVerdictCache(probe::ExecGuard guard, FanotifyListener& listener);
  probe::ExecGuard guard_;
  FanotifyListener& listener_;
  KernelCacheStats stats_;
  std::atomic<bool> stopping_{false};
  std::thread reporter_;
};

}  // namespace vigil::agent
