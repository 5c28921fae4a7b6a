#pragma once
// Replays a capture file as an EventSource, as fast as the consumer reads (no pacing).
#include <cstddef>
#include <optional>
#include <string>

#include "events/capture_file.h"
#include "events/event_source.h"

namespace vigil::events {

class ReplaySource final : public EventSource {
 public:
  static Result<ReplaySource> open(const std::string& path);
  explicit ReplaySource(CaptureReader reader, std::size_t max_batch = 4096);

  // Records up to the first framing error (a truncated tail) are delivered; the error comes from
  // the call after them, then the source is at end.
  Result<Batch> next_batch(std::chrono::milliseconds timeout, EventHandler& handler) override;
  CounterSnapshot counters() const override { return counters_.snapshot(); }
  TimeAnchor time_anchor() const override { return reader_.header().anchor; }

  const CaptureHeader& header() const noexcept { return reader_.header(); }

 private:
  CaptureReader reader_;
  std::size_t max_batch_;
  EventCounters counters_;
  std::optional<Error> pending_error_;
  bool end_ = false;
};

}  // namespace vigil::events
