#pragma once
// Receives fanotify permission events on marked filesystems (or mounts) and answers each
// exactly once: with the decider's verdict, or with the configured default when the deadline
// passes first (a watchdog thread), when one uid already holds its share of the slots, or when
// the listener stops. An allow without a finished decision is reported to `Unfinished` first,
// so what the decision owed (a measurement) is recorded before the program can run.
#include <sys/types.h>

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
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/latency_histogram.h"
#include "common/error.h"

namespace vigil::agent {

enum class Verdict { allow, deny };
// FAN_MARK_FILESYSTEM: the filesystem behind a path, wherever and however it is mounted.
// FAN_MARK_MOUNT: that one mount object, in this mount namespace only.
enum class MarkScope { filesystem, mount };

struct ListenerStats {
  std::atomic<uint64_t> permission_events{0};
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> timeouts{0};      // answered by the watchdog
  std::atomic<uint64_t> queue_full{0};    // answered at once because every slot was busy
  std::atomic<uint64_t> uid_share_full{0};  // answered at once: the uid already held its share of slots
  std::atomic<uint64_t> unfinished_allows{0};  // allowed before a decision that owed a record finished
  std::atomic<uint64_t> stop_answers{0};  // answered by stop()
  std::atomic<uint64_t> own_events{0};    // the agent's own opens, always allowed
  std::atomic<uint64_t> fast_answers{0};  // answered on the reader thread by the fast decider
  std::atomic<uint64_t> invalidations{0};
  std::atomic<uint64_t> overflows{0};
  std::atomic<uint64_t> read_errors{0};   // the kernel could not create an event fd (EMFILE...)
  // From the read that brought a permission event to its answer, however it was answered.
  LatencyHistogram latency;
};

// A decider's handle on the event it decides.
class EventTicket {
 public:
  // True once nobody waits for this decision: the watchdog answered the event, or the listener
  // is stopping. Long work (hashing) asks between steps and gives up.
  bool abandoned() const;
  // What an allow without this decision would leave unrecorded, as a word for `Unfinished`
  // (0: nothing). Starts as the fast decider's word; the decider refines it as it learns more
  // and clears it once the record is made.
  void owe(uint64_t word);

 private:
  friend class FanotifyListener;
  EventTicket(const std::atomic<uint64_t>& state, uint64_t pending_state, std::atomic<uint64_t>& owed,
              const std::atomic<bool>& stopping)
      : state_(state), pending_state_(pending_state), owed_(owed), stopping_(stopping) {}
  const std::atomic<uint64_t>& state_;
  uint64_t pending_state_;
  std::atomic<uint64_t>& owed_;
  const std::atomic<bool>& stopping_;
};

class FanotifyListener {
 public:
  struct Options {
    unsigned workers = 2;
    // At most this many workers decide one uid's events at once; that uid's other events wait
    // (their deadline runs), so one user's stalled files never hold every worker.
    unsigned workers_per_uid = 1;
    std::chrono::milliseconds deadline{250};
    Verdict on_deadline = Verdict::allow;
    size_t max_pending = 4096;
    // Slots one uid may hold (queued or being decided); its events beyond are answered at once
    // with on_deadline, so one user cannot take every slot from the others. 0: max_pending / 4.
    size_t max_pending_per_uid = 0;
  };
  // Called on a worker thread. fd is the kernel's descriptor of the file being opened.
  // nullopt: it gave up because the ticket was abandoned.
  using Decider = std::function<std::optional<Verdict>(int fd, pid_t pid, uint64_t mask, EventTicket& ticket)>;
  // Called on the reader thread first: a verdict answers the event at once (no hand-off to a
  // worker); without one the event is queued, and `owed` is what an allow without a decision
  // would leave unrecorded. Must not block: no file content, no waiting.
  struct FastDecision {
    std::optional<Verdict> verdict;
    uint64_t owed = 0;
  };
  using FastDecider = std::function<FastDecision(int fd, pid_t pid, uint64_t mask)>;
  // Called on the reader thread for FAN_CLOSE_WRITE (fd >= 0) or a queue overflow (fd < 0).
  using Invalidator = std::function<void(int fd)>;
  // Called just before an event whose decision did not finish is allowed, when its ticket owes
  // something (owed != 0); `why`: "deadline", "queue-full", "uid-share" or "stopping". Runs on
  // the watchdog, reader or stopping thread: it must not read the file (its filesystem may be
  // what stalls).
  using Unfinished = std::function<void(int fd, pid_t pid, uint64_t owed, std::string_view why)>;
  // The uid whose share an event counts against (the real uid of the process).
  using UidOf = std::function<uint32_t(pid_t pid)>;

  static Result<std::unique_ptr<FanotifyListener>> create(const Options& options, Decider decider,
                                                          Invalidator invalidator, FastDecider fast = nullptr,
                                                          Unfinished unfinished = nullptr, UidOf uid_of = nullptr);
  ~FanotifyListener();  // stop()

  // Marks the filesystem (or mount) of `path` for `mask`, replacing `old_mask` without a gap.
  Result<void> mark(const std::string& path, MarkScope scope, uint64_t mask, uint64_t old_mask = 0);
  // Kernel-side verdict cache: the kernel stops sending this inode's exec permission events
  // until the file is written or truncated (the kernel then clears the mark) or forget_inode.
  // The mark is evictable: it never pins the inode in memory.
  Result<void> ignore_exec(int fd);
  void forget_inode(int fd);
  void forget_all_inodes();  // every inode mark of the group
  void start();
  // Releases the kernel side first: removes every mark (no new events), answers what the
  // kernel already queued and every slot still pending (with on_deadline, `Unfinished` first),
  // then joins the threads (deciders see their tickets abandoned) and closes the group.
  void stop();
  const ListenerStats& stats() const { return stats_; }
  static uint64_t permission_mask();

 private:
  struct Slot {
    std::atomic<uint64_t> state{0};  // generation << 2 | {0 free, 1 pending, 2 answering, 3 answered}
    std::atomic<int64_t> deadline_ns{0};
    std::atomic<uint64_t> owed{0};
    int fd = -1;
    pid_t pid = 0;
    uint32_t uid = 0;
    uint64_t mask = 0;
    int64_t arrived_ns = 0;  // monotonic, when the reader read it
  };
  // Per uid, guarded by queue_mutex_: its queued slots, how many workers hold its events, how
  // many slots it holds in all.
  struct UidShare {
    std::deque<size_t> waiting;
    unsigned busy = 0;
    size_t held = 0;
    bool runnable = false;  // listed in runnable_
  };

  FanotifyListener(int fanotify_fd, int wake_fd, const Options& options, Decider decider, Invalidator invalidator,
                   FastDecider fast, Unfinished unfinished, UidOf uid_of);
  void reader_loop();
  // One batch of events from the fanotify fd; false when the group is broken.
  bool read_events(char* buffer, size_t size, bool draining);
  void worker_loop();
  void watchdog_loop();
  void respond(int fd, Verdict verdict, int64_t arrived_ns);
  // Answers an event that no worker decided: on_deadline, with `Unfinished` first for an allow.
  void answer_undecided(int fd, pid_t pid, uint64_t owed, int64_t arrived_ns, std::string_view why);
  bool answer_slot(Slot& slot, uint64_t pending_state, Verdict verdict, std::string_view undecided_why = {});
  void expire_pending(std::string_view why, bool only_overdue);
  void release_slot(size_t index);
  void remove_marks();

  int fanotify_fd_;
  int wake_fd_;
  Options options_;
  Decider decider_;
  Invalidator invalidator_;
  FastDecider fast_;
  Unfinished unfinished_;
  UidOf uid_of_;
  ListenerStats stats_;
  std::vector<Slot> slots_;
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::vector<size_t> free_slots_;                  // guarded by queue_mutex_
  std::unordered_map<uint32_t, UidShare> shares_;   // guarded by queue_mutex_; uids holding slots
  std::deque<uint32_t> runnable_;                   // guarded by queue_mutex_: uids a worker may take from
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> in_flight_{0};  // slots handed to workers: the watchdog sleeps through idle ticks
  std::vector<std::thread> threads_;
  std::thread reader_, watchdog_;
  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_wake_;
  std::mutex marks_mutex_;
  std::vector<MarkScope> marked_scopes_;  // guarded by marks_mutex_
  bool started_ = false;
};

}  // namespace vigil::agent
