// kill_process (the `action: kill` of rules): kills the process the event came from, and only
// that one: a pid whose start time does not match (reused) is left alone, as are pid 1 and the
// agent itself. Works without root on our own children.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "agent/process_killer.h"
#include "state/proc_reader.h"

namespace {

using vigil::agent::kill_process;

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
  auto outcome = kill_process(child, start_time_ns(child));
  EXPECT_TRUE(outcome.killed) << outcome.detail;
  const int status = reap(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(ProcessKiller, LeavesAReusedPidAlone) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  // The event's process started a minute earlier than the one holding the pid now.
  auto outcome = kill_process(child, start_time_ns(child) - 60'000'000'000ull);
  EXPECT_FALSE(outcome.killed);
  EXPECT_NE(outcome.detail.find("another process"), std::string::npos) << outcome.detail;
  EXPECT_EQ(::kill(child, 0), 0) << "the child must still be alive";
  ::kill(child, SIGKILL);
  reap(child);
}

TEST(ProcessKiller, RefusesInitTheAgentAndGonePids) {
  EXPECT_FALSE(kill_process(1, 0).killed);
  EXPECT_FALSE(kill_process(0, 0).killed);
  EXPECT_FALSE(kill_process(::getpid(), 0).killed);
  const pid_t child = sleeping_child();
  ::kill(child, SIGKILL);
  reap(child);
  auto outcome = kill_process(child, 0);
  EXPECT_FALSE(outcome.killed);
  EXPECT_EQ(outcome.detail, "process already gone");
}

}  // namespace
