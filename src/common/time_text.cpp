#include "common/time_text.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace vigil {

std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// Times as ns since the epoch fit int64 within about ±292 years of 1970: a parsed time stops at
// ±9e9 s (the year 2255), so the product below can never overflow.
constexpr std::int64_t kMaxSeconds = 9'000'000'000;

// February 29 exists in leap years only; timegm() would roll any day past a month's end into
// the next month instead of refusing it.
int days_in_month(int year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"; 't'/' ' accepted for 'T', 'z' for 'Z'.
std::optional<std::int64_t> parse_rfc3339_ns(std::string_view text) {
  if (text.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t at, std::size_t count, int& out) {
    if (at + count > text.size()) return false;
    out = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' || !digits(8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, hour) || text[13] != ':' ||
      !digits(14, 2, minute) || text[16] != ':' || !digits(17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60)
    return std::nullopt;
  std::size_t at = 19;
  std::int64_t fraction_ns = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t start = at;
    std::int64_t scale = 100'000'000;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      fraction_ns += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int offset_hour, offset_minute;
    if (!digits(at + 1, 2, offset_hour) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !digits(at + 4, 2, offset_minute) || offset_hour > 23 || offset_minute > 59)
      return std::nullopt;
    offset_s = (offset_hour * 3600 + offset_minute * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::int64_t seconds = static_cast<std::int64_t>(::timegm(&parts)) - offset_s;
  if (seconds < -kMaxSeconds || seconds > kMaxSeconds) return std::nullopt;
  return seconds * 1'000'000'000LL + fraction_ns;
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
