#include "agent/kernel_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/vfs.h>

#include <climits>
#include <fstream>
#include <string>

namespace vigil::agent {
namespace {

constexpr auto kTicketGrace = std::chrono::seconds(1);
constexpr auto kUnlinkCheckInterval = std::chrono::seconds(5);
constexpr std::size_t kMaxPoisoned = 32768;

// The agent's lock on a guarded inode, on a descriptor of its own: flock(LOCK_SH), else an OFD
// read lock on the last possible byte. Either keeps the inode's lock list non-empty, so that
// __fput passes the guard's tracepoint for every file of the inode. Neither conflicts with
// opening, reading, writing or executing; only with someone's LOCK_EX flock (then we fall back)
// or a write lock over the last byte (then the inode is guarded "unlocked").
bool take_lock(int fd) {
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) return true;
  struct flock last_byte {};
  last_byte.l_type = F_RDLCK;
  last_byte.l_whence = SEEK_SET;
  last_byte.l_start = LLONG_MAX;
  last_byte.l_len = 1;
  return ::fcntl(fd, F_OFD_SETLK, &last_byte) == 0;
}

// Filesystems with lock operations of their own (->flock / ->lock): their locks never reach
// flock_lock_inode or posix_lock_inode, so the guard cannot count their writers' releases (and
// their content can change on a server anyway). Their execs are not cached in the kernel.
bool locks_bypass_the_guard(int fd) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return true;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x6969:      // NFS
    case 0x65735546:  // FUSE
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x01021997:  // 9P
    case 0x00c36400:  // Ceph
    case 0x01161970:  // GFS2
    case 0x7461636f:  // OCFS2
    case 0x5346414F:  // AFS
    case 0x0BD00BD0:  // Lustre
      return true;
    default:
      return false;
  }
}

// True when some thread of `tgid` is inside execve/execveat (x86_64 numbers 59 and 322).
bool in_exec(uint32_t tgid) {
  const std::string tasks = "/proc/" + std::to_string(tgid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/syscall");
    long number = -1;
    if ((in >> number) && (number == 59 || number == 322)) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

KernelVerdictCache::ExecArm& KernelVerdictCache::ExecArm::operator=(ExecArm&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->drop_reservation(inode_);
    owner_ = other.owner_;
    inode_ = other.inode_;
    baseline_ = other.baseline_;
    other.owner_ = nullptr;
  }
  return *this;
}

KernelVerdictCache::ExecArm::~ExecArm() {
  if (owner_ != nullptr) owner_->drop_reservation(inode_);
}

Result<std::unique_ptr<KernelVerdictCache>> KernelVerdictCache::create(KernelCache mode, Mode agent_mode,
                                                                       FanotifyListener& listener, std::string& why) {
  auto guard = probe::ExecGuard::open();
  if (!guard) {
    if (mode == KernelCache::on) {
      return fail("decision.kernel_cache is on but the eBPF exec guard cannot load: " + guard.error().message);
    }
    why = "the eBPF exec guard cannot load: " + guard.error().message;
    return std::unique_ptr<KernelVerdictCache>();
  }
  if (mode == KernelCache::off) why = "decision.kernel_cache is off";
  return std::unique_ptr<KernelVerdictCache>(
      new KernelVerdictCache(std::move(*guard), listener, mode != KernelCache::off, agent_mode));
}

KernelVerdictCache::KernelVerdictCache(probe::ExecGuard guard, FanotifyListener& listener, bool marks_enabled,
                                       Mode agent_mode)
    : guard_(std::move(guard)), listener_(listener), marks_enabled_(marks_enabled), agent_mode_(agent_mode) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    max_cached_ = std::min<std::size_t>(kMaxCachedInodes, static_cast<std::size_t>(files.rlim_cur / 8));
  }
}

KernelVerdictCache::~KernelVerdictCache() {
  stopping_ = true;
  if (reporter_.joinable()) reporter_.join();
}

KernelVerdictCache::ExecArm KernelVerdictCache::arm(int fd) {
  ExecArm armed;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return armed;
  const auto inode = probe::GuardedInode::of(st.st_dev, st.st_ino);
  std::unique_lock lock(mutex_);
  if (!held_.contains(inode)) {
    // A new inode: its descriptor, filesystem check and lock are prepared without the mutex (a
    // network filesystem may take its time), then entered unless another thread was quicker.
    lock.unlock();
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) {
      stats_.watch_failures.fetch_add(1, std::memory_order_relaxed);
      return armed;
    }
    const bool countable = !locks_bypass_the_guard(own);
    const bool locked = countable && take_lock(own);
    lock.lock();
    auto [it, inserted] = held_.try_emplace(inode);
    if (!inserted) {
      ::close(own);  // another decision entered it meanwhile; its lock serves
    } else if (!guard_.guard(inode, !locked)) {
      held_.erase(it);
      ::close(own);
      stats_.watch_failures.fetch_add(1, std::memory_order_relaxed);
      return armed;
    } else {
      it->second.fd.emplace(own);
      it->second.countable = countable;
      if (countable && !locked) stats_.unlocked.fetch_add(1, std::memory_order_relaxed);
      stats_.watched.fetch_add(1, std::memory_order_relaxed);
    }
  }
  Held& held = held_.at(inode);
  const auto releases = guard_.releases(inode);
  // The file as it is now that every writable release counts: the content read after this
  // point is what the decision is about.
  if (!releases || ::fstat(fd, &st) != 0) {
    release_if_idle_locked(inode);
    return armed;
  }
  ++held.reservations;
  armed.owner_ = this;
  armed.inode_ = inode;
  armed.baseline_ = probe::ExecBaseline::of(st, *releases);
  return armed;
}

void KernelVerdictCache::drop_reservation(const probe::GuardedInode& inode) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(inode);
  if (it == held_.end()) return;
  --it->second.reservations;
  release_if_idle_locked(inode);
}

void KernelVerdictCache::release_if_idle_locked(const probe::GuardedInode& inode) {
  auto it = held_.find(inode);
  if (it == held_.end()) return;
  const Held& held = it->second;
  if (held.reservations > 0 || held.tickets > 0 || held.cached) return;
  // Count first, then the lock: a poisoned cached baseline needs neither.
  guard_.unguard(inode);
  held_.erase(it);
}

void KernelVerdictCache::withdraw_locked(const probe::GuardedInode& inode, Held& held) {
  if (!held.cached) return;
  listener_.forget_inode(held.fd->get());
  // An exec that passed the mark a moment ago has not reached sched_process_exec yet: it must not
  // find the baseline gone (that would let it run unchecked), so the baseline stays, poisoned.
  probe::ExecBaseline poison;
  poison.poison = true;
  (void)guard_.set_cached(inode, poison);
  poisoned_.push_back(inode);
  while (poisoned_.size() > kMaxPoisoned) {
    const probe::GuardedInode oldest = poisoned_.front();
    poisoned_.pop_front();
    auto again = held_.find(oldest);
    if (again == held_.end() || !again->second.cached) guard_.remove_cached(oldest);
  }
  held.cached = false;
  --cached_count_;
  stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
}

void KernelVerdictCache::place_mark_locked(int fd, const probe::GuardedInode& inode, Held& held,
                                           const probe::ExecBaseline& baseline) {
  if (held.cached || !held.countable || cached_count_ >= max_cached_) return;
  // The baseline must still describe the file: no writable release, same ctime and size.
  struct stat now {};
  if (guard_.releases(inode) != baseline.releases || ::fstat(fd, &now) != 0 || !baseline.same_file_state(now)) return;
  probe::ExecBaseline cached = baseline;
  cached.report_only = false;  // an exec that skipped user space never runs changed content
  cached.poison = false;
  if (!guard_.set_cached(inode, cached)) return;
  if (!listener_.ignore_exec(fd)) {
    probe::ExecBaseline poison;
    poison.poison = true;
    (void)guard_.set_cached(inode, poison);
    return;
  }
  held.cached = true;
  ++cached_count_;
  // A writer released between the check and the mark: the baseline kills, take the mark back.
  if (guard_.releases(inode) != baseline.releases) {
    withdraw_locked(inode, held);
    return;
  }
  stats_.ignored.fetch_add(1, std::memory_order_relaxed);
}

void KernelVerdictCache::exec_decided(int fd, pid_t pid, Verdict verdict, bool settled, ExecArm& arm) {
  if (!arm.armed()) return;
  const probe::GuardedInode inode = arm.inode_;
  probe::ExecBaseline baseline = arm.baseline_;
  arm.owner_ = nullptr;  // the reservation is settled here
  std::lock_guard lock(mutex_);
  auto it = held_.find(inode);
  if (it == held_.end()) return;
  Held& held = it->second;
  --held.reservations;
  const auto tgid = static_cast<uint32_t>(pid);
  if (verdict == Verdict::deny) {
    // An exec of this process allowed a moment ago (same file) must not run what was denied now.
    if (guard_.ticket_outstanding(tgid, inode)) {
      baseline.poison = true;
      if (guard_.issue_ticket(tgid, inode, baseline)) {
        ++held.tickets;
        outstanding_.push_back({tgid, inode, std::chrono::steady_clock::now()});
      }
    }
    withdraw_locked(inode, held);
    release_if_idle_locked(inode);
    return;
  }
  baseline.report_only = agent_mode_ != Mode::enforce;
  if (guard_.issue_ticket(tgid, inode, baseline)) {
    ++held.tickets;
    outstanding_.push_back({tgid, inode, std::chrono::steady_clock::now()});
    stats_.tickets.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.ticket_failures.fetch_add(1, std::memory_order_relaxed);
  }
  if (!settled) {
    // Allowed but not final (e.g. log mode after a failed appraisal): no execs may skip user space.
    withdraw_locked(inode, held);
  } else if (marks_enabled_) {
    place_mark_locked(fd, inode, held, baseline);
  }
  release_if_idle_locked(inode);
}

void KernelVerdictCache::invalidate(int fd, const struct stat& st) {
  (void)fd;
  const auto inode = probe::GuardedInode::of(st.st_dev, st.st_ino);
  std::lock_guard lock(mutex_);
  auto it = held_.find(inode);
  if (it == held_.end()) return;
  withdraw_locked(inode, it->second);
  release_if_idle_locked(inode);
}

void KernelVerdictCache::clear() {
  // Marks first: an inode may be unmarked and still have a baseline, never the reverse.
  listener_.forget_all_inodes();
  std::lock_guard lock(mutex_);
  std::vector<probe::GuardedInode> idle;
  for (auto& [inode, held] : held_) {
    if (!held.cached) continue;
    probe::ExecBaseline poison;
    poison.poison = true;
    (void)guard_.set_cached(inode, poison);
    poisoned_.push_back(inode);
    held.cached = false;
    stats_.withdrawn.fetch_add(1, std::memory_order_relaxed);
    idle.push_back(inode);
  }
  cached_count_ = 0;
  for (const auto& inode : idle) release_if_idle_locked(inode);
}

void KernelVerdictCache::sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  std::deque<Outstanding> keep;
  for (const Outstanding& ticket : outstanding_) {
    bool retire = !guard_.ticket_outstanding(ticket.tgid, ticket.inode);  // met at sched_process_exec
    if (!retire && now - ticket.issued > kTicketGrace && !in_exec(ticket.tgid)) {
      // The exec failed after its decision (ENOEXEC, ETXTBSY, killed): nothing will meet it.
      guard_.withdraw_ticket(ticket.tgid, ticket.inode);
      retire = true;
    }
    if (!retire) {
      keep.push_back(ticket);
      continue;
    }
    auto it = held_.find(ticket.inode);
    if (it == held_.end()) continue;
    --it->second.tickets;
    release_if_idle_locked(ticket.inode);
  }
  outstanding_.swap(keep);
  if (now - last_unlink_check_ < kUnlinkCheckInterval) return;
  last_unlink_check_ = now;
  // A deleted file must not live on because the agent holds it open.
  std::vector<probe::GuardedInode> gone;
  for (auto& [inode, held] : held_) {
    struct stat st {};
    if (held.cached && ::fstat(held.fd->get(), &st) == 0 && st.st_nlink == 0) gone.push_back(inode);
  }
  for (const auto& inode : gone) {
    withdraw_locked(inode, held_.at(inode));
    release_if_idle_locked(inode);
  }
}

void KernelVerdictCache::start_reporting(OnKill on_kill) {
  reporter_ = std::thread([this, on_kill = std::move(on_kill)] {
    const std::function<void(const probe::GuardKill&)> handle = [&](const probe::GuardKill& kill) {
      (kill.killed ? stats_.kills : stats_.violations).fetch_add(1, std::memory_order_relaxed);
      on_kill(kill);
    };
    while (!stopping_.load()) {
      // Outstanding tickets hold locks: retire them promptly; otherwise wake up rarely.
      bool busy = false;
      {
        std::lock_guard lock(mutex_);
        busy = !outstanding_.empty();
      }
      const auto wait = std::chrono::milliseconds(busy ? 20 : 100);
      if (!guard_.poll_kills(wait, handle)) std::this_thread::sleep_for(wait);
      sweep();
    }
  });
}

}  // namespace vigil::agent
