// kill_process (the `action: kill` of rules): kills the process the event came from, and only
// that one: a pid whose start time does not match (reused), or started after the event, is left
// alone, as are pid 1 and the agent itself; without a start time or an event time to check,
// nothing is killed. Works without root on our own children.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "support/test_support.h"

#include "agent/process_killer.h"
#include "state/proc_reader.h"

namespace {

using vigil::agent::kill_process;
using vigil::agent::KillTarget;

std::uint64_t boottime_now_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(now.tv_nsec);
}

bool alive_and_not_killed(pid_t child) {
  // Still running: not a zombie left by a SIGKILL.
  return ::waitpid(child, nullptr, WNOHANG) == 0;
}

void end_child(pid_t child);

// The start time the process table records (ProcReader, /proc/PID/stat).
std::uint64_t start_time_ns(pid_t pid) {
  vigil::state::ProcReader reader;
  vigil::state::Process process;
  EXPECT_TRUE(reader.read_stat(static_cast<std::uint32_t>(pid), process));
  return process.start_time_ns;
}

pid_t sleeping_child() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(ProcessKiller, KillsTheProcessWhoseStartTimeMatches) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  auto outcome = kill_process(KillTarget{.pid = child, .start_boot_ns = start_time_ns(child),
                                         .event_boot_ns = boottime_now_ns()});
  EXPECT_TRUE(outcome.killed) << outcome.detail;
  const int status = reap(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(ProcessKiller, LeavesAReusedPidAlone) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  // The event's process started a minute earlier than the one holding the pid now.
  auto outcome = kill_process(KillTarget{.pid = child, .start_boot_ns = start_time_ns(child) - 60'000'000'000ull});
  EXPECT_FALSE(outcome.killed);
  EXPECT_NE(outcome.detail.find("another process"), std::string::npos) << outcome.detail;
  EXPECT_TRUE(alive_and_not_killed(child)) << "the child must still be alive";
  end_child(child);
}

// Finding 10 of issue 16: a process missing from the process table used to be killed with no
// check at all. Now the event time stands in for the start time.
TEST(ProcessKiller, ProcessMissingFromTheTableIsCheckedAgainstTheEventTime) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const std::uint64_t started = start_time_ns(child);
  // An event from a minute before this process existed: the pid was reused since.
  auto reused = kill_process(KillTarget{.pid = child, .event_boot_ns = started - 60'000'000'000ull});
  EXPECT_FALSE(reused.killed);
  EXPECT_NE(reused.detail.find("started after the event"), std::string::npos) << reused.detail;
  EXPECT_TRUE(alive_and_not_killed(child));
  // An event while it ran: it is the event's process.
  auto outcome = kill_process(KillTarget{.pid = child, .event_boot_ns = boottime_now_ns()});
  EXPECT_TRUE(outcome.killed) << outcome.detail;
  const int status = reap(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(ProcessKiller, NothingIsKilledWithoutATimeToCheck) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  auto outcome = kill_process(KillTarget{.pid = child});
  EXPECT_FALSE(outcome.killed);
  EXPECT_NE(outcome.detail.find("refused"), std::string::npos) << outcome.detail;
  EXPECT_TRUE(alive_and_not_killed(child));
  end_child(child);
}

// The start time is read at kill time; when it cannot be read the process is left alone.
TEST(ProcessKiller, UnreadableStartTimeKillsNothing) {
  vigil::test::TempDir empty_proc;
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  auto outcome = kill_process(KillTarget{.pid = child, .start_boot_ns = start_time_ns(child),
                                         .event_boot_ns = boottime_now_ns()},
                              empty_proc.path());
  EXPECT_FALSE(outcome.killed);
  EXPECT_NE(outcome.detail.find("cannot read the start time"), std::string::npos) << outcome.detail;
  EXPECT_TRUE(alive_and_not_killed(child));
  end_child(child);
}

TEST(ProcessKiller, RefusesInitTheAgentAndGonePids) {
  const std::uint64_t now = boottime_now_ns();
  EXPECT_FALSE(kill_process(KillTarget{.pid = 1, .event_boot_ns = now}).killed);
  EXPECT_FALSE(kill_process(KillTarget{.pid = 0, .event_boot_ns = now}).killed);
  EXPECT_FALSE(kill_process(KillTarget{.pid = ::getpid(), .event_boot_ns = now}).killed);
  const pid_t child = sleeping_child();
  ::kill(child, SIGKILL);
  reap(child);
  auto outcome = kill_process(KillTarget{.pid = child, .event_boot_ns = now});
  EXPECT_FALSE(outcome.killed);
  EXPECT_EQ(outcome.detail, "process already gone");
}

void end_child(pid_t child) {
  ::kill(child, SIGKILL);
  reap(child);
}

}  // namespace
