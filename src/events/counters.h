#pragma once
// Pipeline counters: what came in (per type), what could not be decoded (per reason), and what
// the kernel lost (drops) or is about to (ring-buffer fill). One writer (the thread reading a
// source) updates them without locks; any thread may take a snapshot (e.g. for /metrics).
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "events/event.h"

namespace vigil::events {

struct RingBufferFill {
  std::uint64_t pending_bytes = 0;   // written by the kernel, not yet consumed
  std::uint64_t capacity_bytes = 0;  // the ring buffer's size
};

struct CounterSnapshot {
  std::uint64_t records = 0;  // raw records read (decoded or not)
  std::uint64_t events = 0;   // records decoded into events
  std::array<std::uint64_t, kEventTypeCount> events_by_type{};  // index: EventType
  std::uint64_t decode_errors = 0;
  std::array<std::uint64_t, kDecodeErrorReasonCount> decode_errors_by_reason{};  // index: DecodeErrorReason
  // From the kernel (live sources only; empty/0 for replay).
  std::uint64_t drops = 0;                         // records the kernel could not reserve room for
  std::vector<std::uint64_t> drops_by_record_type;  // index: vigil_event_type
  std::vector<std::uint64_t> drops_per_cpu;         // index: CPU; empty when the probe cannot tell
  std::optional<RingBufferFill> ring_buffer_fill;   // empty when the source has no ring buffer
};

class EventCounters {
 public:
  EventCounters() = default;
  // Moving copies the values (sources that own counters are movable before they are shared).
  EventCounters(EventCounters&& other) noexcept { copy_from(other); }
  EventCounters& operator=(EventCounters&& other) noexcept {
    copy_from(other);
    return *this;
  }
  EventCounters(const EventCounters&) = delete;
  EventCounters& operator=(const EventCounters&) = delete;

  // Single writer: plain load+store (no locked read-modify-write) on relaxed atomics.
  void count_event(EventType type) noexcept {
    bump(records_);
    bump(events_);
    bump(events_by_type_[index_of(type)]);
  }
  void count_decode_error(DecodeErrorReason reason) noexcept {
    bump(records_);
    bump(decode_errors_);
    const auto i = static_cast<std::size_t>(reason);
    bump(decode_errors_by_reason_[i < kDecodeErrorReasonCount ? i : 0]);
  }
  // The user-space part of a snapshot; sources add the kernel part.
  CounterSnapshot snapshot() const;

 private:
  using Counter = std::atomic<std::uint64_t>;
  static void bump(Counter& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void copy_from(const EventCounters& other) noexcept;
  static std::size_t index_of(EventType type) noexcept {
    const auto i = static_cast<std::size_t>(type);
    return i < kEventTypeCount ? i : 0;
  }

  Counter records_{0};
  Counter events_{0};
  std::array<Counter, kEventTypeCount> events_by_type_{};
  Counter decode_errors_{0};
  std::array<Counter, kDecodeErrorReasonCount> decode_errors_by_reason_{};
};

}  // namespace vigil::events
