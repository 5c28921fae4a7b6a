// The dashboard end to end against a real agent (issue: console acceptance): headless Chromium
// (Debian's, through playwright-core) loads the dashboard without console errors; an alert
// raised by reading /etc/shadow inside a runc container appears on the alerts page within 2 s
// through the live stream; that container's page shows its timeline chart. Screenshots go to
// <build>/console-e2e. The browser work is tests/e2e/dashboard_e2e.mjs; this test owns the
// agent, the container and the verdict.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "privileged/agent_fixture.h"
#include "support/runc_container.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

std::string wait_for_console_url(const AgentProcess& agent) {
  for (int i = 0; i < 100; ++i) {
    if (std::string url = agent.console_url(); !url.empty()) return url;
    std::this_thread::sleep_for(50ms);
  }
  return "";
}

TEST(ConsoleDashboard, AlertFromContainerReachesTheBrowserLive) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(RuncContainer::available(), "needs runc and /bin/busybox");
  VIGIL_REQUIRE(VIGIL_DASHBOARD_BUILT, "the dashboard was not built (VIGIL_DASHBOARD=OFF)");
  struct stat st{};
  VIGIL_REQUIRE(::stat("/usr/bin/chromium", &st) == 0, "needs Debian's chromium (scripts/deps.txt)");

  TempDir dir;
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: true\n"
                                     "outputs:\n  - type: file\n    path: " + (dir / "alerts.jsonl") +
                                     "\nconsole:\n  listen: 127.0.0.1:0\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state", 300);
  ASSERT_TRUE(agent.ready()) << agent.output();
  const std::string url = wait_for_console_url(agent);
  ASSERT_FALSE(url.empty()) << agent.output();

  auto started = RuncContainer::start();
  ASSERT_TRUE(started) << started.error();
  auto& box = **started;
  // busybox's rootfs has no /etc/shadow: give it one to read.
  std::filesystem::create_directories(box.bundle() + "/rootfs/etc");
  write_text(box.bundle() + "/rootfs/etc/shadow", "root:*:19000:0:99999:7:::\n");
  const std::string short_id = box.id().substr(0, 12);

  const std::string out_dir = VIGIL_CONSOLE_E2E_OUT;
  std::filesystem::create_directories(out_dir);
  const std::string trigger = "runc exec " + box.id() + " /bin/cat /etc/shadow >/dev/null";
  const CommandResult browser =
      run({"node", VIGIL_SOURCE_DIR "/tests/e2e/dashboard_e2e.mjs", "--url", url, "--out", out_dir, "--trigger", trigger,
           "--expect-rule", "Read sensitive file", "--container", short_id, "--within-ms", "2000", "--node-modules",
           VIGIL_DASHBOARD_NODE_MODULES},
          240);
  EXPECT_EQ(browser.exit_code, 0) << browser.out << browser.err << "\nagent:\n" << agent.output();
  // The driver's last line of output is its JSON summary.
  nlohmann::json summary;
  for (std::size_t at = 0; at < browser.out.size();) {
    std::size_t end = browser.out.find('\n', at);
    if (end == std::string::npos) end = browser.out.size();
    auto line = nlohmann::json::parse(browser.out.substr(at, end - at), nullptr, false);
    if (line.is_object() && line.value("test", "") == "dashboard_e2e") summary = line;
    at = end + 1;
  }
  ASSERT_TRUE(summary.is_object()) << browser.out;
  EXPECT_TRUE(summary.value("ok", false)) << summary.dump(2);
  EXPECT_LE(summary.value("latency_from_trigger_end_ms", 99999), 2000) << summary.dump(2);

  // The alert the browser saw is the container's read, as the API tells it.
  const std::int64_t alert_id = summary.value("alert_id", std::int64_t{0});
  const CommandResult api = run({"curl", "-s", "-m", "10", url + "api/alerts/" + std::to_string(alert_id)}, 30);
  const auto alert = nlohmann::json::parse(api.out, nullptr, false);
  ASSERT_TRUE(alert.is_object()) << api.out << api.err;
  EXPECT_EQ(alert["container"].value("id", ""), short_id) << alert.dump(2);
  EXPECT_EQ(alert["output_fields"].value("fd.name", ""), "/etc/shadow") << alert.dump(2);
  EXPECT_FALSE(alert["process_tree"].empty()) << alert.dump(2);
  // The container's timeline has its events (the open of /etc/shadow at least) within seconds.
  // The store writes events in batches, so earlier ones (runc's mounts) can be there first: wait
  // for the open itself.
  std::int64_t container_events = 0;
  nlohmann::json activity;
  for (int i = 0; i < 100; ++i) {
    const CommandResult got = run({"curl", "-s", "-m", "10", url + "api/containers/" + short_id + "/activity"}, 30);
    activity = nlohmann::json::parse(got.out, nullptr, false);
    container_events = 0;
    if (activity.is_object() && activity["series"].is_object()) {
      for (const auto& [type, counts] : activity["series"].items())
        for (const auto& count : counts) container_events += count.get<std::int64_t>();
      if (activity["series"].contains("openat")) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(container_events, 0) << activity.dump();
  ASSERT_TRUE(activity.is_object() && activity["series"].is_object());
  EXPECT_TRUE(activity["series"].contains("openat")) << activity.dump();
  EXPECT_FALSE(activity["alerts"].empty()) << activity.dump();
  for (const char* shot : {"alerts-1280x800.png", "alerts-detail-1280x800.png", "containers-1280x800.png",
                           "alerts-390x844.png", "containers-390x844.png"}) {
    EXPECT_EQ(::stat((out_dir + "/" + shot).c_str(), &st), 0) << shot;
  }
  EXPECT_EQ(box.destroy(), "");
}

}  // namespace
