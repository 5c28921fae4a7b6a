#pragma once
// vigil_probe: the runtime eBPF probes, loaded and attached for as long as an EventProbe lives.
//   - bpf/process.bpf.c: exec, fork and exit of processes, always on;
//   - bpf/syscalls.bpf.c: one record per captured system call, for the syscalls user space
//     asks for (an in-kernel interest map; everything else never leaves the kernel).
// Both write to ONE ring buffer. Records are handed over raw: their layouts are the C structs in
// bpf/abi/ (event_header.h, process_events.h, syscall_events.h), documented in docs/bpf.md.
#include <array>
#include <chrono>
#include <concepts>
#include <map>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "event_header.h"

namespace vigil::probe {

struct EventProbeOptions {
  // Bytes of the kernel ring buffer shared by all CPUs and programs: a power of two, at least one
  // page. Records that do not fit are dropped in the kernel and counted (EventProbe::drops()).
  std::size_t ring_buffer_bytes = std::size_t{4} << 20;
  // Syscall numbers (x86_64) to capture from the start; each must be in supported_syscalls().
  // nullopt: all supported syscalls; empty: none (process records only).
  std::optional<std::vector<int>> syscalls;
};

// The process records alone (what ProcessProbe captures).
struct ProcessProbeOptions {
  std::size_t ring_buffer_bytes = std::size_t{4} << 20;  // as EventProbeOptions::ring_buffer_bytes
};

struct DropCounts {
  std::array<std::uint64_t, VIGIL_EVENT_TYPE_COUNT> by_type{};  // indexed by vigil_event_type
  std::vector<std::uint64_t> by_cpu;  // all types, indexed by CPU number (possible CPUs)
  std::uint64_t total = 0;
};

// How full the ring buffer is right now.
struct RingBufferFill {
  std::uint64_t pending_bytes = 0;   // written by the kernel, not yet consumed (record headers included)
  std::uint64_t capacity_bytes = 0;  // the ring buffer's size
};

// A system call the syscall probe can capture.
struct SupportedSyscall {
  std::string_view name;  // the kernel's (and Falco's) name, e.g. "openat"
  int number;             // x86_64 number, the records' sc.syscall_nr
  vigil_event_type record_type;  // VIGIL_EVENT_SYSCALL_*: which record it produces
  bool needs_prior_state;  // its record needs what is gone when the call returns (old creds,
                          // exec arguments): a program besides sys_exit is attached with it
};

// The rule-driven path filter of one file syscall (bpf/abi/path_filter.h, docs/bpf.md): only
// calls whose path argument starts with one of the prefixes leave the kernel, and calls the
// filter cannot judge (relative paths, "//", "/." or "/.." in the path, paths of 255 bytes or
// more, unreadable paths). Prefixes are absolute and compared byte-wise, like `startswith`.
struct PathFilter {
  std::vector<std::string> prefixes = {};        // every call under these
  std::vector<std::string> write_prefixes = {};  // under these only opens for writing (O_WRONLY,
                                                 // O_RDWR, O_CREAT, O_TRUNC) and non-open calls
  bool operator==(const PathFilter&) const = default;
};
using PathFilters = std::map<int, PathFilter>;  // syscall number -> its filter

// The map contents for a set of filters: syscalls with equal filters share a group.
struct PathFilterPlan {
  struct Entry {
    std::size_t group = 0;  // index into `filters` of the plan
    std::string prefix;
    std::uint8_t want = 0;  // VIGIL_PATH_WANT_* of this prefix and every shorter one of its group
  };
  std::vector<PathFilter> filters;         // one per group
  std::map<int, std::size_t> group_of;     // syscall number -> group index
  std::vector<Entry> entries;
};

// Checks and plans filters without touching the kernel: each syscall must take a path
// (path_filter_supported; rename* and mount take two, and a call is wanted when either is),
// each prefix be absolute and shorter than VIGIL_PATH_PREFIX_MAX bytes.
Result<PathFilterPlan> plan_path_filters(const PathFilters& filters);
bool path_filter_supported(int syscall_number);

// Checks the options without touching the kernel (open() checks the same).
Result<void> validate(const EventProbeOptions& options);
Result<void> validate(const ProcessProbeOptions& options);

class EventProbe {
 public:
  // Opens the embedded eBPF objects, sizes the ring buffer, loads them (verifier), attaches the
  // process programs and the syscall dispatchers the interest set needs. Needs CAP_BPF and
  // CAP_PERFMON (or root). Errors carry libbpf's own message.
  static Result<EventProbe> open(const EventProbeOptions& options = {});

  EventProbe(EventProbe&&) noexcept;
  EventProbe& operator=(EventProbe&&) noexcept;
  EventProbe(const EventProbe&) = delete;
  EventProbe& operator=(const EventProbe&) = delete;
  ~EventProbe();  // detaches the programs, then frees the maps

  // Waits up to `timeout` (negative: forever) for records, then calls on_record once per
  // record available, in ring-buffer order, with its bytes (valid only during the call; it must
  // not throw). Returns how many records were delivered; an interrupted wait delivers 0.
  template <class F>
    requires std::invocable<F&, std::span<const std::uint8_t>>
  Result<std::size_t> poll(std::chrono::milliseconds timeout, F&& on_record) {
    using Fn = std::remove_reference_t<F>;
    return poll_impl(
        timeout,
        [](void* ctx, std::span<const std::uint8_t> record) { (*static_cast<Fn*>(ctx))(record); },
        const_cast<void*>(static_cast<const void*>(std::addressof(on_record))));
  }

  // Records dropped because the ring buffer was full, per type and per CPU.
  Result<DropCounts> drops() const;

  // Bytes waiting in the ring buffer and its capacity.
  Result<RingBufferFill> ring_buffer_fill() const;

  // Replaces the set of captured syscalls while attached (numbers from supported_syscalls();
  // an unsupported number fails and changes nothing). Attaches the sys_exit dispatcher, the
  // exec-state program and the credential tracking when first needed and detaches them when
  // no longer needed.
  Result<void> set_syscalls(std::span<const int> numbers);

  // The syscall numbers captured now, ascending.
  std::vector<int> syscalls() const;

  // Replaces every path filter (an empty map: none; a syscall not in the map is not filtered).
  // Checked as plan_path_filters does; on error nothing changes. Each syscall switches from its
  // old filter to its new one in a single map update, never through an unfiltered state.
  Result<void> set_path_filters(const PathFilters& filters);
  const PathFilters& path_filters() const;
  // Syscalls whose every call kills its caller in the kernel as the call returns (SIGKILL with
  // bpf_send_signal; the record says VIGIL_SYSCALL_KILLED). Replaces the previous set; each
  // must be a captured syscall (set_syscalls) to take effect.
  Result<void> set_kill_on_exit(std::span<const int> numbers);
  // Calls kept in the kernel by the path filters since the probe opened (all CPUs).
  Result<std::uint64_t> filtered_by_path() const;

  // A descriptor that becomes readable when records are available (for an epoll loop; then
  // call poll with a zero timeout).
  int event_fd() const;

  // Every syscall the probe knows, ascending by number.
  static std::span<const SupportedSyscall> supported_syscalls();
  // The entry for a name or number, or nullptr.
  static const SupportedSyscall* find_syscall(std::string_view name);
  static const SupportedSyscall* find_syscall(int number);

 protected:
  struct State;
  explicit EventProbe(std::unique_ptr<State> state);

 private:
  using RecordFn = void (*)(void* ctx, std::span<const std::uint8_t> record);
  Result<std::size_t> poll_impl(std::chrono::milliseconds timeout, RecordFn fn, void* ctx);

  std::unique_ptr<State> state_;
};

// An EventProbe that captures no syscalls: exec, fork and exit records only. (set_syscalls
// still works on it.)
class ProcessProbe : public EventProbe {
 public:
  static Result<ProcessProbe> open(const ProcessProbeOptions& options = {});

 private:
  explicit ProcessProbe(EventProbe&& probe) : EventProbe(std::move(probe)) {}
};

}  // namespace vigil::probe
