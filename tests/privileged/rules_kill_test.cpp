// `action: kill` (vigil's extension to Falco rules) in a real agent: the process that made the
// matching syscall dies by SIGKILL and the alert records it; with rules.kill off it lives and
// the alert says the kill was disabled.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


#include "privileged/agent_fixture.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

nlohmann::json wait_for_alert(const std::string& path, pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    for (const auto& alert : read_json_objects(path))
      if (alert.value("pid", 0) == pid) return alert;
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}


class RulesKill : public ::testing::TestWithParam<bool> {};

TEST_P(RulesKill, MatchingProcessIsKilledOnlyWhenKillIsOn) {
  VIGIL_REQUIRE_ROOT();
  const bool kill_enabled = GetParam();
  TempDir dir;
  ::mkdir((dir / "marked").c_str(), 0755);
  write_text(dir / "rules.yaml",
             "- rule: Opened the marked directory\n"
             "  desc: test rule\n"
             "  condition: evt.type in (open, openat) and fd.name startswith " + (dir / "marked/") + "\n"
             "  output: marked file opened (file=%fd.name process=%proc.name pid=%proc.pid)\n"
             "  priority: CRITICAL\n"
             "  action: kill\n");
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: true\nrules:\n  files: [" + (dir / "rules.yaml") +
                                     "]\n  kill: " + (kill_enabled ? "true" : "false") +
                                     "\noutputs:\n  - type: file\n    path: " + (dir / "alerts.jsonl") + "\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();

  const std::string marked = dir / "marked/file";
  const pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open(marked.c_str(), O_RDONLY | O_CREAT, 0600);
    if (fd < 0) ::_exit(1);
    ::sleep(5);  // long enough to be killed; exits 0 when left alone
    ::_exit(0);
  }
  const auto started = std::chrono::steady_clock::now();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const auto lived = std::chrono::steady_clock::now() - started;
  auto alert = wait_for_alert(dir / "alerts.jsonl", child);
  ASSERT_FALSE(alert.is_null()) << agent.output();
  EXPECT_EQ(alert["rule"], "Opened the marked directory");
  EXPECT_EQ(alert["priority"], "Critical");
  if (kill_enabled) {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    EXPECT_LT(lived, 2s);
    EXPECT_EQ(alert["action"], "kill");
    EXPECT_EQ(agent.status()["runtime"]["rules"]["kills"], 1);
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    EXPECT_EQ(alert["action"], "kill-disabled");
  }
}

INSTANTIATE_TEST_SUITE_P(KillSwitch, RulesKill, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? std::string("KillOn") : std::string("KillOff"); });

}  // namespace

namespace {

// A kill rule whose condition is only about the event type is carried out in the kernel: the
// caller dies as the call returns, before it runs another instruction of its own.
TEST(RulesKillInKernel, TypeOnlyKillRuleKillsBeforeTheCallerContinues) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  write_text(dir / "rules.yaml",
             "- rule: No kernel modules\n"
             "  desc: test rule\n"
             "  condition: evt.type in (init_module, finit_module)\n"
             "  output: module load attempted by %proc.name (%proc.pid)\n"
             "  priority: CRITICAL\n"
             "  action: kill\n");
  write_text(dir / "not-a-module.ko", "not an ELF module\n");
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: true\nrules:\n  files: [" + (dir / "rules.yaml") +
                                     "]\noutputs:\n  - type: file\n    path: " + (dir / "alerts.jsonl") + "\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();
  EXPECT_EQ(agent.status()["runtime"]["interest"]["kill_on_exit"], nlohmann::json({"init_module", "finit_module"}));

  const std::string after = dir / "ran-after-the-call";
  const pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open((dir / "not-a-module.ko").c_str(), O_RDONLY);
    ::syscall(SYS_finit_module, fd, "", 0);
    // Never reached when the kernel killed us at the syscall's return.
    write_text(after, "alive\n");
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_NE(::access(after.c_str(), F_OK), 0) << "the child ran on after the call";
  auto alert = wait_for_alert(dir / "alerts.jsonl", child);
  ASSERT_FALSE(alert.is_null()) << agent.output();
  EXPECT_EQ(alert["action"], "kill-in-kernel");
  EXPECT_EQ(agent.status()["runtime"]["rules"]["kernel_kills"], 1);
}

}  // namespace
