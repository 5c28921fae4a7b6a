#pragma once
// Where events come from. Consumers (state, rules, anomaly detection, `vigil capture`) read an
// EventSource and cannot tell a live probe from a recorded capture file, so everything
// downstream is testable without root:
//   LiveSource   (live_source.h)   the eBPF ring buffer (needs root; library vigil_events_live)
//   ReplaySource (replay_source.h) a capture file written by CaptureWriter (capture_file.h)
//   MemorySource (memory_source.h) raw records held in memory (tests)
// Every source hands out the raw record next to the decoded Event, decoded by the same
// decode_record(), so a replayed capture behaves exactly like the live run it recorded.
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "common/error.h"
#include "events/counters.h"
#include "events/event.h"
#include "events/time_anchor.h"

namespace vigil::events {

// Receives what a source reads. Both calls get the record's raw bytes; like the Event, they are
// valid only during the call. Handlers must not throw.
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_event(const Event& event, std::span<const std::uint8_t> raw) = 0;
  // A record that did not decode (already counted in the source's counters).
  virtual void on_decode_error(const DecodeError& /*error*/, std::span<const std::uint8_t> /*raw*/) {}
};

struct Batch {
  std::size_t records = 0;  // raw records delivered by this call (events + decode errors)
  bool end = false;         // the source is exhausted (replay/memory at end of data; never live)
};

class EventSource {
 public:
  virtual ~EventSource() = default;

  // Delivers the records available now, waiting up to `timeout` (negative: forever) when there
  // are none; replay and memory sources never wait and deliver at most a bounded batch per call.
  // A live wait interrupted by a signal returns a Batch of 0 records (check your stop flag).
  // Errors are source failures (a broken ring buffer, an unreadable or truncated capture file);
  // bad records are not errors: they go to on_decode_error and the counters.
  virtual Result<Batch> next_batch(std::chrono::milliseconds timeout, EventHandler& handler) = 0;

  // Counters so far; safe to call from another thread than the one calling next_batch.
  virtual CounterSnapshot counters() const = 0;

  // Turns record timestamps into wall time: for live sources, taken when opened; for replay, the
  // anchor recorded in the capture file.
  virtual TimeAnchor time_anchor() const = 0;

  // A descriptor that becomes readable when next_batch has something (epoll); -1 when the
  // source never blocks (replay, memory).
  virtual int wait_fd() const { return -1; }
};

// next_batch with a lambda `void(const Event&, std::span<const std::uint8_t> raw)`; decode
// errors are only counted.
template <class F>
  requires std::invocable<F&, const Event&, std::span<const std::uint8_t>>
Result<Batch> next_batch(EventSource& source, std::chrono::milliseconds timeout, F&& on_event) {
  struct Adapter final : EventHandler {
    explicit Adapter(F& fn) : fn_(fn) {}
    void on_event(const Event& event, std::span<const std::uint8_t> raw) override { fn_(event, raw); }
    F& fn_;
  } adapter(on_event);
  return source.next_batch(timeout, adapter);
}

// Decodes one raw record, counts it and hands it to the handler: what every source does per
// record, so all of them count and deliver identically.
void deliver_record(std::span<const std::uint8_t> raw, EventHandler& handler, EventCounters& counters) noexcept;

}  // namespace vigil::events
