// `vigil rules replay`: rules over a capture file, offline. The recorded capture of real
// behaviours (tests/data/rules/default_behaviours.vcap) replayed through rules/default.yaml
// raises the behaviours' alerts and nothing for the benign commands, through the library
// function and through the command line (text and --json).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "rules/replay.h"
#include "rules/rules.h"
#include "support/test_support.h"

namespace {

using namespace vigil;

const std::string kRoot = VIGIL_SOURCE_DIR;
const std::string kCapture = kRoot + "/tests/data/rules/default_behaviours.vcap";
const std::string kRules = kRoot + "/rules/default.yaml";

TEST(RulesReplay, CaptureThroughDefaultRulesRaisesTheRecordedBehaviours) {
  rules::LoadReport report;
  auto set = rules::RuleSet::load_files(std::span(&kRules, 1), report);
  ASSERT_TRUE(report.ok());
  std::set<std::string> rules_hit;
  bool shadow = false, benign = false;
  auto summary = rules::replay_capture(set, kCapture, [&](const rules::ReplayAlert& alert) {
    rules_hit.insert(alert.rule);
    for (const auto& [name, value] : alert.fields) {
      if (alert.rule == "Read sensitive file" && name == "fd.name" && value == "/etc/shadow") shadow = true;
      if (name == "fd.name" && value == "/etc/hostname") benign = true;
    }
    EXPECT_GT(alert.time_ns, 1'600'000'000'000'000'000) << "wall time from the capture's anchor";
    EXPECT_NE(alert.pid, 0u);
  });
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_GT(summary->events, 100u);
  EXPECT_EQ(summary->decode_errors, 0u);
  EXPECT_EQ(summary->alerts, [&] {
    std::uint64_t n = 0;
    (void)rules::replay_capture(set, kCapture, [&](const rules::ReplayAlert&) { ++n; });
    return n;
  }()) << "a replay is deterministic";
  EXPECT_TRUE(shadow);
  EXPECT_FALSE(benign);
  for (const char* rule : {"Read sensitive file", "Fileless execution", "Reverse shell", "Log tampering"}) {
    EXPECT_TRUE(rules_hit.contains(rule)) << rule;
  }
}

TEST(RulesReplay, MissingCaptureIsAnError) {
  rules::LoadReport report;
  auto set = rules::RuleSet::load_files(std::span(&kRules, 1), report);
  auto summary = rules::replay_capture(set, kRoot + "/tests/data/no-such.vcap", [](const rules::ReplayAlert&) {});
  EXPECT_FALSE(summary);
}

TEST(RulesReplay, CommandLinePrintsAlertsAsTextAndJson) {
  const std::string binary = test::vigil_binary();
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << "vigil binary not built: " << binary;
  const auto text = test::run({binary, "rules", "replay", kRules, "--capture", kCapture});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Read sensitive file: "), std::string::npos) << text.out;
  EXPECT_NE(text.err.find("alerts"), std::string::npos) << text.err;
  const auto json = test::run({binary, "rules", "replay", "--json", kRules, "--capture", kCapture});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::size_t lines = 0;
  bool shadow = false;
  std::size_t start = 0;
  while (start < json.out.size()) {
    std::size_t end = json.out.find('\n', start);
    if (end == std::string::npos) end = json.out.size();
    const auto alert = nlohmann::json::parse(json.out.substr(start, end - start));
    ++lines;
    EXPECT_TRUE(alert.contains("rule") && alert.contains("priority") && alert.contains("output_fields"));
    if (alert["rule"] == "Read sensitive file" && alert["output_fields"].value("fd.name", "") == "/etc/shadow")
      shadow = true;
    start = end + 1;
  }
  EXPECT_GT(lines, 5u);
  EXPECT_TRUE(shadow) << json.out;
  // Without --capture the command refuses.
  EXPECT_NE(test::run({binary, "rules", "replay", kRules}).exit_code, 0);
}

}  // namespace
