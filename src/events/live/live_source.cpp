// LiveSource over probe::EventProbe: process records always, syscall records for the types asked
// for (the in-kernel interest set, so unwanted syscalls never reach user space).
#include "events/live/live_source.h"

#include <string>
#include <utility>

#include "probe/probe.h"

namespace vigil::events {
namespace {

// The probe's syscall numbers for event types; lifecycle types need none.
Result<std::vector<int>> syscall_numbers(std::span<const EventType> types) {
  std::vector<int> numbers;
  for (EventType type : types) {
    const std::int64_t nr = syscall_nr_of(type);
    if (nr < 0) continue;
    if (probe::EventProbe::find_syscall(static_cast<int>(nr)) == nullptr) {
      return fail("the eBPF probe cannot capture " + std::string(event_type_name(type)));
    }
    numbers.push_back(static_cast<int>(nr));
  }
  return numbers;
}

}  // namespace

struct LiveSource::State {
  probe::EventProbe probe;
  TimeAnchor anchor;
  EventCounters counters;
};

Result<LiveSource> LiveSource::open(const LiveSourceOptions& options) {
  probe::EventProbeOptions probe_options{.ring_buffer_bytes = options.ring_buffer_bytes, .syscalls = std::nullopt};
  if (options.types) {
    auto numbers = syscall_numbers(*options.types);
    if (!numbers) return std::unexpected(numbers.error());
    probe_options.syscalls = std::move(*numbers);
  }
  auto probe = probe::EventProbe::open(probe_options);
  if (!probe) return std::unexpected(probe.error());
  // The anchor is taken after loading, so it is close to the first records' timestamps.
  auto state = std::make_unique<State>(State{std::move(*probe), TimeAnchor::now(), {}});
  return LiveSource(std::move(state));
}

LiveSource::LiveSource(std::unique_ptr<State> state) : state_(std::move(state)) {}
LiveSource::LiveSource(LiveSource&&) noexcept = default;
LiveSource& LiveSource::operator=(LiveSource&&) noexcept = default;
LiveSource::~LiveSource() = default;

Result<void> LiveSource::set_types(std::span<const EventType> types) {
  if (!state_) return fail("live event source: moved from");
  auto numbers = syscall_numbers(types);
  if (!numbers) return std::unexpected(numbers.error());
  return state_->probe.set_syscalls(*numbers);
}

Result<void> LiveSource::set_path_filters(const std::map<EventType, probe::PathFilter>& filters) {
  if (!state_) return fail("live event source: moved from");
  probe::PathFilters by_number;
  for (const auto& [type, filter] : filters) {
    std::int64_t nr = syscall_nr_of(type);
    if (nr < 0) return fail("live event source: " + std::string(event_type_name(type)) + " is not a syscall");
    by_number[static_cast<int>(nr)] = filter;
  }
  return state_->probe.set_path_filters(by_number);
}

Result<void> LiveSource::set_kill_on_exit(std::span<const EventType> types) {
  if (!state_) return fail("live event source: moved from");
  auto numbers = syscall_numbers(types);
  if (!numbers) return std::unexpected(numbers.error());
  return state_->probe.set_kill_on_exit(*numbers);
}

Result<std::uint64_t> LiveSource::filtered_by_path() const {
  if (!state_) return fail("live event source: moved from");
  return state_->probe.filtered_by_path();
}

Result<Batch> LiveSource::next_batch(std::chrono::milliseconds timeout, EventHandler& handler) {
  if (!state_) return fail("live event source: moved from");
  auto& counters = state_->counters;
  auto delivered = state_->probe.poll(
      timeout, [&](std::span<const std::uint8_t> record) { deliver_record(record, handler, counters); });
  if (!delivered) return std::unexpected(delivered.error());
  return Batch{*delivered, false};
}

CounterSnapshot LiveSource::counters() const {
  if (!state_) return {};
  CounterSnapshot snapshot = state_->counters.snapshot();
  if (auto drops = state_->probe.drops()) {
    snapshot.drops = drops->total;
    snapshot.drops_by_record_type.assign(drops->by_type.begin(), drops->by_type.end());
    snapshot.drops_per_cpu = drops->by_cpu;
  }
  if (auto fill = state_->probe.ring_buffer_fill()) {
    snapshot.ring_buffer_fill = RingBufferFill{fill->pending_bytes, fill->capacity_bytes};
  }
  return snapshot;
}

TimeAnchor LiveSource::time_anchor() const { return state_ ? state_->anchor : TimeAnchor{}; }

int LiveSource::wait_fd() const { return state_ ? state_->probe.event_fd() : -1; }

}  // namespace vigil::events
