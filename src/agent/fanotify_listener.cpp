#include "agent/fanotify_listener.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <unistd.h>

namespace vigil::agent {
namespace {

constexpr uint64_t kStateMask = 3;
// answering: one thread owns the response write; the slot's fd must stay open until answered.
constexpr uint64_t kFree = 0, kPending = 1, kAnswering = 2, kAnswered = 3;

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

unsigned mark_type(MarkScope scope) { return scope == MarkScope::filesystem ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT; }

std::string mark_error(const std::string& what, const std::string& path, MarkScope scope) {
  const int error = errno;
  std::string text = what + " " + path + ": " + std::strerror(error);
  if (error == EINVAL) {
    text += scope == MarkScope::filesystem
                ? " (the kernel refuses permission events on procfs and filesystem marks on kernel-internal "
                  "pseudo filesystems; watch the filesystems that hold programs and data)"
                : " (the kernel refuses permission events on procfs and mount marks on kernel-internal pseudo "
                  "filesystems)";
  }
  errno = error;
  return text;
}

}  // namespace

bool EventTicket::abandoned() const {
  return stopping_.load(std::memory_order_relaxed) || state_.load(std::memory_order_acquire) != pending_state_;
}

void EventTicket::owe(uint64_t word) { owed_.store(word, std::memory_order_release); }

uint64_t FanotifyListener::permission_mask() { return FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_ACCESS_PERM; }

Result<std::unique_ptr<FanotifyListener>> FanotifyListener::create(const Options& options, Decider decider,
                                                                   Invalidator invalidator, FastDecider fast,
                                                                   Unfinished unfinished, UidOf uid_of) {
  // FAN_UNLIMITED_QUEUE: notification events (cache invalidation) are never dropped.
  const int fd = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                                 O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
  if (fd < 0) return fail_errno("fanotify_init (needs CAP_SYS_ADMIN)");
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    auto error = fail_errno("eventfd");
    ::close(fd);
    return error;
  }
  return std::unique_ptr<FanotifyListener>(new FanotifyListener(fd, wake, options, std::move(decider),
                                                                std::move(invalidator), std::move(fast),
                                                                std::move(unfinished), std::move(uid_of)));
}

FanotifyListener::FanotifyListener(int fanotify_fd, int wake_fd, const Options& options, Decider decider,
                                   Invalidator invalidator, FastDecider fast, Unfinished unfinished, UidOf uid_of)
    : fanotify_fd_(fanotify_fd),
      wake_fd_(wake_fd),
      options_(options),
      decider_(std::move(decider)),
      invalidator_(std::move(invalidator)),
      fast_(std::move(fast)),
      unfinished_(std::move(unfinished)),
      uid_of_(std::move(uid_of)),
      slots_(options.max_pending) {
  options_.workers_per_uid = std::max(1u, options_.workers_per_uid);
  if (options_.max_pending_per_uid == 0) options_.max_pending_per_uid = std::max<size_t>(1, options_.max_pending / 4);
  free_slots_.reserve(options.max_pending);
  for (size_t i = options.max_pending; i > 0; --i) free_slots_.push_back(i - 1);
}

FanotifyListener::~FanotifyListener() {
  stop();
  if (fanotify_fd_ >= 0) ::close(fanotify_fd_);
  ::close(wake_fd_);
}

Result<void> FanotifyListener::mark(const std::string& path, MarkScope scope, uint64_t mask, uint64_t old_mask) {
  std::lock_guard lock(marks_mutex_);
  if (stopping_.load()) return fail("fanotify_mark " + path + ": the listener is stopping");
  const unsigned type = mark_type(scope);
  // New bits first, dropped bits after: no moment in which the filesystem is unwatched.
  if (mask != 0 && ::fanotify_mark(fanotify_fd_, FAN_MARK_ADD | type, mask, AT_FDCWD, path.c_str()) != 0) {
    return fail(mark_error("fanotify_mark", path, scope));
  }
  const uint64_t dropped = old_mask & ~mask;
  if (dropped != 0 && ::fanotify_mark(fanotify_fd_, FAN_MARK_REMOVE | type, dropped, AT_FDCWD, path.c_str()) != 0) {
    return fail(mark_error("fanotify_mark (remove)", path, scope));
  }
  if (std::find(marked_scopes_.begin(), marked_scopes_.end(), scope) == marked_scopes_.end()) {
    marked_scopes_.push_back(scope);
  }
  return {};
}

void FanotifyListener::remove_marks() {
  std::lock_guard lock(marks_mutex_);
  for (const MarkScope scope : marked_scopes_) {
    (void)::fanotify_mark(fanotify_fd_, FAN_MARK_FLUSH | mark_type(scope), 0, AT_FDCWD, nullptr);
  }
  forget_all_inodes();
}

Result<void> FanotifyListener::ignore_exec(int fd) {
  if (::fanotify_mark(fanotify_fd_, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE, FAN_OPEN_EXEC_PERM,
                      fd, nullptr) != 0) {
    return fail_errno("fanotify_mark (ignore exec)");
  }
  return {};
}

void FanotifyListener::forget_inode(int fd) {
  // ENOENT (no mark on this inode) is the common case and fine.
  (void)::fanotify_mark(fanotify_fd_, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC_PERM, fd, nullptr);
}

void FanotifyListener::forget_all_inodes() { (void)::fanotify_mark(fanotify_fd_, FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr); }

void FanotifyListener::start() {
  if (started_) return;
  started_ = true;
  reader_ = std::thread([this] { reader_loop(); });
  watchdog_ = std::thread([this] { watchdog_loop(); });
  for (unsigned i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void FanotifyListener::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  // The kernel side first: without marks no new event is generated, and whatever the kernel
  // queued already is answered by the reader as it drains the queue. A stalled decision can
  // then hold up no open on the watched filesystems, only this thread's joins below.
  remove_marks();
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (reader_.joinable()) reader_.join();
  // Queued or being decided: answered now; deciders see their tickets abandoned and give up.
  expire_pending("stopping", /*only_overdue=*/false);
  queue_ready_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  watchdog_wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  // Closing the group releases any event that slipped in after the drain (the kernel allows it).
  ::close(fanotify_fd_);
  fanotify_fd_ = -1;
  for (auto& slot : slots_) {
    if ((slot.state.load() & kStateMask) != kFree && slot.fd >= 0) {
      ::close(slot.fd);
      slot.fd = -1;
    }
  }
}

void FanotifyListener::respond(int fd, Verdict verdict, int64_t arrived_ns) {
  fanotify_response response{};
  response.fd = fd;
  response.response = verdict == Verdict::allow ? FAN_ALLOW : FAN_DENY;
  while (::write(fanotify_fd_, &response, sizeof response) < 0 && errno == EINTR) {
  }
  (verdict == Verdict::allow ? stats_.allowed : stats_.denied).fetch_add(1, std::memory_order_relaxed);
  stats_.latency.record(monotonic_ns() - arrived_ns);
}

void FanotifyListener::answer_undecided(int fd, pid_t pid, uint64_t owed, int64_t arrived_ns, std::string_view why) {
  if (options_.on_deadline == Verdict::allow && owed != 0 && unfinished_) {
    unfinished_(fd, pid, owed, why);
    stats_.unfinished_allows.fetch_add(1, std::memory_order_relaxed);
  }
  respond(fd, options_.on_deadline, arrived_ns);
}

bool FanotifyListener::answer_slot(Slot& slot, uint64_t pending_state, Verdict verdict, std::string_view undecided_why) {
  // slot.fd belongs to this generation for as long as the state is still pending_state, and
  // the successful CAS below proves it was; the fd is read before the slot can be released.
  const int fd = slot.fd;
  uint64_t expected = pending_state;
  const uint64_t generation = pending_state & ~kStateMask;
  if (!slot.state.compare_exchange_strong(expected, generation | kAnswering, std::memory_order_acq_rel)) return false;
  if (undecided_why.empty()) {
    respond(fd, verdict, slot.arrived_ns);
  } else {
    answer_undecided(fd, slot.pid, slot.owed.load(std::memory_order_acquire), slot.arrived_ns, undecided_why);
  }
  slot.state.store(generation | kAnswered, std::memory_order_release);
  return true;
}

void FanotifyListener::expire_pending(std::string_view why, bool only_overdue) {
  const int64_t now = monotonic_ns();
  for (auto& slot : slots_) {
    const uint64_t state = slot.state.load(std::memory_order_acquire);
    if ((state & kStateMask) != kPending) continue;
    if (only_overdue && slot.deadline_ns.load(std::memory_order_relaxed) > now) continue;
    if (answer_slot(slot, state, options_.on_deadline, why)) {
      (only_overdue ? stats_.timeouts : stats_.stop_answers).fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void FanotifyListener::release_slot(size_t index) {
  Slot& slot = slots_[index];
  // Another thread may be writing this event's answer right now (after recording what it
  // owed, which can take a PCR extend); its fd must outlive that.
  for (int spins = 0; (slot.state.load(std::memory_order_acquire) & kStateMask) == kAnswering; ++spins) {
    if (spins < 64) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ::close(slot.fd);
  slot.fd = -1;
  slot.owed.store(0, std::memory_order_relaxed);
  const uint64_t generation = (slot.state.load(std::memory_order_relaxed) >> 2) + 1;
  slot.state.store(generation << 2 | kFree, std::memory_order_release);
  in_flight_.fetch_sub(1, std::memory_order_release);
  bool more = false;
  {
    std::lock_guard lock(queue_mutex_);
    free_slots_.push_back(index);
    auto share = shares_.find(slot.uid);
    if (share != shares_.end()) {
      --share->second.busy;
      --share->second.held;
      if (!share->second.waiting.empty() && !share->second.runnable &&
          share->second.busy < options_.workers_per_uid) {
        runnable_.push_back(slot.uid);
        share->second.runnable = true;
        more = true;
      }
      if (share->second.held == 0) shares_.erase(share);
    }
  }
  if (more) queue_ready_.notify_one();
}

bool FanotifyListener::read_events(char* buffer, size_t size, bool draining) {
  const pid_t self = ::getpid();
  const ssize_t length = ::read(fanotify_fd_, buffer, size);
  if (length <= 0) {
    if (length < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (length < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
      // The kernel could not make an event fd (and denied that one event). Never stop
      // reading: every later event on the filesystem would wait on a reader that is gone.
      stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return true;
    }
    return false;
  }
  // One clock read per batch: every event in it had arrived by now.
  const int64_t arrived_ns = monotonic_ns();
  auto* event = reinterpret_cast<fanotify_event_metadata*>(buffer);
  ssize_t left = length;
  for (; FAN_EVENT_OK(event, left); event = FAN_EVENT_NEXT(event, left)) {
    if (event->vers != FANOTIFY_METADATA_VERSION) {
      if (event->fd >= 0) ::close(event->fd);
      continue;
    }
    if (event->mask & FAN_Q_OVERFLOW) {
      stats_.overflows.fetch_add(1, std::memory_order_relaxed);
      invalidator_(-1);
    }
    if (event->fd < 0) continue;
    if ((event->mask & permission_mask()) == 0) {
      stats_.invalidations.fetch_add(1, std::memory_order_relaxed);
      invalidator_(event->fd);
      ::close(event->fd);
      continue;
    }
    stats_.permission_events.fetch_add(1, std::memory_order_relaxed);
    // The agent's own opens (state files, keyrings) are answered here, by the thread that
    // never opens files on watched filesystems, so a worker can never wait on itself.
    if (event->pid == self) {
      stats_.own_events.fetch_add(1, std::memory_order_relaxed);
      respond(event->fd, Verdict::allow, arrived_ns);
      ::close(event->fd);
      continue;
    }
    FastDecision fast;
    if (fast_) fast = fast_(event->fd, event->pid, event->mask);
    if (fast.verdict) {
      stats_.fast_answers.fetch_add(1, std::memory_order_relaxed);
      respond(event->fd, *fast.verdict, arrived_ns);
      ::close(event->fd);
      continue;
    }
    if (draining) {
      stats_.stop_answers.fetch_add(1, std::memory_order_relaxed);
      answer_undecided(event->fd, event->pid, fast.owed, arrived_ns, "stopping");
      ::close(event->fd);
      continue;
    }
    const uint32_t uid = uid_of_ ? uid_of_(event->pid) : 0;
    std::string_view refused;
    {
      std::lock_guard lock(queue_mutex_);
      auto share = shares_.find(uid);
      if (free_slots_.empty()) {
        refused = "queue-full";
      } else if (share != shares_.end() && share->second.held >= options_.max_pending_per_uid) {
        refused = "uid-share";
      } else {
        const size_t index = free_slots_.back();
        free_slots_.pop_back();
        if (share == shares_.end()) share = shares_.emplace(uid, UidShare{}).first;
        UidShare& mine = share->second;
        ++mine.held;
        Slot& slot = slots_[index];
        slot.fd = event->fd;
        slot.pid = event->pid;
        slot.uid = uid;
        slot.mask = event->mask;
        slot.arrived_ns = arrived_ns;
        slot.owed.store(fast.owed, std::memory_order_relaxed);
        slot.deadline_ns.store(monotonic_ns() + options_.deadline.count() * 1'000'000, std::memory_order_relaxed);
        const uint64_t generation = slot.state.load(std::memory_order_relaxed) >> 2;
        in_flight_.fetch_add(1, std::memory_order_relaxed);
        slot.state.store(generation << 2 | kPending, std::memory_order_release);
        mine.waiting.push_back(index);
        if (!mine.runnable && mine.busy < options_.workers_per_uid) {
          runnable_.push_back(uid);
          mine.runnable = true;
        }
      }
    }
    if (!refused.empty()) {
      // Never block the reader (fapolicyd's queue-full deadlock): answer with the default now.
      (refused == "queue-full" ? stats_.queue_full : stats_.uid_share_full).fetch_add(1, std::memory_order_relaxed);
      answer_undecided(event->fd, event->pid, fast.owed, arrived_ns, refused);
      ::close(event->fd);
      continue;
    }
    queue_ready_.notify_one();
  }
  return true;
}

void FanotifyListener::reader_loop() {
  alignas(fanotify_event_metadata) char buffer[64 * 1024];
  pollfd fds[2] = {{fanotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0 || stopping_.load(std::memory_order_relaxed)) break;
    if (!read_events(buffer, sizeof buffer, /*draining=*/false)) {
      // The group itself is broken. Dying closes it, and the kernel releases every event.
      std::fprintf(stderr, "vigil agent: fanotify read failed: %s; exiting so the kernel releases all events\n",
                   std::strerror(errno));
      ::_exit(3);
    }
  }
  // Stopping, marks removed: answer what the kernel queued before that, without waiting.
  for (int rounds = 0; rounds < 1024; ++rounds) {
    pollfd pending = {fanotify_fd_, POLLIN, 0};
    if (::poll(&pending, 1, 0) <= 0 || (pending.revents & POLLIN) == 0) break;
    if (!read_events(buffer, sizeof buffer, /*draining=*/true)) break;
  }
}

void FanotifyListener::worker_loop() {
  for (;;) {
    size_t index = 0;
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [&] { return !runnable_.empty() || stopping_.load(); });
      if (runnable_.empty()) return;
      const uint32_t uid = runnable_.front();
      runnable_.pop_front();
      UidShare& share = shares_.at(uid);
      share.runnable = false;
      index = share.waiting.front();
      share.waiting.pop_front();
      ++share.busy;
      // Round robin: the uid goes to the back of the line, if it may take another worker.
      if (!share.waiting.empty() && share.busy < options_.workers_per_uid) {
        runnable_.push_back(uid);
        share.runnable = true;
      }
    }
    Slot& slot = slots_[index];
    const uint64_t state = slot.state.load(std::memory_order_acquire);
    // Answered while it waited (deadline, stop): what it owed is recorded already; skip it.
    if ((state & kStateMask) == kPending) {
      std::optional<Verdict> verdict;
      if (!stopping_.load()) {
        EventTicket ticket(slot.state, state, slot.owed, stopping_);
        verdict = decider_(slot.fd, slot.pid, slot.mask, ticket);
      }
      // No verdict: the decider gave up on an abandoned ticket (or was never asked). If the
      // listener is stopping and nobody answered yet, this thread does, as stop() would.
      if (verdict) answer_slot(slot, state, *verdict);
      else if (answer_slot(slot, state, options_.on_deadline, "stopping")) stats_.stop_answers.fetch_add(1);
    }
    release_slot(index);
  }
}

void FanotifyListener::watchdog_loop() {
  const auto tick = std::max(std::chrono::milliseconds(1), options_.deadline / 4);
  std::unique_lock lock(watchdog_mutex_);
  while (!stopping_.load()) {
    watchdog_wake_.wait_for(lock, tick);
    if (stopping_.load()) break;
    if (in_flight_.load(std::memory_order_acquire) == 0) continue;
    expire_pending("deadline", /*only_overdue=*/true);
  }
}

}  // namespace vigil::agent
