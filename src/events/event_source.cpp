#include "events/event_source.h"

namespace vigil::events {

void deliver_record(std::span<const std::uint8_t> raw, EventHandler& handler, EventCounters& counters) noexcept {
  auto event = decode_record(raw);
  if (event) {
    counters.count_event(event->type);
    handler.on_event(*event, raw);
  } else {
    counters.count_decode_error(event.error().reason);
    handler.on_decode_error(event.error(), raw);
  }
}

}  // namespace vigil::events
