#include "events/time_anchor.h"

#include <time.h>

namespace vigil::events {
namespace {

std::int64_t read_clock(clockid_t clock) noexcept {
  timespec now{};
  ::clock_gettime(clock, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

TimeAnchor TimeAnchor::now() noexcept {
  const std::int64_t boot_before = read_clock(CLOCK_BOOTTIME);
  const std::int64_t wall = read_clock(CLOCK_REALTIME);
  const std::int64_t boot_after = read_clock(CLOCK_BOOTTIME);
  return TimeAnchor{static_cast<std::uint64_t>(boot_before + (boot_after - boot_before) / 2), wall};
}

std::int64_t TimeAnchor::wall_ns_at(std::uint64_t boot_timestamp_ns) const noexcept {
  // Unsigned difference, then signed: correct for timestamps before and after the anchor.
  return wall_ns + static_cast<std::int64_t>(boot_timestamp_ns - boot_ns);
}

}  // namespace vigil::events
