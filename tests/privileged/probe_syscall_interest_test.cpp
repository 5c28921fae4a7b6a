// The syscall probe's interest set, header and plumbing, for real: syscalls outside the set
// leave no record; set_syscalls() changes the set while attached; every record's header names
// the caller's cgroup and namespaces; drops are counted per type and CPU; the ring buffer's fill
// level is visible; process records keep flowing through the same ring buffer.
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;
using vigil::probe::EventProbe;

bool has_path(const std::vector<vigil_syscall_file_event>& files, pid_t tid, long nr, const std::string& path) {
  for (const auto& e : Records::of(files, tid, nr))
    if (text(e.path, e.path_size) == path) return true;
  return false;
}

std::size_t syscall_records_of(const Records& r, pid_t tid) {
  std::size_t n = 0;
  for (const auto& e : r.files) n += e.header.tid == static_cast<__u32>(tid);
  for (const auto& e : r.nets) n += e.header.tid == static_cast<__u32>(tid);
  for (const auto& e : r.creds) n += e.header.tid == static_cast<__u32>(tid);
  for (const auto& e : r.procs) n += e.header.tid == static_cast<__u32>(tid);
  for (const auto& e : r.syscall_execs) n += e.header.tid == static_cast<__u32>(tid);
  return n;
}

// Number of CPUs in /sys/devices/system/cpu/possible ("0-3,5,...").
std::size_t possible_cpus() {
  std::string list = vigil::test::read_text("/sys/devices/system/cpu/possible");
  std::size_t count = 0;
  std::istringstream ranges(list);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    auto dash = range.find('-');
    std::size_t first = std::stoul(range.substr(0, dash));
    std::size_t last = dash == std::string::npos ? first : std::stoul(range.substr(dash + 1));
    count += last - first + 1;
  }
  return count;
}

// A child that exits at once; its exit record marks a point in the ring buffer's order.
pid_t fork_marker() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  if (child > 0) ::waitpid(child, nullptr, 0);
  return child;
}

TEST(ProbeSyscallInterest, SyscallsOutsideTheSetLeaveNoRecord) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const std::string other = dir / "other";
  const std::string marker = dir / "marker";
  Self self;
  auto probe = open_probe({SYS_openat});
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->syscalls(), std::vector<int>{SYS_openat});

  long fd = sys(SYS_open, other.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(sys(SYS_close, fd), 0);
  ASSERT_EQ(sys(SYS_unlink, other.c_str()), 0);
  long marker_fd = sys(SYS_openat, AT_FDCWD, marker.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(marker_fd, 0);
  ::close(static_cast<int>(marker_fd));

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return has_path(records.files, self.tid, SYS_openat, marker); }));
  drain(*probe, records);
  EXPECT_EQ(Records::count_of(records.files, self.tid, SYS_open), 0u);
  EXPECT_EQ(Records::count_of(records.procs, self.tid, SYS_close), 0u);
  EXPECT_EQ(Records::count_of(records.files, self.tid, SYS_unlink), 0u);
  EXPECT_EQ(syscall_records_of(records, self.tid), Records::count_of(records.files, self.tid, SYS_openat));
  for (const auto& e : records.files) EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(SYS_openat));
  EXPECT_TRUE(records.nets.empty() && records.creds.empty() && records.procs.empty() && records.syscall_execs.empty());
}

TEST(ProbeSyscallInterest, SetSyscallsTakesEffectWhileAttached) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  auto probe = open_probe({SYS_openat});
  ASSERT_TRUE(probe);
  Records records;

  const std::string first = dir / "first";
  long fd1 = sys(SYS_openat, AT_FDCWD, first.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd1, 0);
  ASSERT_TRUE(poll_until(*probe, records, [&] { return has_path(records.files, self.tid, SYS_openat, first); }));

  // Swap openat for close.
  const int close_only[] = {SYS_close};
  ASSERT_TRUE(probe->set_syscalls(close_only)) << "set_syscalls";
  EXPECT_EQ(probe->syscalls(), std::vector<int>{SYS_close});
  const std::string second = dir / "second";
  long fd2 = sys(SYS_openat, AT_FDCWD, second.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd2, 0);
  ASSERT_EQ(sys(SYS_close, fd2), 0);
  auto closed = [&](long fd) {
    for (const auto& e : Records::of(records.procs, self.tid, SYS_close))
      if (e.args[0] == static_cast<std::uint64_t>(fd)) return true;
    return false;
  };
  ASSERT_TRUE(poll_until(*probe, records, [&] { return closed(fd2); }));
  EXPECT_FALSE(has_path(records.files, self.tid, SYS_openat, second)) << "openat left the set";

  // An unsupported number fails and changes nothing.
  const int unsupported[] = {SYS_openat, SYS_read};
  auto bad = probe->set_syscalls(unsupported);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not supported"), std::string::npos);
  EXPECT_EQ(probe->syscalls(), std::vector<int>{SYS_close});

  // Nothing at all: no syscall record, process records still flow (and mark the order).
  ASSERT_TRUE(probe->set_syscalls({}));
  EXPECT_TRUE(probe->syscalls().empty());
  ASSERT_EQ(sys(SYS_close, fd1), 0);
  pid_t marker = fork_marker();
  ASSERT_GT(marker, 0);
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exit_of_pid(marker) != nullptr; }));
  EXPECT_FALSE(closed(fd1)) << "close left the set";

  // Back on, including a syscall whose record needs the credentials from before the call
  // (starts credential tracking, which notes this thread too).
  const int again[] = {SYS_openat, SYS_setuid};
  ASSERT_TRUE(probe->set_syscalls(again));
  EXPECT_EQ(probe->syscalls(), (std::vector<int>{SYS_setuid, SYS_openat}));
  const std::string third = dir / "third";
  long fd3 = sys(SYS_openat, AT_FDCWD, third.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd3, 0);
  ASSERT_EQ(sys(SYS_setuid, ::getuid()), 0);  // to the uid we have: changes nothing
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    return has_path(records.files, self.tid, SYS_openat, third) && Records::count_of(records.creds, self.tid, SYS_setuid) >= 1;
  }));
  auto setuids = Records::of(records.creds, self.tid, SYS_setuid);
  EXPECT_EQ(setuids[0].sc.flags, 0u) << "the entry data was there";
  EXPECT_EQ(setuids[0].old_creds.uid, ::getuid());
  ::close(static_cast<int>(fd3));
  EXPECT_TRUE(records.malformed.empty());
}

TEST(ProbeSyscallInterest, DefaultCapturesEverySupportedSyscall) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = EventProbe::open();
  ASSERT_TRUE(probe) << probe.error().message;
  std::vector<int> all;
  for (const auto& s : EventProbe::supported_syscalls()) all.push_back(s.number);
  EXPECT_EQ(probe->syscalls(), all);
}

// The header of a syscall record describes the caller: a child in its own cgroup (v2, under
// the unified hierarchy) and its own mount, network and UTS namespaces.
TEST(ProbeSyscallInterest, HeaderNamesTheCallersCgroupAndNamespaces) {
  PROBE_SYSCALL_PRECONDITIONS();
  const ChildCgroup test_cgroup("vigil-syscall-test-");
  VIGIL_REQUIRE(test_cgroup.created, test_cgroup.requirement);
  const std::string& cgroup = test_cgroup.path;
  TempDir dir;
  const std::string marker = dir / "in-child";
  Self self;
  auto probe = open_probe({SYS_openat});
  ASSERT_TRUE(probe);

  int pipe_fd = -1;
  const pid_t child = test_cgroup.fork_into(pipe_fd);
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS) != 0) ::_exit(121);
    std::uint64_t inos[2] = {};
    const char* names[2] = {"/proc/self/ns/mnt", "/proc/self/ns/net"};
    if (!stat_inodes(names, inos)) ::_exit(122);
    long marker_fd = ::syscall(SYS_openat, AT_FDCWD, marker.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (marker_fd < 0) ::_exit(123);
    if (::write(pipe_fd, inos, sizeof(inos)) != sizeof(inos)) ::_exit(124);
    ::_exit(0);
  }
  std::uint64_t inos[2] = {};
  ASSERT_NO_FATAL_FAILURE(read_report_and_reap(pipe_fd, child, inos, sizeof(inos)));

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return has_path(records.files, child, SYS_openat, marker); }));
  const std::uint64_t cgroup_id = inode_of(cgroup);
  ASSERT_NE(cgroup_id, 0u);
  ASSERT_NE(cgroup_id, self.cgroup_id);
  ASSERT_NE(inos[0], self.mnt_ns);
  ASSERT_NE(inos[1], self.net_ns);
  const vigil_syscall_file_event* e = nullptr;
  auto mine = Records::of(records.files, child, SYS_openat);
  for (const auto& r : mine)
    if (text(r.path, r.path_size) == marker) e = &r;
  ASSERT_NE(e, nullptr);
  Self expected = self.child(child);
  expected.cgroup_id = cgroup_id;
  expected.mnt_ns = inos[0];
  expected.net_ns = inos[1];
  expected.expect_header(e->header, VIGIL_EVENT_SYSCALL_FILE, sizeof(*e));
  EXPECT_EQ(e->header.pid_ns, self.pid_ns) << "no new pid namespace";
}

TEST(ProbeSyscallInterest, DropsPerTypeAndCpuAndRingBufferFill) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  Self self;
  auto probe = open_probe({SYS_openat}, page);
  ASSERT_TRUE(probe);
  auto empty = probe->ring_buffer_fill();
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->capacity_bytes, page);

  // A page holds five 704-byte file records; make 100 without polling.
  const std::string path = dir / "f";
  for (int i = 0; i < 100; ++i) sys(SYS_openat, AT_FDCWD, path.c_str(), O_RDONLY, 0);

  auto fill = probe->ring_buffer_fill();
  ASSERT_TRUE(fill) << fill.error().message;
  EXPECT_EQ(fill->capacity_bytes, page);
  EXPECT_GT(fill->pending_bytes, sizeof(vigil_syscall_file_event));
  EXPECT_LE(fill->pending_bytes, page);
  auto drops = probe->drops();
  ASSERT_TRUE(drops) << drops.error().message;
  EXPECT_GT(drops->by_type[VIGIL_EVENT_SYSCALL_FILE], 50u);
  EXPECT_EQ(drops->total, std::accumulate(drops->by_type.begin(), drops->by_type.end(), std::uint64_t{0}));
  EXPECT_EQ(drops->total, std::accumulate(drops->by_cpu.begin(), drops->by_cpu.end(), std::uint64_t{0}));
  EXPECT_EQ(drops->by_cpu.size(), possible_cpus());

  Records records;
  drain(*probe, records);
  EXPECT_GT(Records::count_of(records.files, self.tid, SYS_openat), 0u);
  EXPECT_TRUE(records.malformed.empty());
  auto drained = probe->ring_buffer_fill();
  ASSERT_TRUE(drained);
  EXPECT_EQ(drained->pending_bytes, 0u);
}

}  // namespace
