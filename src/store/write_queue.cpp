#include "store/write_queue.h"

#include <algorithm>

namespace vigil::store {

WriteQueue::WriteQueue(std::size_t capacity, std::size_t batch_rows, std::chrono::milliseconds flush_interval)
    // 0 would drop or never write everything; a misconfigured store still works.
    : capacity_(std::max<std::size_t>(capacity, 1)),
      batch_rows_(std::max<std::size_t>(batch_rows, 1)),
      flush_interval_(std::max(flush_interval, std::chrono::milliseconds(1))) {}

bool WriteQueue::push(WriteItem item) {
  bool wake_writer = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || queue_.size() >= capacity_) {
      ++counters_.dropped;
      return false;
    }
    if (queue_.empty()) oldest_queued_at_ = Clock::now();
    queue_.push_back(std::move(item));
    ++pushed_rows_;
    // The writer sleeps either until something arrives or until a batch fills; other pushes
    // need not wake it.
    wake_writer = queue_.size() == 1 || queue_.size() == batch_rows_;
  }
  if (wake_writer) work_ready_.notify_one();
  return true;
}

bool WriteQueue::wait_written(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  const std::uint64_t target = pushed_rows_;
  const std::uint64_t errors_before = counters_.write_errors;
  if (written_rows_ >= target) return true;
  ++flush_waiters_;
  work_ready_.notify_one();
  const bool written = written_.wait_until(lock, deadline, [&] { return written_rows_ >= target; });
  --flush_waiters_;
  return written && counters_.write_errors == errors_before;
}

bool WriteQueue::batch_due(Clock::time_point now) const {
  if (queue_.empty()) return false;
  return closed_ || flush_waiters_ > 0 || queue_.size() >= batch_rows_ || now >= oldest_queued_at_ + flush_interval_;
}

std::vector<WriteItem> WriteQueue::take_batch(Clock::time_point wake_at) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto now = Clock::now();
    if (batch_due(now)) break;
    if (now >= wake_at || (closed_ && queue_.empty())) return {};
    auto until = wake_at;
    if (!queue_.empty()) until = std::min(until, oldest_queued_at_ + flush_interval_);
    work_ready_.wait_until(lock, until);
  }
  const std::size_t rows = std::min(batch_rows_, queue_.size());
  std::vector<WriteItem> batch;
  batch.reserve(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  in_flight_ = rows;
  // What remains arrived before now; starting its clock here delays it by at most one batch.
  if (!queue_.empty()) oldest_queued_at_ = Clock::now();
  return batch;
}

void WriteQueue::batch_done(std::size_t rows, const std::string* error) {
  {
    std::lock_guard lock(mutex_);
    written_rows_ += rows;
    in_flight_ = 0;
    if (error) {
      counters_.write_errors += rows;
      counters_.last_error = *error;
    } else {
      counters_.committed += rows;
      ++counters_.batches;
    }
  }
  written_.notify_all();
}

void WriteQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  work_ready_.notify_all();
}

bool WriteQueue::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool WriteQueue::drained() const {
  std::lock_guard lock(mutex_);
  return queue_.empty() && in_flight_ == 0;
}

void WriteQueue::abandon() {
  {
    std::lock_guard lock(mutex_);
    counters_.dropped += queue_.size();
    written_rows_ += queue_.size();
    queue_.clear();
  }
  written_.notify_all();
}

QueueCounters WriteQueue::counters() const {
  std::lock_guard lock(mutex_);
  QueueCounters counters = counters_;
  counters.queued = pushed_rows_ - written_rows_;
  return counters;
}

}  // namespace vigil::store
