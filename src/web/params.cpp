#include "web/params.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "common/time_text.h"
#include "rules/rules.h"

namespace vigil::web {

namespace {

std::string shown(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (text.size() > 80) out += "...";
  return out + "'";
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size();
}

// Times as ns since the epoch fit int64 within about ±292 years of 1970: both forms of a time
// parameter stop at ±9e9 s (the year 2255), so the product below can never overflow.
constexpr std::int64_t kMaxSeconds = 9'000'000'000;

// "1795456800" or "1795456800.25".
std::optional<std::int64_t> parse_unix_seconds_ns(std::string_view text) {
  const std::size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 10) return std::nullopt;
  std::int64_t seconds = 0;
  if (!parse_number(whole, seconds) || seconds > kMaxSeconds) return std::nullopt;
  std::int64_t fraction_ns = 0;
  if (dot != std::string_view::npos) {
    std::string_view fraction = text.substr(dot + 1);
    if (!all_digits(fraction) || fraction.size() > 9) return std::nullopt;
    std::int64_t scale = 100'000'000;
    for (char c : fraction) {
      fraction_ns += (c - '0') * scale;
      scale /= 10;
    }
  }
  return seconds * 1'000'000'000LL + fraction_ns;
}

}  // namespace

Result<void> only_known_params(const ApiRequest& request, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : request.params) {
    if (name == "token") continue;
    if (std::ranges::find(known, std::string_view(name)) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return fail("unknown parameter " + shown(name) + (list.empty() ? "; this path takes none" : "; expected one of: " + list));
    }
  }
  return {};
}

Result<std::optional<std::string>> single_param(const ApiRequest& request, std::string_view name) {
  auto [first, last] = request.params.equal_range(std::string(name));
  if (first == last) return std::optional<std::string>{};
  if (std::next(first) != last) return fail("parameter '" + std::string(name) + "' given more than once");
  return std::optional<std::string>{first->second};
}

std::vector<std::string> repeated_param(const ApiRequest& request, std::string_view name) {
  std::vector<std::string> values;
  auto [first, last] = request.params.equal_range(std::string(name));
  for (auto it = first; it != last; ++it) values.push_back(it->second);
  return values;
}

Result<std::int64_t> parse_time_ns(std::string_view text) {
  if (auto ns = parse_unix_seconds_ns(text)) return *ns;
  if (auto ns = parse_rfc3339_ns(text)) return *ns;
  // A number too large for seconds is most likely a time_ns (or a JavaScript Date.now()) pasted
  // back from a response: say so, not just "not a time".
  const std::string_view whole = text.substr(0, text.find('.'));
  std::int64_t seconds = 0;
  if (all_digits(whole) && (!parse_number(whole, seconds) || seconds > kMaxSeconds)) {
    return fail(shown(text) + " is too large for Unix seconds (at most " + std::to_string(kMaxSeconds) +
                "); time_ns values are nanoseconds and Date.now() is milliseconds: give seconds "
                "(1795456800.25) or RFC 3339 (2026-11-23T18:00:00Z)");
  }
  return fail(shown(text) + " is not a time; expected RFC 3339 (2026-11-23T18:00:00Z) or Unix seconds");
}

Result<std::optional<std::int64_t>> time_param(const ApiRequest& request, std::string_view name) {
  auto value = single_param(request, name);
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<std::int64_t>{};
  auto ns = parse_time_ns(**value);
  if (!ns) return fail("parameter '" + std::string(name) + "': " + ns.error().message);
  return std::optional<std::int64_t>{*ns};
}

Result<std::optional<std::int64_t>> int_param(const ApiRequest& request, std::string_view name, std::int64_t min,
                                              std::int64_t max) {
  auto value = single_param(request, name);
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<std::int64_t>{};
  std::int64_t number = 0;
  if (!all_digits(**value) || !parse_number(std::string_view(**value), number) || number < min || number > max) {
    return fail("parameter '" + std::string(name) + "': " + shown(**value) + " is not an integer in [" +
                std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return std::optional<std::int64_t>{number};
}

Result<store::Paging> paging_params(const ApiRequest& request) {
  store::Paging paging;
  auto limit = int_param(request, "limit", 1, 1000);
  if (!limit) return std::unexpected(limit.error());
  if (*limit) paging.limit = static_cast<int>(**limit);
  auto before = int_param(request, "before", 1, INT64_MAX);
  if (!before) return std::unexpected(before.error());
  paging.before_id = *before;
  return paging;
}

Result<std::optional<int>> priority_param(const ApiRequest& request) {
  auto value = single_param(request, "priority");
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<int>{};
  rules::Priority priority{};
  if (!rules::parse_priority(**value, priority)) {
    return fail("parameter 'priority': " + shown(**value) +
                " is not a priority; expected emergency, alert, critical, error, warning, notice, informational or debug");
  }
  return std::optional<int>{static_cast<int>(priority)};
}

bool valid_container_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
           c == '-';
  });
}

Result<std::optional<std::string>> container_param(const ApiRequest& request) {
  auto value = single_param(request, "container");
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<std::string>{};
  if (**value == "host") return std::optional<std::string>{std::string()};
  if (!valid_container_id(**value)) {
    return fail("parameter 'container': " + shown(**value) + " is not a container id (or 'host')");
  }
  return *value;
}

}  // namespace vigil::web
