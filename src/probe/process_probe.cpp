// ProcessProbe: an EventProbe with an empty syscall interest set.
#include <unistd.h>

#include <string>

#include "probe/probe.h"

namespace vigil::probe {

Result<void> validate(const ProcessProbeOptions& options) {
  return validate(EventProbeOptions{.ring_buffer_bytes = options.ring_buffer_bytes, .syscalls = std::vector<int>{}});
}

Result<ProcessProbe> ProcessProbe::open(const ProcessProbeOptions& options) {
  auto probe = EventProbe::open(
      EventProbeOptions{.ring_buffer_bytes = options.ring_buffer_bytes, .syscalls = std::vector<int>{}});
  if (!probe) return std::unexpected(probe.error());
  return ProcessProbe(std::move(*probe));
}

}  // namespace vigil::probe
