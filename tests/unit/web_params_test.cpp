// The console API's query parameters (src/web/params.h): times, integers, paging, priorities,
// container ids, and the strictness rules (unknown or repeated parameters are errors).
#include <gtest/gtest.h>

#include <limits>

#include "web/params.h"

namespace vigil::web {
namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;

ApiRequest with(std::initializer_list<std::pair<std::string, std::string>> params) {
  ApiRequest request;
  request.path = "/api/alerts";
  for (const auto& [name, value] : params) request.params.emplace(name, value);
  return request;
}

// ---- times ---------------------------------------------------------------------------------

TEST(WebParamsTime, Rfc3339InUtcAndWithOffsets) {
  EXPECT_EQ(parse_time_ns("2026-11-23T18:00:00Z").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("2026-11-23t18:00:00z").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("2026-11-23 18:00:00Z").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("2026-11-23T18:00:00.5Z").value(), 1795456800 * kSecondNs + 500'000'000);
  EXPECT_EQ(parse_time_ns("2026-11-23T18:00:00.123456789Z").value(), 1795456800 * kSecondNs + 123'456'789);
  // Digits beyond ns are read and dropped, not an error.
  EXPECT_EQ(parse_time_ns("2026-11-23T18:00:00.1234567891Z").value(), 1795456800 * kSecondNs + 123'456'789);
  EXPECT_EQ(parse_time_ns("2026-11-23T19:00:00+01:00").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("2026-11-23T17:30:00-00:30").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:00Z").value(), 0);
  EXPECT_EQ(parse_time_ns("1969-12-31T23:59:59Z").value(), -kSecondNs);
}

TEST(WebParamsTime, DaysThatDoNotExistInTheirMonthAreRefused) {
  // timegm would quietly roll these over into the next month.
  for (const char* text : {"2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-02-31T00:00:00Z",
                           "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z", "2026-09-31T00:00:00Z",
                           "2026-11-31T00:00:00Z", "2100-02-29T00:00:00Z", "2026-01-32T00:00:00Z",
                           "2026-01-00T00:00:00Z", "2026-00-10T00:00:00Z", "2026-13-10T00:00:00Z"}) {
    auto parsed = parse_time_ns(text);
    EXPECT_FALSE(parsed) << text << " parsed as " << *parsed;
    if (!parsed) {
      EXPECT_NE(parsed.error().message.find(text), std::string::npos) << parsed.error().message;
    }
  }
  // Leap days of leap years are days.
  EXPECT_EQ(parse_time_ns("2024-02-29T00:00:00Z").value(), 1709164800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("2000-02-29T00:00:00Z").value(), 951782400 * kSecondNs);
  EXPECT_TRUE(parse_time_ns("2026-01-31T00:00:00Z"));
  EXPECT_TRUE(parse_time_ns("2026-12-31T23:59:59Z"));
}

TEST(WebParamsTime, MalformedRfc3339IsRefused) {
  for (const char* text : {"", "2026-11-23", "2026-11-23T18:00Z", "2026-11-23T18:00:00",
                           "2026-11-23T18:00:00.Z", "2026-11-23T24:00:00Z", "2026-11-23T18:60:00Z",
                           "2026-11-23T18:00:61Z", "2026-11-23T18:00:00+1:00", "2026-11-23T18:00:00+01",
                           "2026-11-23T18:00:00+24:00", "2026-11-23T18:00:00Zjunk", "2026/11/23T18:00:00Z",
                           "+026-11-23T18:00:00Z", "2026-1a-23T18:00:00Z", "2026-11-23T18:00:00+01:00x",
                           "9999-12-31T23:59:59Z"}) {
    EXPECT_FALSE(parse_time_ns(text)) << text;
  }
}

TEST(WebParamsTime, UnixSeconds) {
  EXPECT_EQ(parse_time_ns("0").value(), 0);
  EXPECT_EQ(parse_time_ns("1795456800").value(), 1795456800 * kSecondNs);
  EXPECT_EQ(parse_time_ns("1795456800.25").value(), 1795456800 * kSecondNs + 250'000'000);
  EXPECT_EQ(parse_time_ns("1795456800.000000001").value(), 1795456800 * kSecondNs + 1);
  EXPECT_EQ(parse_time_ns("9000000000").value(), 9'000'000'000 * kSecondNs);
  for (const char* text : {"-1", "+1", "1.", ".5", "1.2.3", "1e9", "0x10", " 1", "1 ", "1795456800.1234567891"}) {
    EXPECT_FALSE(parse_time_ns(text)) << text;
  }
}

TEST(WebParamsTime, SecondsBeyondWhatNanosecondsHoldAreRefusedNotWrapped) {
  // 9223372037 s and more do not fit int64 ns: they used to overflow into a negative time.
  for (const char* text : {"9000000001", "9223372036", "9223372037", "9999999999", "9999999999.999999999"}) {
    auto parsed = parse_time_ns(text);
    EXPECT_FALSE(parsed) << text << " parsed as " << *parsed;
  }
}

TEST(WebParamsTime, NanosecondsOrMillisecondsGivenForSecondsAreExplained) {
  // time_ns from a response pasted back as a parameter: a 400 that says what was wrong.
  for (const char* text : {"1795456801123456789", "1795456801123", "99999999999999999999999"}) {
    auto parsed = parse_time_ns(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message.find("seconds"), std::string::npos) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("nanoseconds"), std::string::npos) << parsed.error().message;
  }
}

TEST(WebParamsTime, TimeParamNamesTheParameter) {
  auto absent = time_param(with({}), "since");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
  auto bad = time_param(with({{"since", "yesterday"}}), "since");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("'since'"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("yesterday"), std::string::npos) << bad.error().message;
  auto twice = time_param(with({{"until", "1"}, {"until", "2"}}), "until");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("'until' given more than once"), std::string::npos);
}

TEST(WebParamsTime, ControlCharactersAreNotEchoed) {
  auto bad = parse_time_ns(std::string("\x1b[31mred\n", 9));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find('\x1b'), std::string::npos);
  EXPECT_EQ(bad.error().message.find('\n'), std::string::npos);
  auto long_one = parse_time_ns(std::string(10000, 'x'));
  ASSERT_FALSE(long_one);
  EXPECT_LT(long_one.error().message.size(), 300u);
}

// ---- integers and paging --------------------------------------------------------------------

TEST(WebParamsInt, RangeAndSyntax) {
  EXPECT_EQ(int_param(with({{"pid", "42"}}), "pid", 0, 100).value(), 42);
  EXPECT_EQ(int_param(with({{"pid", "0"}}), "pid", 0, 100).value(), 0);
  EXPECT_FALSE(int_param(with({}), "pid", 0, 100).value());
  for (const char* text : {"", "-1", "+1", "101", "1.0", "0x1", " 1", "1 ", "abc", "99999999999999999999"}) {
    auto bad = int_param(with({{"pid", text}}), "pid", 0, 100);
    ASSERT_FALSE(bad) << text;
    EXPECT_NE(bad.error().message.find("parameter 'pid'"), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find("[0, 100]"), std::string::npos) << bad.error().message;
  }
  EXPECT_EQ(int_param(with({{"id", "9223372036854775807"}}), "id", 1, std::numeric_limits<std::int64_t>::max()).value(),
            std::numeric_limits<std::int64_t>::max());
}

TEST(WebParamsPaging, DefaultsBoundsAndBefore) {
  auto defaults = paging_params(with({}));
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->limit, 100);
  EXPECT_FALSE(defaults->before_id);
  auto given = paging_params(with({{"limit", "1000"}, {"before", "77"}}));
  ASSERT_TRUE(given);
  EXPECT_EQ(given->limit, 1000);
  EXPECT_EQ(given->before_id, 77);
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"limit", "0"}, {"limit", "1001"}, {"limit", "-5"}, {"limit", "ten"}, {"before", "0"}, {"before", "-1"},
           {"before", "x"}, {"before", "99999999999999999999"}}) {
    auto bad = paging_params(with({{name, value}}));
    ASSERT_FALSE(bad) << name << "=" << value;
    EXPECT_NE(bad.error().message.find("'" + name + "'"), std::string::npos) << bad.error().message;
  }
}

// ---- names ----------------------------------------------------------------------------------

TEST(WebParamsPriority, FalcoNamesAnyCase) {
  EXPECT_EQ(priority_param(with({{"priority", "warning"}})).value(), 4);
  EXPECT_EQ(priority_param(with({{"priority", "CRITICAL"}})).value(), 2);
  EXPECT_EQ(priority_param(with({{"priority", "info"}})).value(), 6);
  EXPECT_EQ(priority_param(with({{"priority", "Informational"}})).value(), 6);
  EXPECT_EQ(priority_param(with({{"priority", "emergency"}})).value(), 0);
  EXPECT_EQ(priority_param(with({{"priority", "debug"}})).value(), 7);
  EXPECT_FALSE(priority_param(with({})).value());
  for (const char* text : {"", "4", "warn", "high"}) {
    auto bad = priority_param(with({{"priority", text}}));
    ASSERT_FALSE(bad) << text;
    EXPECT_NE(bad.error().message.find("parameter 'priority'"), std::string::npos);
  }
}

TEST(WebParamsContainer, HostIdsAndNonsense) {
  EXPECT_EQ(container_param(with({{"container", "host"}})).value(), "");
  EXPECT_EQ(container_param(with({{"container", "3f2a1b4c5d6e"}})).value(), "3f2a1b4c5d6e");
  EXPECT_EQ(container_param(with({{"container", std::string(64, 'a')}})).value(), std::string(64, 'a'));
  EXPECT_FALSE(container_param(with({})).value());
  for (const std::string& text : {std::string(), std::string(65, 'a'), std::string("a b"), std::string("../etc"),
                                  std::string("x'; DROP TABLE alerts;--"), std::string("a\0b", 3)}) {
    auto bad = container_param(with({{"container", text}}));
    ASSERT_FALSE(bad) << text;
    EXPECT_NE(bad.error().message.find("parameter 'container'"), std::string::npos);
  }
}

TEST(WebParamsStrictness, UnknownNamesAndRepeats) {
  EXPECT_TRUE(only_known_params(with({{"since", "1"}, {"token", "t"}}), {"since"}));
  auto unknown = only_known_params(with({{"sinse", "1"}}), {"since", "until"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("'sinse'"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("since, until"), std::string::npos);
  auto none = only_known_params(with({{"x", ""}}), {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("takes none"), std::string::npos);
  EXPECT_EQ(repeated_param(with({{"rule", "a"}, {"rule", "b"}}), "rule"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(single_param(with({{"q", "a"}, {"q", "b"}}), "q"));
}

}  // namespace
}  // namespace vigil::web
