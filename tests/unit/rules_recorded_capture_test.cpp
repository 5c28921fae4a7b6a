// The default ruleset on a recorded capture of real behaviours (tests/data/rules/
// default_behaviours.vcap, made by record_default_behaviours.sh next to it): replayed through
// the process table and rules/default.yaml without root, every behaviour raises its rule and
// the benign commands raise nothing. Exec facts (the resolved executable path, memfd) come from
// the recorded exec records themselves: nothing depends on the recording host's /proc.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "events/replay_source.h"
#include "rules/rules.h"
#include "state/process_table.h"
#include "state_fake_tree.h"

namespace {

using namespace vigil;

struct Alert {
  std::string rule;
  std::map<std::string, std::string> fields;
};

std::vector<Alert> replay_default_rules(rules::LoadReport& report) {
  const std::string root = VIGIL_SOURCE_DIR;
  const std::string rules_file = root + "/rules/default.yaml";
  auto ruleset = rules::RuleSet::load_files(std::span(&rules_file, 1), report);
  std::vector<Alert> alerts;
  if (!report.ok()) return alerts;

  // An empty fake /proc: every process the capture knows comes from its own fork/exec records.
  state::testing::FakeTree tree;
  auto resolver = tree.resolver();
  state::ProcessTableOptions options;
  options.proc_root = tree.proc();
  options.fill_misses_from_proc = false;
  state::ProcessTable table(*resolver, options);

  auto source = events::ReplaySource::open(root + "/tests/data/rules/default_behaviours.vcap");
  EXPECT_TRUE(source) << (source ? "" : source.error().message);
  if (!source) return alerts;
  for (;;) {
    auto batch = events::next_batch(*source, std::chrono::milliseconds(0),
                                    [&](const events::Event& event, std::span<const std::uint8_t>) {
                                      ruleset.evaluate(rules::EvalContext{event, &table}, [&](const rules::Match& match) {
                                        Alert alert{std::string(match.rule), {}};
                                        for (const auto& f : match.fields) alert.fields[std::string(f.name)] = std::string(f.value);
                                        alerts.push_back(std::move(alert));
                                      });
                                      table.apply(event);
                                    });
    EXPECT_TRUE(batch) << (batch ? "" : batch.error().message);
    if (!batch || batch->end) break;
  }
  return alerts;
}

bool has(const std::vector<Alert>& alerts, const std::string& rule, const std::string& field, const std::string& value) {
  for (const auto& a : alerts)
    if (a.rule == rule && a.fields.contains(field) && a.fields.at(field) == value) return true;
  return false;
}

std::string dump(const std::vector<Alert>& alerts) {
  std::string out;
  for (const auto& a : alerts) {
    out += a.rule + ":";
    for (const auto& [k, v] : a.fields) out += " " + k + "=" + v;
    out += "\n";
  }
  return out;
}

TEST(RulesRecordedCapture, DefaultRulesOnRecordedBehaviours) {
  rules::LoadReport report;
  const auto alerts = replay_default_rules(report);
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(alerts.empty());
  if (std::getenv("VIGIL_DUMP_ALERTS")) std::fputs(dump(alerts).c_str(), stderr);
  EXPECT_TRUE(has(alerts, "Read sensitive file", "fd.name", "/etc/shadow")) << dump(alerts);
  // The process table rebuilt from the recorded fork/exec records: full command line, parent.
  EXPECT_TRUE(has(alerts, "Read sensitive file", "proc.cmdline", "cat /etc/shadow")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Read sensitive file", "proc.pname", "bash")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Write below binary or library directory", "fd.name", "/usr/local/bin/.vigil-recorded")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Log tampering", "fd.name", "/var/log/vigil-recorded.log")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Log tampering", "evt.arg.name", "/var/log/vigil-recorded.log")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Connection to mining pool port", "fd.sport", "3333")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Reverse shell", "proc.name", "python3")) << dump(alerts);
  // The process that connected, put the connection on stdio and ran a shell.
  EXPECT_TRUE(has(alerts, "Reverse shell", "proc.cmdline", "sh -c exit 0")) << dump(alerts);
  // fexecve of a memfd, and a program run through a symlink into /dev/shm: the kernel's path.
  EXPECT_TRUE(has(alerts, "Fileless execution", "proc.exepath", "/memfd:payload")) << dump(alerts);
  EXPECT_TRUE(has(alerts, "Fileless execution", "proc.exepath", "/dev/shm/vigil-recorded")) << dump(alerts);
  // The inetd-style server's shell reads its accepted connection: not a reverse shell.
  for (const auto& a : alerts) {
    if (a.rule != "Reverse shell") continue;
    EXPECT_EQ(a.fields.at("proc.cmdline").find("served"), std::string::npos) << dump(alerts);
  }
  EXPECT_TRUE(has(alerts, "Ptrace attach to another process", "evt.arg.request", "PTRACE_ATTACH")) << dump(alerts);
  // The benign commands and the harmless opens of the same programs raise nothing.
  for (const auto& a : alerts) {
    EXPECT_NE(a.fields.count("proc.name") ? a.fields.at("proc.name") : "", "ls") << dump(alerts);
    if (a.fields.count("fd.name")) {
      EXPECT_NE(a.fields.at("fd.name"), "/etc/hostname") << dump(alerts);
    }
  }
}

}  // namespace
