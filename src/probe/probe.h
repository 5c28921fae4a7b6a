#pragma once
// vigil_probe: the process lifecycle eBPF probe (bpf/process.bpf.c), loaded and attached for as
// long as a ProcessProbe lives. Records are handed over raw: their layouts are the C structs in
// bpf/abi/ (event_header.h, process_events.h), documented in docs/bpf.md.
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "common/error.h"
#include "event_header.h"

namespace vigil::probe {

struct ProcessProbeOptions {
  // Bytes of the kernel ring buffer shared by all CPUs: a power of two, at least one page.
  // Records that do not fit are dropped in the kernel and counted (ProcessProbe::drops()).
  std::size_t ring_buffer_bytes = std::size_t{4} << 20;
};

struct DropCounts {
  std::array<std::uint64_t, VIGIL_EVENT_TYPE_COUNT> by_type{};  // indexed by vigil_event_type
  std::uint64_t total = 0;
};

// Checks ProcessProbeOptions without touching the kernel (the open() checks the same).
Result<void> validate(const ProcessProbeOptions& options);

class ProcessProbe {
 public:
  // Opens the embedded eBPF object, sizes the ring buffer, loads (verifier) and attaches every
  // program. Needs CAP_BPF and CAP_PERFMON (or root). Errors carry libbpf's own message.
  static Result<ProcessProbe> open(const ProcessProbeOptions& options = {});

  ProcessProbe(ProcessProbe&&) noexcept;
  ProcessProbe& operator=(ProcessProbe&&) noexcept;
  ProcessProbe(const ProcessProbe&) = delete;
  ProcessProbe& operator=(const ProcessProbe&) = delete;
  ~ProcessProbe();  // detaches the programs, then frees the maps

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

  // Records dropped because the ring buffer was full, summed over all CPUs.
  Result<DropCounts> drops() const;

  // A descriptor that becomes readable when records are available (for an epoll loop; then
  // call poll with a zero timeout).
  int event_fd() const;

 private:
  struct State;
  using RecordFn = void (*)(void* ctx, std::span<const std::uint8_t> record);
  explicit ProcessProbe(std::unique_ptr<State> state);
  Result<std::size_t> poll_impl(std::chrono::milliseconds timeout, RecordFn fn, void* ctx);

  std::unique_ptr<State> state_;
};

}  // namespace vigil::probe
