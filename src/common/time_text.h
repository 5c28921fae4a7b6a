#pragma once
// Wall-clock times as vigil prints them everywhere (alerts, the console API).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

// Now: nanoseconds since the Unix epoch.
std::int64_t wall_clock_ns();
// RFC 3339 in UTC with nanoseconds, as Falco's `time`: 2024-05-16T09:10:11.123456789Z.
std::string rfc3339_ns(std::int64_t time_ns);
// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)" ('t' or ' ' for 'T', 'z' for 'Z') to ns since
// the epoch; nullopt for anything else, for days a month does not have, and beyond ±9e9 s.
std::optional<std::int64_t> parse_rfc3339_ns(std::string_view text);

}  // namespace vigil
