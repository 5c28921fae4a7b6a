// Interest analysis: event types and per-type path prefixes the kernel may filter on.
#include <gtest/gtest.h>

#include "rules_test_support.h"

using namespace vigil;
using events::EventType;

namespace {

rules::Interest interest_of(const std::string& yaml) {
  rules::LoadReport report;
  rules::RuleSet set = test::load_rules(yaml, report);
  EXPECT_TRUE(report.ok()) << test::all_diagnostics(report);
  return set.interest();
}

rules::Interest interest_of_condition(const std::string& condition) { return interest_of(test::one_rule(condition)); }

using Strings = std::vector<std::string>;

const rules::PathInterest& paths(const rules::Interest& interest, EventType type) {
  return interest.paths[static_cast<std::size_t>(type)];
}

TEST(RulesInterest, EventTypesFromConditions) {
  auto interest = interest_of_condition("evt.type in (execve, execveat) and proc.name = bash");
  EXPECT_FALSE(interest.all_event_types);
  EXPECT_TRUE(interest.wants(EventType::execve));
  EXPECT_TRUE(interest.wants(EventType::execveat));
  EXPECT_FALSE(interest.wants(EventType::openat));
  EXPECT_EQ(interest.event_types.count(), 2u);

  interest = interest_of_condition("proc.name = bash");
  EXPECT_TRUE(interest.all_event_types);
  EXPECT_TRUE(interest.wants(EventType::connect));

  interest = interest_of_condition("not evt.type = connect");
  EXPECT_TRUE(interest.wants(EventType::openat));
  EXPECT_FALSE(interest.wants(EventType::connect));

  interest = interest_of_condition("evt.type != connect and evt.type != bind and proc.name = x");
  EXPECT_FALSE(interest.wants(EventType::bind));

  interest = interest_of_condition("not (evt.type = connect and proc.name = x)");
  EXPECT_TRUE(interest.all_event_types);  // nothing provable under a mixed `not`

  interest = interest_of_condition("evt.type = connect or (evt.type = kill and proc.name = x)");
  EXPECT_EQ(interest.event_types.count(), 2u);

  interest = interest_of_condition("evt.type in (symlink, mkdir)");
  EXPECT_EQ(interest.event_types.count(), 2u);
  interest = interest_of_condition("evt.type in (pluginevent, switch)");  // vigil captures neither
  EXPECT_EQ(interest.event_types.count(), 0u);
}

TEST(RulesInterest, DisabledRulesDoNotCount) {
  auto interest = interest_of(test::one_rule("evt.type = kill") + "  enabled: false\n");
  EXPECT_EQ(interest.event_types.count(), 0u);
}

TEST(RulesInterest, PathPrefixesFromFdName) {
  auto interest = interest_of_condition(
      "evt.type in (open, openat) and (fd.name startswith /etc/ or fd.name = /root/.ssh/authorized_keys or "
      "fd.name in (/boot/grub.cfg, /etc/shadow))");
  const auto& openat = paths(interest, EventType::openat);
  EXPECT_FALSE(openat.any_path);
  EXPECT_EQ(openat.read_prefixes, (Strings{"/boot/grub.cfg", "/etc/", "/root/.ssh/authorized_keys"}));
  EXPECT_TRUE(openat.write_prefixes.empty());
  EXPECT_FALSE(interest.wants(EventType::openat2));
}

TEST(RulesInterest, WritableOpensOnly) {
  auto interest = interest_of(test::one_rule(
      "evt.type in (open, openat, openat2) and evt.is_open_write=true and fd.name pmatch (/etc, /usr/bin)") +
                              R"(
- rule: truncate logs
  desc: d
  condition: evt.type = openat and evt.arg.flags contains O_TRUNC and fd.directory in (/var/log)
  output: o
  priority: INFO
- rule: read keys
  desc: d
  condition: evt.type = openat and fd.name glob /root/.ssh/id_*
  output: o
  priority: INFO
- rule: writes below /etc/cron
  desc: d
  condition: evt.type = openat and evt.is_open_write=true and fd.name startswith /etc/cron
  output: o
  priority: INFO
)");
  const auto& openat = paths(interest, EventType::openat);
  EXPECT_FALSE(openat.any_path);
  EXPECT_EQ(openat.read_prefixes, (Strings{"/root/.ssh/id_"}));
  EXPECT_EQ(openat.write_prefixes, (Strings{"/etc", "/usr/bin", "/var/log/"}));  // /etc/cron is under /etc
  const auto& open = paths(interest, EventType::open);
  EXPECT_EQ(open.write_prefixes, (Strings{"/etc", "/usr/bin"}));
  EXPECT_TRUE(open.read_prefixes.empty());
}

TEST(RulesInterest, AnythingUnprovableKeepsEveryPath) {
  EXPECT_TRUE(paths(interest_of_condition("evt.type = openat and fd.name contains shadow"), EventType::openat).any_path);
  EXPECT_TRUE(paths(interest_of_condition("evt.type = openat and not fd.name startswith /etc"), EventType::openat).any_path);
  EXPECT_TRUE(paths(interest_of_condition("evt.type = openat and (fd.name startswith /etc or proc.name = vi)"),
                    EventType::openat).any_path);
  EXPECT_TRUE(paths(interest_of_condition("evt.type = openat and fd.name glob *.pem"), EventType::openat).any_path);
  // An unconstrained rule: every file type keeps every path.
  auto all = interest_of_condition("proc.name = vi");
  EXPECT_TRUE(paths(all, EventType::unlinkat).any_path);
  EXPECT_TRUE(paths(all, EventType::openat).any_path);
}

TEST(RulesInterest, WriteOnlyWithoutPrefixMeansEveryAbsolutePath) {
  auto interest = interest_of_condition("evt.type = openat and evt.is_open_write = true and proc.name = vi");
  const auto& openat = paths(interest, EventType::openat);
  EXPECT_FALSE(openat.any_path);
  EXPECT_TRUE(openat.read_prefixes.empty());
  EXPECT_EQ(openat.write_prefixes, (Strings{"/"}));
}

TEST(RulesInterest, ConjunctionsIntersectPrefixes) {
  auto interest = interest_of_condition(
      "evt.type = openat and fd.name startswith /etc and fd.name in (/etc/shadow, /usr/x, /etc/sudoers)");
  EXPECT_EQ(paths(interest, EventType::openat).read_prefixes, (Strings{"/etc/shadow", "/etc/sudoers"}));
  // Disjoint prefixes: no openat can match, so the type is not wanted at all.
  interest = interest_of_condition("evt.type = openat and fd.name startswith /etc and fd.name startswith /usr");
  EXPECT_FALSE(interest.wants(EventType::openat));
}

TEST(RulesInterest, PathArgumentsOfOtherFileCalls) {
  auto interest = interest_of_condition(
      "evt.type in (rename, renameat, renameat2, unlinkat, openat) and (evt.arg.newpath startswith /usr/bin/ or "
      "evt.arg.name startswith /var/log/)");
  EXPECT_EQ(paths(interest, EventType::renameat2).read_prefixes, (Strings{"/usr/bin/"}));
  EXPECT_EQ(paths(interest, EventType::unlinkat).read_prefixes, (Strings{"/var/log/"}));
  // openat's `name` argument is its path too.
  EXPECT_EQ(paths(interest, EventType::openat).read_prefixes, (Strings{"/var/log/"}));
  // fd.name does not exist for unlinkat: a rule that needs it never matches there.
  interest = interest_of_condition("evt.type in (openat, unlinkat) and fd.name startswith /etc");
  EXPECT_FALSE(interest.wants(EventType::unlinkat));
  EXPECT_TRUE(interest.wants(EventType::openat));
}

TEST(RulesInterest, EventTypeBranchesSplitPerType) {
  auto interest = interest_of_condition(
      "(evt.type = creat and fd.name startswith /dev/) or "
      "(evt.type in (open, openat) and evt.arg.flags contains O_CREAT and fd.directory = /dev)");
  EXPECT_EQ(paths(interest, EventType::creat).read_prefixes, (Strings{"/dev/"}));
  EXPECT_EQ(paths(interest, EventType::openat).write_prefixes, (Strings{"/dev/"}));
  EXPECT_TRUE(paths(interest, EventType::openat).read_prefixes.empty());
}

TEST(RulesInterest, UnionOverRules) {
  auto interest = interest_of(test::one_rule("evt.type = openat and fd.name startswith /etc/ssh") + R"(
- rule: second
  desc: d
  condition: evt.type = openat and fd.name startswith /etc
  output: o
  priority: INFO
- rule: third
  desc: d
  condition: evt.type = openat and fd.name startswith /opt and evt.is_open_write = true
  output: o
  priority: INFO
)");
  EXPECT_EQ(paths(interest, EventType::openat).read_prefixes, (Strings{"/etc"}));
  EXPECT_EQ(paths(interest, EventType::openat).write_prefixes, (Strings{"/opt"}));
}

TEST(RulesInterest, NonPathTypesHaveNoPrefixes) {
  auto interest = interest_of_condition("evt.type = fchmod and fd.name startswith /etc");
  EXPECT_TRUE(interest.wants(EventType::fchmod));
  EXPECT_TRUE(paths(interest, EventType::fchmod).any_path);  // fd-based: nothing for the kernel to compare
}

}  // namespace
