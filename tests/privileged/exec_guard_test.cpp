// The eBPF exec guard on its own: pending -> confirmed by a successful exec -> dirty by an open
// for writing -> the next exec is killed before it runs, and reported.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "probe/exec_guard.h"
#include "support/test_support.h"

using namespace vigil::test;
using vigil::probe::ExecGuard;
using vigil::probe::GuardedInode;
using vigil::probe::GuardState;

namespace {

// fork + exec `path` (no shell); returns (pid, wait status).
std::pair<pid_t, int> run_binary(const std::string& path) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(path.c_str(), path.c_str(), nullptr);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return {child, status};
}

GuardedInode inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return GuardedInode::of(st.st_dev, st.st_ino);
}

}  // namespace

TEST(ExecGuard, ConfirmsOnExecDirtiesOnWriteOpenAndKillsTheNextExec) {
  VIGIL_REQUIRE_ROOT();
  auto guard = ExecGuard::open();
  ASSERT_TRUE(guard) << guard.error().message;
  TempDir dir;
  const std::string binary = dir / "true";
  ASSERT_EQ(run({"cp", "/usr/bin/true", binary}).exit_code, 0);
  ::chmod(binary.c_str(), 0755);
  const GuardedInode inode = inode_of(binary);

  EXPECT_EQ(guard->state(inode), GuardState::absent);
  ASSERT_TRUE(guard->watch(inode));
  EXPECT_EQ(guard->state(inode), GuardState::pending);

  auto [first_pid, first_status] = run_binary(binary);
  ASSERT_TRUE(WIFEXITED(first_status)) << first_status;
  EXPECT_EQ(WEXITSTATUS(first_status), 0);
  EXPECT_EQ(guard->state(inode), GuardState::confirmed);

  // Reading does not count as writing.
  ::close(::open(binary.c_str(), O_RDONLY));
  EXPECT_EQ(guard->state(inode), GuardState::confirmed);

  const int writer = ::open(binary.c_str(), O_RDWR);
  ASSERT_GE(writer, 0);
  EXPECT_EQ(guard->state(inode), GuardState::dirty);  // before any byte was written
  ::close(writer);
  EXPECT_GE(guard->counters().dirtied, 1u);

  auto [killed_pid, killed_status] = run_binary(binary);
  ASSERT_TRUE(WIFSIGNALED(killed_status)) << "exit status " << killed_status;
  EXPECT_EQ(WTERMSIG(killed_status), SIGKILL);

  std::vector<vigil::probe::GuardKill> kills;
  for (int i = 0; i < 20 && kills.empty(); ++i) {
    auto polled = guard->poll_kills(std::chrono::milliseconds(100),
                                    [&](const vigil::probe::GuardKill& kill) { kills.push_back(kill); });
    ASSERT_TRUE(polled) << polled.error().message;
  }
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].pid, static_cast<uint32_t>(killed_pid));
  EXPECT_EQ(kills[0].inode, inode);
  EXPECT_EQ(kills[0].uid, 0u);
  EXPECT_EQ(kills[0].comm, "true");
  EXPECT_GE(guard->counters().kills, 1u);

  // Forgotten inodes are not the guard's business any more.
  guard->forget(inode);
  EXPECT_EQ(guard->state(inode), GuardState::absent);
  auto [again_pid, again_status] = run_binary(binary);
  ASSERT_TRUE(WIFEXITED(again_status)) << again_status;
  EXPECT_EQ(WEXITSTATUS(again_status), 0);

  // clear() drops every entry.
  ASSERT_TRUE(guard->watch(inode));
  guard->clear();
  EXPECT_EQ(guard->state(inode), GuardState::absent);
}

TEST(ExecGuard, OtherInodesAreUntouched) {
  VIGIL_REQUIRE_ROOT();
  auto guard = ExecGuard::open();
  ASSERT_TRUE(guard) << guard.error().message;
  TempDir dir;
  const std::string watched = dir / "watched", other = dir / "other";
  ASSERT_EQ(run({"cp", "/usr/bin/true", watched}).exit_code, 0);
  ASSERT_EQ(run({"cp", "/usr/bin/true", other}).exit_code, 0);
  ::chmod(watched.c_str(), 0755);
  ::chmod(other.c_str(), 0755);
  ASSERT_TRUE(guard->watch(inode_of(watched)));
  ::close(::open(other.c_str(), O_RDWR));  // writing another file leaves the watched one alone
  EXPECT_EQ(guard->state(inode_of(watched)), GuardState::pending);
  auto [pid, status] = run_binary(other);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(guard->state(inode_of(other)), GuardState::absent);
}
