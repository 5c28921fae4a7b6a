#include "agent/kernel_cache.h"

#include <fstream>

namespace vigil::agent {
namespace {

// io_uring opens files without the open(2) family, so the guard's sys_exit hook cannot see
// such a writer. kernel.io_uring_disabled=2 closes that door for everyone.
bool io_uring_disabled() {
  std::ifstream in("/proc/sys/kernel/io_uring_disabled");
  int value = 0;
  return (in >> value) && value == 2;
}

}  // namespace

Result<std::unique_ptr<KernelVerdictCache>> KernelVerdictCache::create(KernelCache mode, FanotifyListener& listener,
                                                                       std::string& why) {
  if (mode == KernelCache::off) {
    why = "decision.kernel_cache is off";
    return std::unique_ptr<KernelVerdictCache>();
  }
  if (mode == KernelCache::automatic && !io_uring_disabled()) {
    why = "io_uring is enabled (kernel.io_uring_disabled != 2); set decision.kernel_cache: on to accept that gap";
    return std::unique_ptr<KernelVerdictCache>();
  }
  auto guard = probe::ExecGuard::open();
  if (!guard) {
    if (mode == KernelCache::on) return fail("decision.kernel_cache is on but the eBPF exec guard cannot load: " +
                                             guard.error().message);
    why = "the eBPF exec guard cannot load: " + guard.error().message;
    return std::unique_ptr<KernelVerdictCache>();
  }
  return std::unique_ptr<KernelVerdictCache>(new KernelVerdictCache(std::move(*guard), listener));
}

KernelVerdictCache::KernelVerdictCache(probe::ExecGuard guard, FanotifyListener& listener)
    : guard_(std::move(guard)), listener_(listener) {}

KernelVerdictCache::~KernelVerdictCache() {
  stopping_ = true;
  if (reporter_.joinable()) reporter_.join();
}

void KernelVerdictCache::exec_decided(int fd, const struct stat& st, Verdict verdict, bool settled) {
  const auto inode = probe::GuardedInode::of(st.st_dev, st.st_ino);
  const probe::GuardState state = guard_.state(inode);
  if (verdict == Verdict::deny) {
    // Denied here; an exec that slipped past a mark removed a moment ago must die too.
    if (state != probe::GuardState::absent) {
      listener_.forget_inode(fd);
      guard_.mark_dirty(inode);
      if (state != probe::GuardState::dirty) stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (!settled) {
    // Allowed but not cacheable (e.g. log mode after a failed appraisal): the guard must not
    // kill the exec we are about to allow.
    if (state != probe::GuardState::absent) {
      listener_.forget_inode(fd);
      guard_.forget(inode);
      stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  switch (state) {
    case probe::GuardState::pending:
      return;  // the exec that confirms it (no writer at that moment) has not happened yet
    case probe::GuardState::dirty:
      // Opened for writing since it was watched. This event was decided on the current
      // content, so start over: the guard must not kill the exec we are about to allow.
      listener_.forget_inode(fd);
      stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
      [[fallthrough]];
    case probe::GuardState::absent:
      if (guard_.watch(inode)) {
        stats_.watched.fetch_add(1, std::memory_order_relaxed);
      } else {
        stats_.watch_failures.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    case probe::GuardState::confirmed:
      if (!listener_.ignore_exec(fd)) return;
      // A writer that opened between the lookup and the mark made the entry dirty: withdraw.
      if (guard_.state(inode) != probe::GuardState::confirmed) {
        listener_.forget_inode(fd);
        stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      stats_.ignored.fetch_add(1, std::memory_order_relaxed);
      return;
  }
}

void KernelVerdictCache::invalidate(int fd, const struct stat& st) {
  const auto inode = probe::GuardedInode::of(st.st_dev, st.st_ino);
  if (guard_.state(inode) == probe::GuardState::absent) return;
  listener_.forget_inode(fd);
  guard_.mark_dirty(inode);
  stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
}

void KernelVerdictCache::clear() {
  // Marks before entries: an inode may be unmarked and still guarded, never the reverse.
  listener_.forget_all_inodes();
  guard_.clear();
}

void KernelVerdictCache::start_reporting(OnKill on_kill) {
  reporter_ = std::thread([this, on_kill = std::move(on_kill)] {
    const std::function<void(const probe::GuardKill&)> handle = [&](const probe::GuardKill& kill) {
      stats_.kills.fetch_add(1, std::memory_order_relaxed);
      on_kill(kill);
    };
    while (!stopping_.load()) {
      if (!guard_.poll_kills(std::chrono::milliseconds(100), handle)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

}  // namespace vigil::agent
