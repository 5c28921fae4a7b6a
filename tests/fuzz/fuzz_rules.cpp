// Arbitrary bytes as a rules file: loading (YAML, conditions, macros, lists, exceptions,
// outputs), then evaluating whatever loaded against a few events and computing the interest
// analysis. Nothing may crash, hang or leak, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../unit/events_test_records.h"
#include "rules/rules.h"

namespace {

struct Events {
  std::vector<vigil::test::DecodedRecord> records;
  Events() {
    records.emplace_back(vigil::test::record_bytes(vigil::test::make_openat(100, "/etc/shadow", 3)));
    records.emplace_back(vigil::test::record_bytes(vigil::test::make_openat(100, "../x/./y", -2)));
    records.emplace_back(
        vigil::test::record_bytes(vigil::test::make_execve_syscall(100, "/bin/sh", 0, {"sh", "-c", "id"})));
    records.emplace_back(vigil::test::record_bytes(vigil::test::make_connect_v4(100, 3, 10, 0, 0, 1, 443)));
    records.emplace_back(vigil::test::record_bytes(vigil::test::make_memfd(100, "x", 4)));
    records.emplace_back(vigil::test::record_bytes(vigil::test::make_setuid(100, 1000, 0)));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Events events;
  const vigil::rules::RuleSource source{"fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size)};
  vigil::rules::LoadReport report;
  vigil::rules::RuleSet set =
      vigil::rules::RuleSet::load_sources(std::span<const vigil::rules::RuleSource>(&source, 1), report);
  for (const auto& diagnostic : report.errors) (void)diagnostic.to_string();
  if (set.size() == 0) return 0;
  std::size_t matches = 0;
  for (const auto& record : events.records) {
    if (!record) continue;
    set.evaluate(vigil::rules::EvalContext{*record}, [&](const vigil::rules::Match& match) {
      matches += match.output.size() + match.fields.size();
    });
  }
  (void)set.interest();
  (void)set.rules();
  return matches == static_cast<std::size_t>(-1);
}
