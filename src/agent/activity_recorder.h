#pragma once
// Per-container activity for the console: events per type per 10-second bucket, plus the first
// few events of each (container, type) in every bucket kept whole, so the dashboard can show
// both the shape of the activity and examples of it. Runs on the runtime thread; per event it
// costs a hash lookup and an increment (allocation only for a new cell or a kept event).
#include <cstdint>
#include <string>
#include <unordered_map>

#include "events/event.h"
#include "events/time_anchor.h"
#include "store/store.h"

#include "state/container_resolver.h"

namespace vigil::state {
class ProcessTable;
}

namespace vigil::agent {

class ActivityRecorder {
 public:
  ActivityRecorder(store::Store& store, unsigned samples_per_bucket, events::TimeAnchor anchor);
  // Before the process table applies the event (the same moment rules see it).
  void on_event(const events::Event& event, const state::ProcessTable& table);
  // Writes the bucket out once its 10 s are over; true when it did. Call often, events or not.
  bool tick(std::int64_t now_wall_ns);
  // Writes the current bucket now (at shutdown).
  void flush();

 private:
  struct Key {
    const void* container;  // the process table's container entry (stable while referenced)
    events::EventType type;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept {
      return std::hash<const void*>()(key.container) * 31 + static_cast<std::size_t>(key.type);
    }
  };
  struct Cell {
    // Held so the entry (the key's address) cannot be freed and reused within the bucket.
    state::ContainerRef holder;
    std::string container_id;  // "" on the host
    std::int64_t count = 0;
    unsigned sampled = 0;
  };

  store::Store& store_;
  unsigned samples_per_bucket_;
  events::TimeAnchor anchor_;
  std::int64_t boot_to_wall_ns_;
  void write_counts();  // adds the counts so far to the store and zeroes them

  static constexpr std::int64_t kPartialFlushNs = 2'000'000'000;
  std::int64_t bucket_start_s_ = 0;
  std::int64_t last_partial_flush_ns_ = 0;
  std::unordered_map<Key, Cell, KeyHash> cells_;
  std::unordered_map<const void*, bool> named_;  // containers whose name the store has
};

}  // namespace vigil::agent
