#pragma once
// Records carry CLOCK_BOOTTIME timestamps (they keep counting through suspend and never jump).
// A TimeAnchor pairs one boot-time reading with the wall clock read at the same moment, so a
// record's time can be shown as wall time, also when replayed on another day or host.
#include <cstdint>

namespace vigil::events {

struct TimeAnchor {
  std::uint64_t boot_ns = 0;  // CLOCK_BOOTTIME
  std::int64_t wall_ns = 0;   // CLOCK_REALTIME at the same moment: ns since the Unix epoch

  // Both clocks now (read boot, wall, boot and keep the midpoint, to bound the skew).
  static TimeAnchor now() noexcept;
  // The wall time of a boot-time timestamp (earlier timestamps give earlier times).
  std::int64_t wall_ns_at(std::uint64_t boot_timestamp_ns) const noexcept;
};

}  // namespace vigil::events
