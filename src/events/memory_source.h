#pragma once
// An EventSource over raw records held in memory: for tests of consumers (state, rules) that
// build records by hand or load them from a capture.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "events/event_source.h"

namespace vigil::events {

class MemorySource final : public EventSource {
 public:
  explicit MemorySource(std::vector<std::vector<std::uint8_t>> records, TimeAnchor anchor = {},
                        std::size_t max_batch = 4096);

  Result<Batch> next_batch(std::chrono::milliseconds timeout, EventHandler& handler) override;
  CounterSnapshot counters() const override { return counters_.snapshot(); }
  TimeAnchor time_anchor() const override { return anchor_; }

 private:
  std::vector<std::vector<std::uint8_t>> records_;
  TimeAnchor anchor_;
  std::size_t max_batch_;
  std::size_t next_ = 0;
  EventCounters counters_;
};

}  // namespace vigil::events
