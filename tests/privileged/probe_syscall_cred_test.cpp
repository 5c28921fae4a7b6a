// The syscall probe's credential family (VIGIL_EVENT_SYSCALL_CRED), for real: a forked child
// (credentials cannot be given back) walks through set*id and capset calls, reporting its
// /proc/self/status after each; every record's old and new credentials must equal what the
// kernel reported before and after that call.
#include <linux/capability.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <vector>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

struct Step {
  long nr;
  long args[3];
  const char* what;
};

struct Outcome {
  long ret = 0;
  vigil_creds creds{};  // from /proc/self/status after the call
};

// Uid:/Gid: lines (real, effective, saved, fs) and CapInh/CapPrm/CapEff (hex) of a status file.
vigil_creds parse_status(const std::string& status) {
  vigil_creds c{};
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "Uid:") fields >> c.uid >> c.euid >> c.suid >> c.fsuid;
    if (key == "Gid:") fields >> c.gid >> c.egid >> c.sgid >> c.fsgid;
    if (key == "CapInh:") fields >> std::hex >> c.cap_inheritable;
    if (key == "CapPrm:") fields >> std::hex >> c.cap_permitted;
    if (key == "CapEff:") fields >> std::hex >> c.cap_effective;
  }
  return c;
}

void expect_creds(const vigil_creds& got, const vigil_creds& want, const char* which) {
  SCOPED_TRACE(which);
  EXPECT_EQ(got.uid, want.uid);
  EXPECT_EQ(got.euid, want.euid);
  EXPECT_EQ(got.suid, want.suid);
  EXPECT_EQ(got.fsuid, want.fsuid);
  EXPECT_EQ(got.gid, want.gid);
  EXPECT_EQ(got.egid, want.egid);
  EXPECT_EQ(got.sgid, want.sgid);
  EXPECT_EQ(got.fsgid, want.fsgid);
  EXPECT_EQ(got.cap_effective, want.cap_effective);
  EXPECT_EQ(got.cap_permitted, want.cap_permitted);
  EXPECT_EQ(got.cap_inheritable, want.cap_inheritable);
}

// Sends [ret, length, status text] down the pipe; only raw syscalls (this runs after fork).
void report(int fd, long ret) {
  char status[4096];
  int sfd = ::open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = sfd >= 0 ? ::read(sfd, status, sizeof(status)) : -1;
  if (sfd >= 0) ::close(sfd);
  if (n < 0) n = 0;
  std::uint32_t len = static_cast<std::uint32_t>(n);
  if (::write(fd, &ret, sizeof(ret)) != sizeof(ret) || ::write(fd, &len, sizeof(len)) != sizeof(len) ||
      ::write(fd, status, len) != static_cast<ssize_t>(len))
    ::_exit(100);
}

constexpr __u64 kKeptCaps = (1ull << CAP_SETUID) | (1ull << CAP_SETGID) | (1ull << CAP_CHOWN);

TEST(ProbeSyscallCred, SetIdsAndCapsetOldAndNewCredentials) {
  PROBE_SYSCALL_PRECONDITIONS();
  const std::vector<Step> steps = {
      {SYS_setresgid, {1001, 1002, 1003}, "setresgid as root"},
      {SYS_setregid, {-1, 1005, 0}, "setregid effective only"},
      {SYS_setgid, {1007, 0, 0}, "setgid as root sets all four"},
      {SYS_setfsgid, {1008, 0, 0}, "setfsgid returns the old fsgid"},
      {SYS_capset, {0, 0, 0}, "capset keeps setuid/setgid/chown"},
      {SYS_setresuid, {2001, 2002, 2003}, "setresuid drops the capabilities"},
      {SYS_setuid, {2001, 0, 0}, "setuid unprivileged: effective only"},
      {SYS_setreuid, {2003, -1, 0}, "setreuid not allowed"},
      {SYS_setfsuid, {2003, 0, 0}, "setfsuid to the saved uid"},
      {SYS_setuid, {0, 0, 0}, "setuid back to root: EPERM"},
  };
  std::vector<int> numbers;
  for (const auto& s : steps) numbers.push_back(static_cast<int>(s.nr));
  Self self;
  auto probe = open_probe(numbers);
  ASSERT_TRUE(probe);

  int pipe_fd = -1;
  const pid_t child = fork_with_pipe(pipe_fd);
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    report(pipe_fd, 0);
    for (const auto& step : steps) {
      long r;
      if (step.nr == SYS_capset) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2]{};
        data[0].effective = data[0].permitted = static_cast<__u32>(kKeptCaps);
        data[0].inheritable = 1u << CAP_CHOWN;
        r = ::syscall(SYS_capset, &header, data);
      } else {
        r = ::syscall(step.nr, step.args[0], step.args[1], step.args[2]);
      }
      report(pipe_fd, r < 0 ? -errno : r);
    }
    ::_exit(0);
  }
  std::vector<Outcome> outcomes;
  for (;;) {
    Outcome o;
    std::uint32_t len = 0;
    if (::read(pipe_fd, &o.ret, sizeof(o.ret)) != sizeof(o.ret)) break;
    ASSERT_EQ(::read(pipe_fd, &len, sizeof(len)), static_cast<ssize_t>(sizeof(len)));
    std::string status(len, '\0');
    std::size_t got = 0;
    while (got < len) {
      ssize_t n = ::read(pipe_fd, status.data() + got, len - got);
      ASSERT_GT(n, 0);
      got += static_cast<std::size_t>(n);
    }
    o.creds = parse_status(status);
    outcomes.push_back(o);
  }
  ::close(pipe_fd);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(outcomes.size(), steps.size() + 1);
  // The walk did what it was meant to (else the record checks below prove little).
  EXPECT_EQ(outcomes[1].creds.sgid, 1003u);
  EXPECT_EQ(outcomes[4].ret, 1007) << "setfsgid returns the previous fsgid";
  EXPECT_EQ(outcomes[5].creds.cap_effective, kKeptCaps);
  EXPECT_EQ(outcomes[6].creds.cap_effective, 0u);
  EXPECT_EQ(outcomes[8].ret, -EPERM);
  EXPECT_EQ(outcomes[10].ret, -EPERM);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    std::size_t n = 0;
    for (const auto& e : records.creds) n += e.header.tid == static_cast<__u32>(child);
    return n >= steps.size();
  }));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  std::vector<vigil_syscall_cred_event> mine;
  for (const auto& e : records.creds)
    if (e.header.tid == static_cast<__u32>(child)) mine.push_back(e);
  ASSERT_EQ(mine.size(), steps.size());

  Self expected = self.child(child);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(steps[i].what);
    const auto& e = mine[i];
    const vigil_creds& before = outcomes[i].creds;
    const vigil_creds& after = outcomes[i + 1].creds;
    expected.uid = after.uid;
    expected.gid = after.gid;
    expected.expect_header(e.header, VIGIL_EVENT_SYSCALL_CRED, sizeof(e));
    EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(steps[i].nr));
    EXPECT_EQ(e.sc.ret, outcomes[i + 1].ret);
    EXPECT_EQ(e.sc.flags, 0u);
    expect_creds(e.old_creds, before, "old");
    expect_creds(e.new_creds, after, "new");
    EXPECT_EQ(e.reserved0, 0u);
    if (steps[i].nr == SYS_capset) {
      EXPECT_EQ(e.cap_version, static_cast<__u32>(_LINUX_CAPABILITY_VERSION_3));
      EXPECT_EQ(e.cap_pid, 0);
      EXPECT_EQ(e.cap_effective_arg, kKeptCaps);
      EXPECT_EQ(e.cap_permitted_arg, kKeptCaps);
      EXPECT_EQ(e.cap_inheritable_arg, 1u << CAP_CHOWN);
      for (auto id : e.id_args) EXPECT_EQ(id, 0u);
    } else {
      const long nr = steps[i].nr;
      const int taken = (nr == SYS_setresuid || nr == SYS_setresgid) ? 3 : (nr == SYS_setreuid || nr == SYS_setregid) ? 2 : 1;
      for (int a = 0; a < 3; ++a)
        EXPECT_EQ(e.id_args[a], a < taken ? static_cast<__u32>(steps[i].args[a]) : 0u) << "id_args[" << a << "]";
      EXPECT_EQ(e.cap_version, 0u);
      EXPECT_EQ(e.cap_pid, 0);
      EXPECT_EQ(e.cap_effective_arg, 0u);
      EXPECT_EQ(e.cap_permitted_arg, 0u);
      EXPECT_EQ(e.cap_inheritable_arg, 0u);
    }
  }
}

// The old credentials come from what the probe last noted for the thread, not from a
// sys_enter program. The child does the work between parent-controlled steps (one byte down
// `go` each), so the parent can change what the probe captures between them.
class CredChild {
 public:
  // Runs steps[i] when told to, as raw syscalls (this runs after fork); exits after the last.
  explicit CredChild(std::vector<Step> steps) {
    int go[2], done[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(done, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& step : steps) {
        char byte;
        if (::read(go[0], &byte, 1) != 1) ::_exit(101);
        long r = ::syscall(step.nr, step.args[0], step.args[1], step.args[2]);
        if (r < 0 || ::write(done[1], &byte, 1) != 1) ::_exit(102);
      }
      ::_exit(0);
    }
    ::close(go[0]);
    ::close(done[1]);
    go_ = go[1];
    done_ = done[0];
  }
  ~CredChild() {
    if (go_ >= 0) ::close(go_);
    if (done_ >= 0) ::close(done_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  bool step() {
    char byte = 'x';
    return ::write(go_, &byte, 1) == 1 && ::read(done_, &byte, 1) == 1;
  }
  bool exited_cleanly() {
    int status = 0;
    reaped_ = ::waitpid(pid_, &status, 0) == pid_;
    return reaped_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  int done_ = -1;
  bool reaped_ = false;
};

std::vector<vigil_syscall_cred_event> cred_records_of(vigil::probe::EventProbe& probe, pid_t tid, std::size_t count) {
  Records records;
  poll_until(probe, records, [&] { return Records::count_of(records.creds, tid, SYS_setresuid) >= count; });
  return Records::of(records.creds, tid, SYS_setresuid);
}

// setgid is not captured, only setresuid: the probe still notes setgid's change, so the
// setresuid record's old credentials have the new gid.
TEST(ProbeSyscallCred, UncapturedCallsStillUpdateOldCredentials) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = open_probe({SYS_setresuid});
  ASSERT_TRUE(probe);
  CredChild child({{SYS_setgid, {1500, 0, 0}, "setgid"}, {SYS_setresuid, {3001, 3002, 3003}, "setresuid"}});
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(child.step());
  ASSERT_TRUE(child.step());
  ASSERT_TRUE(child.exited_cleanly());
  auto mine = cred_records_of(*probe, child.pid(), 1);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].sc.flags, 0u);
  EXPECT_EQ(mine[0].old_creds.gid, 1500u);
  EXPECT_EQ(mine[0].old_creds.egid, 1500u);
  EXPECT_EQ(mine[0].old_creds.uid, 0u);
  EXPECT_EQ(mine[0].new_creds.uid, 3001u);
  EXPECT_EQ(mine[0].new_creds.gid, 1500u);
}

// Tracking stops (no credential call captured) while the child changes its gid, then starts
// again: what was noted before the gap is not trusted; the new start notes the child afresh.
TEST(ProbeSyscallCred, TrackingRestartedSeesChangesMadeInTheGap) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = open_probe({SYS_setresuid});
  ASSERT_TRUE(probe);
  CredChild child({{SYS_setgid, {1600, 0, 0}, "setgid in the gap"}, {SYS_setresuid, {3101, 3102, 3103}, "setresuid"}});
  ASSERT_GT(child.pid(), 0);
  const int no_creds[] = {SYS_openat};
  ASSERT_TRUE(probe->set_syscalls(no_creds));
  ASSERT_TRUE(child.step());
  const int creds_again[] = {SYS_setresuid};
  ASSERT_TRUE(probe->set_syscalls(creds_again));
  ASSERT_TRUE(child.step());
  ASSERT_TRUE(child.exited_cleanly());
  auto mine = cred_records_of(*probe, child.pid(), 1);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].sc.flags, 0u);
  EXPECT_EQ(mine[0].old_creds.gid, 1600u) << "noted at the restart, not the entry from before the gap";
  EXPECT_EQ(mine[0].old_creds.uid, 0u);
  EXPECT_EQ(mine[0].new_creds.suid, 3103u);
}

}  // namespace
