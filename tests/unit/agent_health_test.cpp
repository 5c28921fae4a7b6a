// `vigil status`'s verdict from the agent's status: what counts as degraded and for how long.
#include <gtest/gtest.h>

#include "agent/health.h"

using namespace vigil::agent;
using namespace std::chrono_literals;

namespace {

nlohmann::json a_status(std::uint64_t events = 0, std::uint64_t drops = 0, std::uint64_t timeouts = 0) {
  return {{"mode", "log"},
          {"watch", {"/"}},
          {"reload", {{"result", "none"}}},
          {"last_errors", nlohmann::json::array()},
          {"allowed", 90u},
          {"denied", 10u},
          {"timeouts", timeouts},
          {"cache_hits", 5u},
          {"measurement_failures", 0u},
          {"measurement_list_entries", 42u},
          {"runtime",
           {{"events", events},
            {"drops", drops},
            {"rules", {{"loaded", 30u}, {"enabled", 28u}, {"alerts", 3u}, {"outputs", {{{"name", "stdout"}, {"dropped", 0u}, {"failed", 0u}}}}}}}},
          {"console", {{"url", "http://127.0.0.1:7373/"}}}};
}

StatusContext a_context() { return {"0.1.0", 4242, "/etc/vigil/agent.yaml", "/var/lib/vigil", 0, 65}; }

}  // namespace

TEST(AgentHealth, AQuietAgentIsHealthyAndEverythingIsReported) {
  HealthTracker tracker;
  const auto t0 = HealthTracker::Clock::now();
  tracker.sample(a_status(1000), t0);
  const auto summary = tracker.summary(a_status(3000), a_context(), t0 + 10s);
  EXPECT_EQ(summary["status"], "healthy");
  EXPECT_TRUE(summary["problems"].empty());
  EXPECT_EQ(summary["mode"], "log");
  EXPECT_EQ(summary["uptime_s"], 65);
  EXPECT_EQ(summary["pid"], 4242);
  EXPECT_EQ(summary["pillars"], (nlohmann::json{{"integrity", true}, {"runtime", true}, {"rules", true}, {"console", true}}));
  EXPECT_EQ(summary["rules_loaded"], 30u);
  EXPECT_DOUBLE_EQ(summary["events_per_second"].get<double>(), 200.0);  // 2000 events in 10 s
  EXPECT_EQ(summary["decisions"]["total"], 100u);
  EXPECT_EQ(summary["denials"], 10u);
  EXPECT_EQ(summary["measurements"], 42u);
  EXPECT_EQ(summary["alerts"], 3u);
  EXPECT_EQ(summary["console_url"], "http://127.0.0.1:7373/");
}

TEST(AgentHealth, PillarsThatAreOffShowOff) {
  nlohmann::json status = a_status();
  status["watch"] = nlohmann::json::array();
  status["runtime"] = {{"enabled", false}};
  status["console"] = {{"enabled", false}};
  HealthTracker tracker;
  const auto summary = tracker.summary(status, a_context(), HealthTracker::Clock::now());
  EXPECT_EQ(summary["pillars"], (nlohmann::json{{"integrity", false}, {"runtime", false}, {"rules", false}, {"console", false}}));
  EXPECT_EQ(summary["status"], "healthy");
}

TEST(AgentHealth, DropsInTheLastMinuteDegradeAndAgeOut) {
  HealthTracker tracker;
  const auto t0 = HealthTracker::Clock::now();
  tracker.sample(a_status(0, 0), t0);
  tracker.sample(a_status(0, 7), t0 + 2s);
  auto summary = tracker.summary(a_status(0, 7), a_context(), t0 + 4s);
  EXPECT_EQ(summary["status"], "degraded");
  ASSERT_EQ(summary["problems"].size(), 1u);
  EXPECT_NE(summary["problems"][0].get<std::string>().find("7 kernel events dropped"), std::string::npos);
  // Samples keep coming with no new drops: a minute later the agent is healthy again.
  for (int s = 4; s <= 70; s += 2) tracker.sample(a_status(0, 7), t0 + std::chrono::seconds(s));
  summary = tracker.summary(a_status(0, 7), a_context(), t0 + 70s);
  EXPECT_EQ(summary["status"], "healthy") << summary["problems"];
  EXPECT_EQ(summary["drops"], 7u);  // the total is still told
}

TEST(AgentHealth, EachKindOfTroubleIsNamed) {
  HealthTracker tracker;
  const auto t0 = HealthTracker::Clock::now();
  tracker.sample(a_status(), t0);
  nlohmann::json status = a_status(0, 0, 3);
  status["measurement_failures"] = 2u;
  status["runtime"]["error"] = "ring buffer: EIO";
  status["runtime"]["rules"]["outputs"][0]["failed"] = 4u;
  status["reload"] = {{"result", "failed"}, {"error", "policy.txt:3: bad"}};
  const auto summary = tracker.summary(status, a_context(), t0 + 5s);
  EXPECT_EQ(summary["status"], "degraded");
  const std::string problems = summary["problems"].dump();
  for (const char* expected : {"runtime pipeline stopped: ring buffer: EIO", "3 permission decisions passed their deadline",
                               "2 files could not be measured", "4 alerts could not be delivered",
                               "last reload failed (policy.txt:3: bad)"}) {
    EXPECT_NE(problems.find(expected), std::string::npos) << expected << " not in " << problems;
  }
}

TEST(AgentHealth, SamplingManyTimesASecondKeepsTheRateRight) {
  HealthTracker tracker;
  const auto t0 = HealthTracker::Clock::now();
  // A client asking a thousand times a second must not make the tracker grow without bound.
  for (int ms = 0; ms <= 120000; ms += 1) tracker.sample(a_status(static_cast<std::uint64_t>(ms)), t0 + std::chrono::milliseconds(ms));
  const auto summary = tracker.summary(a_status(120000), a_context(), t0 + 120s);
  EXPECT_NEAR(summary["events_per_second"].get<double>(), 1000.0, 1.0);
}
