#pragma once
// The bounded queue between the store's writers (any thread) and its one writer thread. A
// push takes the lock only to append or to count a drop; the disk is never touched there.
// The writer takes batches: when batch_rows are waiting, when a flush() waits, or when the
// oldest waiting row is flush_interval old. Rows are numbered in push order, so flush() can
// wait for exactly the rows pushed before it.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "store/store.h"

namespace vigil::store {

struct ContainerName {
  std::string container_id;
  std::string name;
};

using WriteItem =
    std::variant<AlertRecord, EventRecord, MeasurementRecord, DecisionRecord, ActivityCount, RuleHits, ContainerName>;

// The queue's side of StoreStats.
struct QueueCounters {
  std::uint64_t queued = 0, committed = 0, dropped = 0, batches = 0, write_errors = 0;
  std::string last_error;
};

class WriteQueue {
 public:
  using Clock = std::chrono::steady_clock;

  WriteQueue(std::size_t capacity, std::size_t batch_rows, std::chrono::milliseconds flush_interval);
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // False (and counted) when the queue is full or closed.
  bool push(WriteItem item);
  // Waits until everything pushed before the call is written (or failed): false on timeout or
  // when a batch failed meanwhile.
  bool wait_written(std::chrono::milliseconds timeout);

  // Writer side. Waits for a due batch (see above) until wake_at; an empty result means
  // wake_at passed, or the queue is closed and empty.
  std::vector<WriteItem> take_batch(Clock::time_point wake_at);
  // Reports the batch last taken: committed, or failed with the reason.
  void batch_done(std::size_t rows, const std::string* error);
  // Refuses further pushes; take_batch then hands out what remains without waiting.
  void close();
  bool closed() const;
  bool drained() const;
  // Counts what is still queued as dropped (the writer gave up draining) and empties it.
  void abandon();

  QueueCounters counters() const;

 private:
  bool batch_due(Clock::time_point now) const;

  const std::size_t capacity_;
  const std::size_t batch_rows_;
  const std::chrono::milliseconds flush_interval_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // a batch may be due, or closed
  std::condition_variable written_;     // written_rows_ advanced
  std::deque<WriteItem> queue_;
  Clock::time_point oldest_queued_at_{};
  std::uint64_t pushed_rows_ = 0;   // accepted since open
  std::uint64_t written_rows_ = 0;  // taken and then committed or failed
  std::size_t in_flight_ = 0;       // taken, not yet reported
  int flush_waiters_ = 0;
  bool closed_ = false;
  QueueCounters counters_;
};

}  // namespace vigil::store
