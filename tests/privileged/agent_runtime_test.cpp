// `vigil agent` with the runtime pipeline on and no fanotify marks: eBPF events reach the
// process table and the counters in status.json.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include "privileged/agent_fixture.h"

using namespace vigil::test;

TEST(AgentRuntime, EventsReachTheProcessTableAndCounters) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: true\n  ring_buffer_mb: 8\n"
                                     "  syscalls: [openat, close, connect]\nrules:\n  enabled: false\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();
  const auto before = agent.status()["runtime"];
  ASSERT_TRUE(before.is_object()) << agent.output();
  EXPECT_GT(before["processes"]["seeded"].get<int>(), 1);

  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) ASSERT_EQ(run({"/bin/true"}).exit_code, 0);
  nlohmann::json after;
  for (int i = 0; i < 100; ++i) {
    after = agent.status()["runtime"];
    const auto execs = after["events_by_type"].value("procexec", 0) - before["events_by_type"].value("procexec", 0);
    if (execs >= kRuns) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(after["events_by_type"].value("procexec", 0) - before["events_by_type"].value("procexec", 0), kRuns)
      << after.dump();
  EXPECT_GE(after["processes"]["execs"].get<int>() - before["processes"]["execs"].get<int>(), kRuns) << after.dump();
  EXPECT_GT(after["events_by_type"].value("openat", 0), 0) << after.dump();  // the loader opens libc
  EXPECT_EQ(after["events_by_type"].value("unlink", 0), 0) << "not in runtime.syscalls: " << after.dump();
  EXPECT_EQ(after["drops"], 0) << after.dump();
  EXPECT_EQ(after["decode_errors"], 0) << after.dump();
  EXPECT_FALSE(after.contains("error")) << after.dump();
  EXPECT_EQ(after["ring_buffer"]["capacity_bytes"], 8 << 20);
}

TEST(AgentRuntime, BadRuntimeConfigIsRejectedWithItsLine) {
  TempDir dir;
  write_text(dir / "agent.yaml", "state_dir: " + (dir / "state") + "\nwatch: []\nruntime:\n  enabled: true\n"
                                 "  syscalls: [openat, no_such_call]\n");
  const auto result = run({vigil_binary(), "agent", "--config", dir / "agent.yaml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("agent.yaml:5"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("no_such_call"), std::string::npos) << result.err;
}
