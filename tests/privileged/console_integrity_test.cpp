// The integrity pillar as the console shows it: a signed program runs, an unsigned one is
// denied (enforce mode, on a private tmpfs), and the API's measurement list, denials, PCR 10
// and /metrics (decisions, latency histogram) all show exactly that.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "privileged/agent_fixture.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

nlohmann::json get_json(const std::string& url) {
  const CommandResult got = run({"curl", "-s", "-m", "10", url}, 30);
  return nlohmann::json::parse(got.out, nullptr, false);
}

TEST(ConsoleIntegrity, MeasurementsDenialsPcrAndMetrics) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  TmpfsMount mnt(dir / "mnt");
  VIGIL_REQUIRE(mnt.mounted(), "cannot mount tmpfs");
  ::mkdir((dir / "keys").c_str(), 0755);
  ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir / "keys/app"}).exit_code, 0);
  for (const char* name : {"signed", "unsigned"}) {
    ASSERT_EQ(run({"cp", "/usr/bin/true", mnt / name}).exit_code, 0);
    ::chmod((mnt / name).c_str(), 0755);
  }
  ASSERT_EQ(run_vigil({"sign", "--key", dir / "keys/app.key", "--cert", dir / "keys/app.crt", mnt / "signed"}).exit_code, 0);
  write_text(dir / "agent.yaml", "mode: enforce\nstate_dir: " + (dir / "state") + "\nwatch:\n  - " + mnt.path() +
                                     "\nkeyrings:\n  default: " + (dir / "keys") +
                                     "\ndecision:\n  deadline_ms: 2000\npolicy_text: |\n  measure func=BPRM_CHECK\n"
                                     "  appraise func=BPRM_CHECK\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state", 120);
  ASSERT_TRUE(agent.ready()) << agent.output();
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i, std::this_thread::sleep_for(50ms)) url = agent.console_url();
  ASSERT_FALSE(url.empty()) << agent.output();

  EXPECT_EQ(run({mnt / "signed"}).exit_code, 0);
  EXPECT_NE(run({mnt / "unsigned"}).exit_code, 0);

  // Both executions are measured (the denied one too: IMA measures before it appraises).
  nlohmann::json measurements;
  for (int i = 0; i < 60; ++i) {
    measurements = get_json(url + "api/integrity/measurements");
    if (measurements.is_object() && measurements["items"].size() >= 3) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(measurements.is_object()) << measurements.dump();
  std::map<std::string, std::string> verdict_of;
  for (const auto& item : measurements["items"]) verdict_of[item.value("path", "")] = item.value("verdict", "?");
  EXPECT_EQ(verdict_of[mnt / "signed"], "allow") << measurements.dump(2);
  EXPECT_EQ(verdict_of[mnt / "unsigned"], "deny") << measurements.dump(2);
  EXPECT_EQ(verdict_of["boot_aggregate"], "") << measurements.dump(2);
  const auto denied_only = get_json(url + "api/integrity/measurements?verdict=deny");
  ASSERT_EQ(denied_only["items"].size(), 1u) << denied_only.dump(2);
  EXPECT_EQ(denied_only["items"][0].value("path", ""), mnt / "unsigned");

  const auto denials = get_json(url + "api/integrity/denials");
  ASSERT_TRUE(denials.is_object() && denials["items"].is_array()) << denials.dump();
  ASSERT_EQ(denials["items"].size(), 1u) << denials.dump(2);
  EXPECT_EQ(denials["items"][0].value("path", ""), mnt / "unsigned");
  EXPECT_FALSE(denials["items"][0].value("reason", "").empty()) << denials.dump(2);

  // PCR 10 as the API shows it is the one the measurement list replays to (software PCRs).
  const auto integrity = get_json(url + "api/integrity");
  ASSERT_TRUE(integrity.is_object()) << integrity.dump();
  EXPECT_EQ(integrity.value("mode", ""), "enforce");
  EXPECT_EQ(integrity.value("measurements", 0), 3);
  ASSERT_TRUE(integrity["pcrs"].contains("sha256")) << integrity.dump(2);
  const std::string pcr10 = integrity["pcrs"]["sha256"].value("10", "");
  EXPECT_EQ(pcr10.size(), 64u);
  EXPECT_NE(pcr10, std::string(64, '0'));
  EXPECT_EQ(integrity["decisions"].value("denied", 0), 1) << integrity.dump(2);

  const auto policy = get_json(url + "api/policy");
  EXPECT_NE(policy.value("text", "").find("appraise func=BPRM_CHECK"), std::string::npos) << policy.dump(2);

  const CommandResult metrics = run({"curl", "-s", "-m", "10", url + "metrics"}, 30);
  EXPECT_NE(metrics.out.find("vigil_decisions_total{verdict=\"deny\"} 1\n"), std::string::npos) << metrics.out;
  EXPECT_NE(metrics.out.find("vigil_measurements_total 2\n"), std::string::npos) << metrics.out;
  EXPECT_NE(metrics.out.find("# TYPE vigil_decision_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(metrics.out.find("vigil_decision_latency_seconds_bucket{le=\"+Inf\"}"), std::string::npos) << metrics.out;
  EXPECT_EQ(metrics.out.find("vigil_decision_latency_seconds_count 0\n"), std::string::npos) << metrics.out;
}

}  // namespace
