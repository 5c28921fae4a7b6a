#include "events/counters.h"

namespace vigil::events {

CounterSnapshot EventCounters::snapshot() const {
  CounterSnapshot snapshot;
  snapshot.records = records_.load(std::memory_order_relaxed);
  snapshot.events = events_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kEventTypeCount; ++i) {
    snapshot.events_by_type[i] = events_by_type_[i].load(std::memory_order_relaxed);
  }
  snapshot.decode_errors = decode_errors_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kDecodeErrorReasonCount; ++i) {
    snapshot.decode_errors_by_reason[i] = decode_errors_by_reason_[i].load(std::memory_order_relaxed);
  }
  return snapshot;
}

void EventCounters::copy_from(const EventCounters& other) noexcept {
  const auto copy = [](Counter& to, const Counter& from) {
    to.store(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  copy(records_, other.records_);
  copy(events_, other.events_);
  for (std::size_t i = 0; i < kEventTypeCount; ++i) copy(events_by_type_[i], other.events_by_type_[i]);
  copy(decode_errors_, other.decode_errors_);
  for (std::size_t i = 0; i < kDecodeErrorReasonCount; ++i) {
    copy(decode_errors_by_reason_[i], other.decode_errors_by_reason_[i]);
  }
}

}  // namespace vigil::events
