#include "common/time_text.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace vigil {

std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_ns(std::int64_t time_ns) {
  // Floor division, so times before 1970 still get a fraction in [0, 1e9).
  std::int64_t seconds = time_ns / 1'000'000'000;
  std::int64_t fraction = time_ns % 1'000'000'000;
  if (fraction < 0) {
    fraction += 1'000'000'000;
    seconds -= 1;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm utc{};
  if (gmtime_r(&t, &utc) == nullptr) return "1970-01-01T00:00:00.000000000Z";
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(fraction));
  return text;
}

}  // namespace vigil
