#include "events/replay_source.h"

#include <algorithm>
#include <utility>

namespace vigil::events {

Result<ReplaySource> ReplaySource::open(const std::string& path) {
  auto reader = CaptureReader::open(path);
  if (!reader) return std::unexpected(reader.error());
  return ReplaySource(std::move(*reader));
}

ReplaySource::ReplaySource(CaptureReader reader, std::size_t max_batch)
    : reader_(std::move(reader)), max_batch_(std::max<std::size_t>(max_batch, 1)) {}

Result<Batch> ReplaySource::next_batch(std::chrono::milliseconds /*timeout*/, EventHandler& handler) {
  if (pending_error_) {
    Error error = std::move(*pending_error_);
    pending_error_.reset();
    end_ = true;
    return std::unexpected(std::move(error));
  }
  Batch batch;
  while (!end_ && batch.records < max_batch_) {
    auto record = reader_.next();
    if (!record) {
      // Deliver what came before the bad tail first; report it on the next call.
      if (batch.records == 0) {
        end_ = true;
        return std::unexpected(record.error());
      }
      pending_error_ = std::move(record.error());
      return batch;
    }
    if (!*record) {
      end_ = true;
      break;
    }
    deliver_record(**record, handler, counters_);
    ++batch.records;
  }
  batch.end = end_;
  return batch;
}

}  // namespace vigil::events
