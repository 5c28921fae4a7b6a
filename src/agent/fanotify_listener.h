#pragma once
// Receives fanotify permission events on marked mounts and answers each exactly once:
// with the decider's verdict, or with the configured default when the deadline passes first
// (a watchdog thread), or by the kernel itself when the fanotify fd closes (agent exit).
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/latency_histogram.h"
#include "common/error.h"

namespace vigil::agent {

enum class Verdict { allow, deny };

struct ListenerStats {
  std::atomic<uint64_t> permission_events{0};
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> timeouts{0};      // answered by the watchdog
  std::atomic<uint64_t> queue_full{0};    // answered at once because every slot was busy
  std::atomic<uint64_t> own_events{0};    // the agent's own opens, always allowed
  std::atomic<uint64_t> fast_answers{0};  // answered on the reader thread by the fast decider
  std::atomic<uint64_t> invalidations{0};
  std::atomic<uint64_t> overflows{0};
  std::atomic<uint64_t> read_errors{0};   // the kernel could not create an event fd (EMFILE...)
  // From the read that brought a permission event to its answer, however it was answered.
  LatencyHistogram latency;
};

class FanotifyListener {
 public:
  struct Options {
    unsigned workers = 2;
    std::chrono::milliseconds deadline{250};
    Verdict on_deadline = Verdict::allow;
    size_t max_pending = 4096;
  };
  // Called on a worker thread. fd is the kernel's descriptor of the file being opened.
  using Decider = std::function<Verdict(int fd, pid_t pid, uint64_t mask)>;
  // Called on the reader thread first; a verdict answers the event at once (no hand-off to a
  // worker), nullopt queues it. Must not block: no file content, no waiting.
  using FastDecider = std::function<std::optional<Verdict>(int fd, pid_t pid, uint64_t mask)>;
  // Called on the reader thread for FAN_CLOSE_WRITE (fd >= 0) or a queue overflow (fd < 0).
  using Invalidator = std::function<void(int fd)>;

  static Result<std::unique_ptr<FanotifyListener>> create(const Options& options, Decider decider,
                                                          Invalidator invalidator, FastDecider fast = nullptr);
  ~FanotifyListener();  // stop()

  // Marks a mount for `mask` (FAN_MARK_MOUNT), replacing `old_mask` without a gap.
  Result<void> mark_mount(const std::string& mount, uint64_t mask, uint64_t old_mask = 0);
  // Kernel-side verdict cache: the kernel stops sending this inode's exec permission events
  // until the file is written or truncated (the kernel then clears the mark) or forget_inode.
  // The mark is evictable: it never pins the inode in memory.
  Result<void> ignore_exec(int fd);
  void forget_inode(int fd);
  void forget_all_inodes();  // every inode mark of the group
  void start();
  void stop();
  const ListenerStats& stats() const { return stats_; }
  static uint64_t permission_mask();

 private:
  struct Slot {
    std::atomic<uint64_t> state{0};  // generation << 2 | {0 free, 1 pending, 2 answering, 3 answered}
    std::atomic<int64_t> deadline_ns{0};
    int fd = -1;
    pid_t pid = 0;
    uint64_t mask = 0;
    int64_t arrived_ns = 0;  // monotonic, when the reader read it
  };

  FanotifyListener(int fanotify_fd, int wake_fd, const Options& options, Decider decider, Invalidator invalidator,
                   FastDecider fast);
  void reader_loop();
  void worker_loop();
  void watchdog_loop();
  void respond(int fd, Verdict verdict, int64_t arrived_ns);
  bool answer_slot(Slot& slot, uint64_t pending_state, Verdict verdict);
  void release_slot(size_t index);

  int fanotify_fd_;
  int wake_fd_;
  Options options_;
  Decider decider_;
  Invalidator invalidator_;
  FastDecider fast_;
  ListenerStats stats_;
  std::vector<Slot> slots_;
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::vector<size_t> free_slots_;  // guarded by queue_mutex_
  std::vector<size_t> queue_;       // ring buffer of slot indexes, guarded by queue_mutex_
  size_t queue_head_ = 0, queue_count_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> in_flight_{0};  // slots handed to workers: the watchdog sleeps through idle ticks
  std::vector<std::thread> threads_;
  std::thread reader_, watchdog_;
  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_wake_;
  bool started_ = false;
};

}  // namespace vigil::agent
