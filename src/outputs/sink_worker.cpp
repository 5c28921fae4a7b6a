#include "outputs/sink_worker.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <exception>

namespace vigil::outputs {
namespace {

// Signals are the main thread's business (the agent's shutdown handling); and a sink writing
// to a closed pipe or socket must get EPIPE, not a SIGPIPE that kills the agent.
void block_signals() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

// A blocked SIGPIPE raised by this thread's write stays pending on the thread; take it so
// it is never delivered later.
void discard_pending_sigpipe() {
  sigset_t pending;
  sigemptyset(&pending);
  if (sigpending(&pending) != 0 || sigismember(&pending, SIGPIPE) != 1) return;
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  const timespec zero{0, 0};
  (void)sigtimedwait(&pipe_only, nullptr, &zero);
}

}  // namespace

SinkWorker::SinkWorker(std::unique_ptr<AlertSink> sink, const DeliveryOptions& delivery)
    : sink_(std::move(sink)), delivery_(delivery), name_(sink_->name()) {
  counters_.name = name_;
  thread_ = std::thread([this] { run(); });  // after every member it reads is set
}

SinkWorker::~SinkWorker() { stop(); }

void SinkWorker::offer(std::shared_ptr<const Alert> alert) {
  if (!alert) return count_dropped();
  {
    std::lock_guard lock(mutex_);
    // queue_size 0 would drop everything; treat it as 1 so a misconfigured sink still works.
    if (stopping_ || queue_.size() >= std::max<size_t>(delivery_.queue_size, 1)) {
      ++counters_.dropped;
      return;
    }
    queue_.push_back(std::move(alert));
  }
  work_ready_.notify_one();
}

void SinkWorker::count_dropped() {
  std::lock_guard lock(mutex_);
  ++counters_.dropped;
}

bool SinkWorker::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return (queue_.empty() && !in_flight_) || stopping_; }) &&
         queue_.empty() && !in_flight_;
}

void SinkWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  work_ready_.notify_all();
  idle_.notify_all();
  sink_->interrupt();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  counters_.dropped += queue_.size();
  queue_.clear();
}

SinkStatus SinkWorker::status() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void SinkWorker::run() {
  block_signals();
  std::unique_lock lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<const Alert> alert = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = true;
    lock.unlock();

    Result<void> result = fail("not delivered");
    try {
      result = sink_->deliver(*alert);
    } catch (const std::exception& e) {
      result = fail(std::string("exception: ") + e.what());
    } catch (...) {
      result = fail("unknown exception");
    }
    discard_pending_sigpipe();

    lock.lock();
    in_flight_ = false;
    if (result) {
      ++counters_.delivered;
    } else {
      ++counters_.failed;
      counters_.last_error = result.error().message;
    }
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace vigil::outputs
