// RuleSet::kernel_kill_types: the event types on which the kernel may kill by itself, i.e. where an
// enabled `action: kill` rule matches whatever else the event says.
#include "rules_test_support.h"

namespace {

using namespace vigil;
using events::EventType;

std::bitset<events::kEventTypeCount> kill_types(const std::string& yaml) {
  rules::LoadReport report;
  auto set = test::load_rules(yaml, report);
  EXPECT_TRUE(report.ok()) << test::all_diagnostics(report);
  return set.kernel_kill_types();
}

std::string rule(const std::string& name, const std::string& condition, const std::string& extra) {
  return "- rule: " + name + "\n  desc: d\n  condition: " + condition + "\n  output: o\n  priority: ERROR\n" + extra;
}

bool has(const std::bitset<events::kEventTypeCount>& types, EventType type) {
  return types.test(static_cast<std::size_t>(type));
}

TEST(RulesKernelKill, OnlyTypeOnlyKillRulesQualify) {
  const auto types = kill_types(rule("modules", "evt.type in (init_module, finit_module)", "  action: kill\n") +
                                rule("bpf with a condition", "evt.type = bpf and proc.name != vigil", "  action: kill\n") +
                                rule("ptrace alert", "evt.type = ptrace", "") +
                                rule("mount disabled", "evt.type = mount", "  action: kill\n  enabled: false\n"));
  EXPECT_TRUE(has(types, EventType::init_module));
  EXPECT_TRUE(has(types, EventType::finit_module));
  EXPECT_FALSE(has(types, EventType::bpf)) << "its decision needs user space";
  EXPECT_FALSE(has(types, EventType::ptrace)) << "an alert rule never kills";
  EXPECT_FALSE(has(types, EventType::mount)) << "a disabled rule never kills";
  EXPECT_EQ(types.count(), 2u);
}

TEST(RulesKernelKill, NegatedTypeConditionsAreExactToo) {
  const auto types = kill_types(rule("everything but open", "not evt.type in (open, openat)", "  action: kill\n"));
  EXPECT_FALSE(has(types, EventType::open));
  EXPECT_TRUE(has(types, EventType::setns));
}

}  // namespace
