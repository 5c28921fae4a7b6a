#pragma once
// A sink's bounded queue and the thread that drains it. The queue is what keeps publish()
// from ever waiting on a sink: offer() takes the lock only to push or to count a drop, and
// the worker never holds the lock while the sink writes.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "outputs/config.h"
#include "outputs/sink.h"

namespace vigil::outputs {

class SinkWorker {
 public:
  SinkWorker(std::unique_ptr<AlertSink> sink, const DeliveryOptions& delivery);
  ~SinkWorker();  // stops without draining
  SinkWorker(const SinkWorker&) = delete;
  SinkWorker& operator=(const SinkWorker&) = delete;

  bool wants(Priority priority) const { return priority <= delivery_.min_priority; }
  // Queues the alert, or counts it dropped if the queue is full or the worker has stopped.
  void offer(std::shared_ptr<const Alert> alert);
  // For an alert that could not even be queued (no memory to copy it).
  void count_dropped();
  // Waits until the queue is empty and nothing is being delivered, or until the deadline.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  // Stops taking alerts, interrupts the sink, joins the thread; queued alerts count as dropped.
  void stop();
  SinkStatus status() const;

 private:
  void run();

  std::unique_ptr<AlertSink> sink_;
  const DeliveryOptions delivery_;
  const std::string name_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // queue_ gained an alert, or stopping_
  std::condition_variable idle_;        // queue_ emptied and nothing in flight
  std::deque<std::shared_ptr<const Alert>> queue_;
  bool in_flight_ = false;
  bool stopping_ = false;
  SinkStatus counters_;

  std::thread thread_;
};

}  // namespace vigil::outputs
