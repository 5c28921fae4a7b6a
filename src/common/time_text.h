#pragma once
// Wall-clock times as vigil prints them everywhere (alerts, the console API).
#include <cstdint>
#include <string>

namespace vigil {

// Now: nanoseconds since the Unix epoch.
std::int64_t wall_clock_ns();
// RFC 3339 in UTC with nanoseconds, as Falco's `time`: 2024-05-16T09:10:11.123456789Z.
std::string rfc3339_ns(std::int64_t time_ns);

}  // namespace vigil
