#include "events/memory_source.h"

#include <algorithm>
#include <utility>

namespace vigil::events {

MemorySource::MemorySource(std::vector<std::vector<std::uint8_t>> records, TimeAnchor anchor, std::size_t max_batch)
    : records_(std::move(records)), anchor_(anchor), max_batch_(std::max<std::size_t>(max_batch, 1)) {}

Result<Batch> MemorySource::next_batch(std::chrono::milliseconds /*timeout*/, EventHandler& handler) {
  Batch batch;
  while (next_ < records_.size() && batch.records < max_batch_) {
    deliver_record(records_[next_++], handler, counters_);
    ++batch.records;
  }
  batch.end = next_ == records_.size();
  return batch;
}

}  // namespace vigil::events
