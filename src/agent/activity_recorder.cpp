#include "agent/activity_recorder.h"

#include "events/render.h"
#include "state/process_table.h"

namespace vigil::agent {

namespace {
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
}

ActivityRecorder::ActivityRecorder(store::Store& store, unsigned samples_per_bucket, events::TimeAnchor anchor)
    : store_(store),
      samples_per_bucket_(samples_per_bucket),
      anchor_(anchor),
      boot_to_wall_ns_(anchor.wall_ns - static_cast<std::int64_t>(anchor.boot_ns)) {
  cells_.reserve(256);
}

void ActivityRecorder::on_event(const events::Event& event, const state::ProcessTable& table) {
  const std::int64_t wall_ns = static_cast<std::int64_t>(event.task.timestamp_ns) + boot_to_wall_ns_;
  const std::int64_t bucket = wall_ns / kNsPerSecond / store::kActivityBucketSeconds * store::kActivityBucketSeconds;
  if (bucket_start_s_ == 0) bucket_start_s_ = bucket;
  // Events reach user space a little out of order across CPUs: an older one counts in the
  // current bucket, a newer one closes it.
  if (bucket > bucket_start_s_) {
    flush();
    bucket_start_s_ = bucket;
  }
  const state::Process* process = table.find(event.task.pid);
  const state::ContainerInfo* container = process != nullptr ? process->container.get() : nullptr;
  auto [cell, inserted] = cells_.try_emplace(Key{container, event.type});
  if (inserted && container != nullptr && container->id != "host" && !container->id.empty()) {
    cell->second.holder = process->container;
    cell->second.container_id = container->id;
    if (!container->name.empty() && named_.try_emplace(container, true).second)
      store_.set_container_name(container->id, container->name);
  }
  ++cell->second.count;
  if (cell->second.sampled < samples_per_bucket_) {
    ++cell->second.sampled;
    store::EventRecord record;
    record.time_ns = wall_ns;
    record.type = std::string(events::event_type_name(event.type));
    record.container_id = cell->second.container_id;
    record.pid = event.task.pid;
    record.process = process != nullptr ? process->comm : std::string(event.task.comm);
    record.summary = events::event_line(event, &anchor_);
    record.json = events::event_to_json(event, &anchor_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    store_.add_event(std::move(record));
  }
}

bool ActivityRecorder::tick(std::int64_t now_wall_ns) {
  const std::int64_t now_bucket = now_wall_ns / kNsPerSecond / store::kActivityBucketSeconds * store::kActivityBucketSeconds;
  if (bucket_start_s_ == 0) return false;
  if (now_bucket > bucket_start_s_) {
    flush();
    bucket_start_s_ = now_bucket;
    return true;
  }
  // The store adds counts to a bucket, so the open bucket can go out in parts: the chart is
  // then at most kPartialFlushNs behind instead of a whole bucket.
  if (now_wall_ns - last_partial_flush_ns_ >= kPartialFlushNs) {
    write_counts();
    last_partial_flush_ns_ = now_wall_ns;
  }
  return false;
}

void ActivityRecorder::write_counts() {
  for (auto& [key, cell] : cells_) {
    if (cell.count == 0) continue;
    store_.add_activity(store::ActivityCount{.bucket_start_s = bucket_start_s_,
                                             .container_id = cell.container_id,
                                             .type = std::string(events::event_type_name(key.type)),
                                             .count = cell.count});
    cell.count = 0;
  }
}

void ActivityRecorder::flush() {
  write_counts();
  // Containers come and go: forget their cells (and the pointers) with the bucket.
  cells_.clear();
  named_.clear();
}

}  // namespace vigil::agent
