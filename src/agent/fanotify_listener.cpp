#include "agent/fanotify_listener.h"

#include <cerrno>
#include <cstring>
#include <cstdio>
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

}  // namespace

uint64_t FanotifyListener::permission_mask() { return FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_ACCESS_PERM; }

Result<std::unique_ptr<FanotifyListener>> FanotifyListener::create(const Options& options, Decider decider,
                                                                   Invalidator invalidator, FastDecider fast) {
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
  return std::unique_ptr<FanotifyListener>(
      new FanotifyListener(fd, wake, options, std::move(decider), std::move(invalidator), std::move(fast)));
}

FanotifyListener::FanotifyListener(int fanotify_fd, int wake_fd, const Options& options, Decider decider,
                                   Invalidator invalidator, FastDecider fast)
    : fanotify_fd_(fanotify_fd),
      wake_fd_(wake_fd),
      options_(options),
      decider_(std::move(decider)),
      invalidator_(std::move(invalidator)),
      fast_(std::move(fast)),
      slots_(options.max_pending),
      queue_(options.max_pending) {
  free_slots_.reserve(options.max_pending);
  for (size_t i = options.max_pending; i > 0; --i) free_slots_.push_back(i - 1);
}

FanotifyListener::~FanotifyListener() {
  stop();
  if (fanotify_fd_ >= 0) ::close(fanotify_fd_);
  ::close(wake_fd_);
}

Result<void> FanotifyListener::mark_mount(const std::string& mount, uint64_t mask, uint64_t old_mask) {
  // New bits first, dropped bits after: no moment in which the mount is unwatched.
  if (mask != 0 && ::fanotify_mark(fanotify_fd_, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, mount.c_str()) != 0) {
    return fail_errno("fanotify_mark " + mount);
  }
  const uint64_t dropped = old_mask & ~mask;
  if (dropped != 0 &&
      ::fanotify_mark(fanotify_fd_, FAN_MARK_REMOVE | FAN_MARK_MOUNT, dropped, AT_FDCWD, mount.c_str()) != 0) {
    return fail_errno("fanotify_mark (remove) " + mount);
  }
  return {};
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
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (reader_.joinable()) reader_.join();
  queue_ready_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  watchdog_wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  // Closing the group releases every event still pending in the kernel (they are allowed).
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

bool FanotifyListener::answer_slot(Slot& slot, uint64_t pending_state, Verdict verdict) {
  // slot.fd belongs to this generation for as long as the state is still pending_state, and
  // the successful CAS below proves it was; the fd is read before the slot can be released.
  const int fd = slot.fd;
  uint64_t expected = pending_state;
  const uint64_t generation = pending_state & ~kStateMask;
  if (!slot.state.compare_exchange_strong(expected, generation | kAnswering, std::memory_order_acq_rel)) return false;
  respond(fd, verdict, slot.arrived_ns);
  slot.state.store(generation | kAnswered, std::memory_order_release);
  return true;
}

void FanotifyListener::release_slot(size_t index) {
  Slot& slot = slots_[index];
  // The watchdog may be writing this event's answer right now; its fd must outlive that.
  while ((slot.state.load(std::memory_order_acquire) & kStateMask) == kAnswering) std::this_thread::yield();
  ::close(slot.fd);
  slot.fd = -1;
  const uint64_t generation = (slot.state.load(std::memory_order_relaxed) >> 2) + 1;
  slot.state.store(generation << 2 | kFree, std::memory_order_release);
  in_flight_.fetch_sub(1, std::memory_order_release);
  std::lock_guard lock(queue_mutex_);
  free_slots_.push_back(index);
}

void FanotifyListener::reader_loop() {
  alignas(fanotify_event_metadata) char buffer[64 * 1024];
  const pid_t self = ::getpid();
  pollfd fds[2] = {{fanotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    const ssize_t length = ::read(fanotify_fd_, buffer, sizeof buffer);
    if (length <= 0) {
      if (length < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (length < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
        // The kernel could not make an event fd (and denied that one event). Never stop
        // reading: every later event on the mount would wait on a reader that is gone.
        stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      // The group itself is broken. Dying closes it, and the kernel releases every event.
      std::fprintf(stderr, "vigil agent: fanotify read failed: %s; exiting so the kernel releases all events\n",
                   length < 0 ? std::strerror(errno) : "end of file");
      ::_exit(3);
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
      // never opens files, so a worker can never wait on itself.
      if (event->pid == self) {
        stats_.own_events.fetch_add(1, std::memory_order_relaxed);
        respond(event->fd, Verdict::allow, arrived_ns);
        ::close(event->fd);
        continue;
      }
      if (fast_) {
        if (const std::optional<Verdict> verdict = fast_(event->fd, event->pid, event->mask)) {
          stats_.fast_answers.fetch_add(1, std::memory_order_relaxed);
          respond(event->fd, *verdict, arrived_ns);
          ::close(event->fd);
          continue;
        }
      }
      size_t index = 0;
      {
        std::lock_guard lock(queue_mutex_);
        if (free_slots_.empty() || queue_count_ == queue_.size()) {
          index = SIZE_MAX;
        } else {
          index = free_slots_.back();
          free_slots_.pop_back();
        }
      }
      if (index == SIZE_MAX) {
        // Never block the reader (fapolicyd's queue-full deadlock): answer with the default now.
        stats_.queue_full.fetch_add(1, std::memory_order_relaxed);
        respond(event->fd, options_.on_deadline, arrived_ns);
        ::close(event->fd);
        continue;
      }
      Slot& slot = slots_[index];
      slot.fd = event->fd;
      slot.pid = event->pid;
      slot.mask = event->mask;
      slot.arrived_ns = arrived_ns;
      slot.deadline_ns.store(monotonic_ns() + options_.deadline.count() * 1'000'000, std::memory_order_relaxed);
      const uint64_t generation = slot.state.load(std::memory_order_relaxed) >> 2;
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      slot.state.store(generation << 2 | kPending, std::memory_order_release);
      {
        std::lock_guard lock(queue_mutex_);
        queue_[(queue_head_ + queue_count_) % queue_.size()] = index;
        ++queue_count_;
      }
      queue_ready_.notify_one();
    }
  }
}

void FanotifyListener::worker_loop() {
  for (;;) {
    size_t index = 0;
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [&] { return queue_count_ > 0 || stopping_.load(); });
      if (queue_count_ == 0) return;
      index = queue_[queue_head_];
      queue_head_ = (queue_head_ + 1) % queue_.size();
      --queue_count_;
    }
    Slot& slot = slots_[index];
    const uint64_t state = slot.state.load(std::memory_order_acquire);
    // Decide even when the watchdog already answered: the measurement and audit record of a
    // timed-out event must not be lost.
    const Verdict verdict = decider_(slot.fd, slot.pid, slot.mask);
    if ((state & kStateMask) == kPending) answer_slot(slot, state, verdict);
    release_slot(index);
  }
}

void FanotifyListener::watchdog_loop() {
  const auto tick = std::max(std::chrono::milliseconds(1), options_.deadline / 4);
  std::unique_lock lock(watchdog_mutex_);
  while (!stopping_.load()) {
    watchdog_wake_.wait_for(lock, tick);
    if (in_flight_.load(std::memory_order_acquire) == 0) continue;
    const int64_t now = monotonic_ns();
    for (auto& slot : slots_) {
      const uint64_t state = slot.state.load(std::memory_order_acquire);
      if ((state & kStateMask) != kPending) continue;
      if (slot.deadline_ns.load(std::memory_order_relaxed) > now) continue;
      if (answer_slot(slot, state, options_.on_deadline)) stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace vigil::agent
