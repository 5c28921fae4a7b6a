#pragma once
// The live EventSource: the eBPF probes' ring buffer (probe::EventProbe). Needs CAP_BPF+CAP_PERFMON (or root). In
// library vigil_events_live (it links vigil_probe, which fuzz builds leave out).
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "events/event_source.h"
#include "probe/probe.h"

namespace vigil::events {

struct LiveSourceOptions {
  std::size_t ring_buffer_bytes = std::size_t{4} << 20;  // power of two, at least one page
  // Event types the kernel records: nullopt: everything the probe supports; else only these
  // syscalls (the process lifecycle types procexec, fork, procexit are always recorded; listing
  // only those captures no syscalls). A syscall the probe cannot capture fails open().
  std::optional<std::vector<EventType>> types;
};

class LiveSource final : public EventSource {
 public:
  static Result<LiveSource> open(const LiveSourceOptions& options = {});

  LiveSource(LiveSource&&) noexcept;
  LiveSource& operator=(LiveSource&&) noexcept;
  ~LiveSource() override;

  // Changes the recorded syscalls while running (same rules as LiveSourceOptions::types, but a
  // list, not "everything").
  Result<void> set_types(std::span<const EventType> types);
  // The in-kernel path filters of file syscalls (probe::EventProbe::set_path_filters), keyed by
  // event type; a type not listed is not filtered.
  Result<void> set_path_filters(const std::map<EventType, probe::PathFilter>& filters);
  // Syscalls (event types) whose every call is killed in the kernel as it returns.
  Result<void> set_kill_on_exit(std::span<const EventType> types);
  // Calls those filters kept in the kernel so far.
  Result<std::uint64_t> filtered_by_path() const;

  Result<Batch> next_batch(std::chrono::milliseconds timeout, EventHandler& handler) override;
  // Adds the probe's drop counters and ring-buffer fill to the decoding counters.
  CounterSnapshot counters() const override;
  TimeAnchor time_anchor() const override;
  int wait_fd() const override;

 private:
  struct State;
  explicit LiveSource(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vigil::events
