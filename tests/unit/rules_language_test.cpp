// The condition language: grammar, every operator, macros and lists, and errors that name
// file:line(:column).
#include <gtest/gtest.h>

#include "rules/condition_ast.h"
#include "rules_test_support.h"

using namespace vigil;
using vigil::test::decoded;
using vigil::test::evaluate;
using vigil::test::load_rules;
using vigil::test::one_rule;

namespace {

// Whether `condition` matches an openat of `path` by cat (pid 4242, uid 1000, ret 3).
bool matches_open(const std::string& condition, std::string_view path = "/etc/shadow",
                  std::uint64_t flags = O_RDONLY | O_CLOEXEC) {
  rules::LoadReport report;
  rules::RuleSet set = load_rules(one_rule(condition), report);
  EXPECT_TRUE(report.ok()) << condition << "\n" << test::all_diagnostics(report);
  EXPECT_EQ(report.loaded, 1u) << condition;
  auto event = decoded(test::file_record(VIGIL_NR_openat, 4242, path, 3, flags));
  return !evaluate(set, *event).empty();
}

std::string first_error(const std::string& yaml) {
  rules::LoadReport report;
  (void)load_rules(yaml, report, "f.yaml");
  return report.errors.empty() ? std::string("<no error>") : report.errors.front().to_string();
}

TEST(RulesParser, PrecedenceNotAndOr) {
  auto expr = rules::parse_condition("a and not b or c");
  ASSERT_TRUE(expr);
  ASSERT_EQ(expr->kind, rules::Expr::Kind::any);
  ASSERT_EQ(expr->children.size(), 2u);
  EXPECT_EQ(expr->children[0].kind, rules::Expr::Kind::all);
  EXPECT_EQ(expr->children[0].children[1].kind, rules::Expr::Kind::negation);
  EXPECT_EQ(expr->children[1].name, "c");
}

TEST(RulesParser, ValuesListsAndQuotes) {
  auto expr = rules::parse_condition(R"(proc.name in (runc:[1:CHILD], "a b", 'c', x*) and evt.dir=<)");
  ASSERT_TRUE(expr) << expr.error().message;
  const auto& check = expr->children[0];
  EXPECT_EQ(check.name, "proc.name");
  ASSERT_EQ(check.values.size(), 4u);
  EXPECT_EQ(check.values[0].text, "runc:[1:CHILD]");
  EXPECT_EQ(check.values[1].text, "a b");
  EXPECT_TRUE(check.values[1].quoted);
  EXPECT_EQ(check.values[2].text, "c");
  EXPECT_EQ(check.values[3].text, "x*");
  EXPECT_EQ(expr->children[1].values[0].text, "<");
}

TEST(RulesParser, FieldArgumentsAndExists) {
  auto expr = rules::parse_condition("proc.aname[2]=bash and not proc.pname exists and evt.arg[0] contains AF_");
  ASSERT_TRUE(expr);
  EXPECT_EQ(expr->children[0].name, "proc.aname[2]");
  EXPECT_EQ(expr->children[1].children[0].op, rules::Operator::exists);
  EXPECT_EQ(expr->children[2].name, "evt.arg[0]");
}

TEST(RulesParser, ErrorsHavePositions) {
  auto unbalanced = rules::parse_condition("(proc.name=a");
  ASSERT_FALSE(unbalanced);
  EXPECT_EQ(unbalanced.error().position, 0u);
  auto missing_value = rules::parse_condition("proc.name =");
  ASSERT_FALSE(missing_value);
  EXPECT_EQ(missing_value.error().message, "missing value");
  auto trailing = rules::parse_condition("proc.name=a b");
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().position, 12u);
  EXPECT_FALSE(rules::parse_condition("proc.name in (a, b"));
  EXPECT_FALSE(rules::parse_condition("proc.name = 'open"));
  EXPECT_FALSE(rules::parse_condition(""));
  EXPECT_FALSE(rules::parse_condition("proc.name contains"));
  EXPECT_FALSE(rules::parse_condition(std::string(5000, '(') + "a" + std::string(5000, ')')));
}

TEST(RulesOperators, Strings) {
  EXPECT_TRUE(matches_open("fd.name = /etc/shadow"));
  EXPECT_TRUE(matches_open("fd.name == /etc/shadow"));
  EXPECT_FALSE(matches_open("fd.name != /etc/shadow"));
  EXPECT_TRUE(matches_open("fd.name contains shad"));
  EXPECT_TRUE(matches_open("fd.name icontains SHAD"));
  EXPECT_TRUE(matches_open("fd.name startswith /etc/"));
  EXPECT_FALSE(matches_open("fd.name startswith /usr/"));
  EXPECT_TRUE(matches_open("fd.name endswith dow"));
  EXPECT_TRUE(matches_open("fd.name glob /etc/*ad?w"));
  EXPECT_TRUE(matches_open("fd.name glob /e[a-z]c/[!x]hadow"));
  EXPECT_FALSE(matches_open("fd.name glob /etc/*.conf"));
  EXPECT_TRUE(matches_open("fd.name iglob /ETC/SH*"));
  EXPECT_TRUE(matches_open("fd.name in (/etc/passwd, /etc/shadow)"));
  EXPECT_TRUE(matches_open("fd.name intersects (/etc/shadow)"));
  EXPECT_TRUE(matches_open("fd.name pmatch (/usr, /etc)"));
  EXPECT_TRUE(matches_open("fd.name pmatch (/etc/shadow)"));
  EXPECT_FALSE(matches_open("fd.name pmatch (/et)"));
  EXPECT_TRUE(matches_open("fd.name regex \"/etc/s.*w\""));
  EXPECT_FALSE(matches_open("fd.name regex \"shadow\""));  // a full match, not a search
  EXPECT_TRUE(matches_open("fd.name bcontains 736861"));  // "sha"
  EXPECT_TRUE(matches_open("fd.name bstartswith 2f657463"));  // "/etc"
  EXPECT_TRUE(matches_open("fd.name exists"));
  EXPECT_FALSE(matches_open("fd.sip exists"));
}

TEST(RulesOperators, NumbersBooleansAndCombinations) {
  EXPECT_TRUE(matches_open("fd.num = 3"));
  EXPECT_TRUE(matches_open("fd.num >= 3 and fd.num <= 3 and fd.num > 2 and fd.num < 4"));
  EXPECT_TRUE(matches_open("fd.num in (1, 2, 3)"));
  EXPECT_TRUE(matches_open("proc.pid = \"4242\""));
  EXPECT_TRUE(matches_open("evt.rawres = 0x3"));
  EXPECT_TRUE(matches_open("evt.is_open_read = true and evt.is_open_write = false"));
  EXPECT_TRUE(matches_open("not (fd.num = 4 or proc.name = vi)"));
  EXPECT_TRUE(matches_open("(evt.type = open or evt.type = openat) and not evt.type = execve"));
  EXPECT_TRUE(matches_open("evt.arg.fd > 2 and evt.arg.fd < 10"));
}

TEST(RulesOperators, TypeErrorsAreReported) {
  EXPECT_NE(first_error(one_rule("proc.pid contains 3")).find("operator 'contains' does not apply to 'proc.pid'"),
            std::string::npos);
  EXPECT_NE(first_error(one_rule("proc.pid = abc")).find("'abc' is not a number"), std::string::npos);
  EXPECT_NE(first_error(one_rule("fd.sip = notanip")).find("not an ip address"), std::string::npos);
  EXPECT_NE(first_error(one_rule("evt.failed = maybe")).find("not true or false"), std::string::npos);
  EXPECT_NE(first_error(one_rule("proc.name < 3")).find("does not apply"), std::string::npos);
  EXPECT_NE(first_error(one_rule("fd.name regex \"(\"")).find("invalid regex"), std::string::npos);
}

TEST(RulesMacrosAndLists, ExpandRecursively) {
  const std::string yaml = R"(
- list: inner
  items: [/etc/shadow, '"/etc/with space"']
- list: outer
  items: [inner, /etc/passwd]
- macro: sensitive
  condition: fd.name in (outer)
- macro: reading
  condition: evt.is_open_read=true and sensitive
- rule: r
  desc: d
  condition: reading and proc.name in (cat, outer)
  output: hit
  priority: INFO
)";
  rules::LoadReport report;
  rules::RuleSet set = load_rules(yaml, report);
  ASSERT_TRUE(report.ok()) << test::all_diagnostics(report);
  auto shadow = decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/shadow", 3));
  auto spaced = decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/with space", 3));
  auto other = decoded(test::file_record(VIGIL_NR_openat, 1, "/etc/hosts", 3));
  EXPECT_EQ(evaluate(set, *shadow).size(), 1u);
  EXPECT_EQ(evaluate(set, *spaced).size(), 1u);
  EXPECT_TRUE(evaluate(set, *other).empty());
}

TEST(RulesMacrosAndLists, UndefinedNamesAndCyclesAreErrors) {
  EXPECT_EQ(first_error(one_rule("proc.name=a and no_such_macro")),
            "f.yaml:3:17: rule 'r': undefined macro 'no_such_macro'");
  const std::string cycle = "- macro: a\n  condition: b\n- macro: b\n  condition: proc.name=x or a\n" + one_rule("a");
  EXPECT_NE(first_error(cycle).find("macro cycle: a -> b -> a"), std::string::npos);
  // An undefined name in a value list is a plain value, as in Falco.
  EXPECT_TRUE(matches_open("proc.name in (not_a_list, cat)"));
}

TEST(RulesErrors, NameFileLineAndColumn) {
  EXPECT_EQ(first_error(one_rule("proc.name = cat and proc.nme = cat")),
            "f.yaml:3:21: rule 'r': unknown field 'proc.nme'");
  const std::string macro_error = "- macro: m\n  condition: proc.name = cat and (fd.name = x\n" + one_rule("m");
  EXPECT_EQ(first_error(macro_error), "f.yaml:2:21: macro 'm': unbalanced '('");
  EXPECT_EQ(first_error("- rule: r\n  desc: d\n  output: o\n  priority: WARNING\n"),
            "f.yaml:1: rule 'r': missing condition");
  EXPECT_EQ(first_error("- rule: r\n  condition: a\n  output: o\n  priority: bogus\n"),
            "f.yaml:4: rule 'r': unknown priority 'bogus'");
  EXPECT_EQ(first_error("- rule: r\n  desc: [unclosed\n"), "f.yaml:3: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(first_error("just a string"), "f.yaml:1: a rules file is a list of items (rule, macro, list, ...)");
  EXPECT_EQ(first_error(one_rule("proc.name=a") + "  action: explode\n"),
            "f.yaml:6: rule 'r': action must be kill or alert, not 'explode'");
  EXPECT_EQ(first_error("- macro: m\n  append: true\n  condition: and x\n"), "f.yaml:1: macro 'm': append of an undefined macro");
}

TEST(RulesErrors, UnusedMacrosAreStillParsed) {
  EXPECT_EQ(first_error("- macro: unused\n  condition: proc.name in (a, b\n"), "f.yaml:2:14: macro 'unused': unbalanced '(' in list");
}

TEST(RulesErrors, ExpansionIsBounded) {
  // Each macro uses the next twice: 2^40 checks if expanded naively.
  std::string yaml;
  for (int i = 0; i < 40; ++i) {
    yaml += "- macro: m" + std::to_string(i) + "\n  condition: m" + std::to_string(i + 1) + " or m" +
            std::to_string(i + 1) + "\n";
  }
  yaml += "- macro: m40\n  condition: proc.name = x\n" + one_rule("m0");
  EXPECT_NE(first_error(yaml).find("condition too large after macro expansion"), std::string::npos);
  std::string lists = "- list: l0\n  items: [x]\n";
  for (int i = 1; i < 30; ++i) {
    lists += "- list: l" + std::to_string(i) + "\n  items: [l" + std::to_string(i - 1) + ", l" + std::to_string(i - 1) + "]\n";
  }
  EXPECT_NE(first_error(lists + one_rule("proc.name in (l29)")).find("list expands to too many items"), std::string::npos);
}

TEST(RulesPriorities, CaseInsensitiveWithInfo) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, rules::Priority>>{
           {"EMERGENCY", rules::Priority::emergency}, {"alert", rules::Priority::alert},
           {"Critical", rules::Priority::critical}, {"ERROR", rules::Priority::error},
           {"warning", rules::Priority::warning}, {"NOTICE", rules::Priority::notice},
           {"INFORMATIONAL", rules::Priority::informational}, {"info", rules::Priority::informational},
           {"Debug", rules::Priority::debug}}) {
    rules::Priority priority = rules::Priority::warning;
    EXPECT_TRUE(rules::parse_priority(text, priority)) << text;
    EXPECT_EQ(priority, expected) << text;
  }
  rules::Priority unused;
  EXPECT_FALSE(rules::parse_priority("severe", unused));
  EXPECT_EQ(rules::priority_name(rules::Priority::informational), "Informational");
}

TEST(RulesCompatibility, UnsupportedFieldsSkipOnlyThatRule) {
  const std::string yaml = one_rule("proc.name = cat") + R"(
- macro: k8s_system
  condition: k8s.rc.name = kube-system
- rule: uses k8s
  desc: d
  condition: proc.name = cat and k8s_system and container.healthcheck = x
  output: o
  priority: INFO
)";
  rules::LoadReport report;
  rules::RuleSet set = load_rules(yaml, report);
  EXPECT_TRUE(report.ok()) << test::all_diagnostics(report);
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.skipped, 1u);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_EQ(report.warnings[0].to_string(),
            "test.yaml:9: rule 'uses k8s': uses field(s) vigil does not support: container.healthcheck, "
            "k8s.rc.name; skipped");
  rules::LoadReport strict;
  (void)load_rules(yaml, strict, "test.yaml", rules::LoadOptions{.compatibility_mode = false});
  EXPECT_EQ(strict.errors.size(), 1u);
  EXPECT_EQ(strict.failed, 1u);
}

TEST(RulesCompatibility, UnsupportedFieldsAsMissing) {
  const std::string yaml = test::one_rule("proc.name = cat and not container.healthcheck in (trusted)");
  rules::LoadReport report;
  rules::LoadOptions options;
  options.unsupported_fields_as_missing = true;
  rules::RuleSet set = load_rules(yaml, report, "test.yaml", options);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.skipped, 0u);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].message.find("always missing: container.healthcheck"), std::string::npos);
  // The missing field makes the inner check false, so `not` of it holds.
  EXPECT_EQ(evaluate(set, *decoded(test::file_record(VIGIL_NR_openat, 1, "/x", 3))).size(), 1u);
}

TEST(RulesCompatibility, EventDirectionMatchesBothWays) {
  EXPECT_TRUE(matches_open("evt.dir = <"));
  EXPECT_TRUE(matches_open("evt.dir=>"));
  EXPECT_FALSE(matches_open("evt.dir != <"));
}

}  // namespace
