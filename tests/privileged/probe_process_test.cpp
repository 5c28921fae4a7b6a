// The process probe, loaded for real: exec, fork and exit records of children this test makes,
// checked against what the test can find out without eBPF (/proc, stat, wait status).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "event_header.h"
#include "probe/probe.h"
#include "process_events.h"
#include "support/test_support.h"

namespace {

using namespace std::chrono_literals;
using vigil::probe::ProcessProbe;
using vigil::probe::ProcessProbeOptions;

// Every record seen, decoded by type, in delivery order.
struct Records {
  std::vector<vigil_exec_event> execs;
  std::vector<vigil_fork_event> forks;
  std::vector<vigil_exit_event> exits;
  std::vector<std::string> malformed;
  std::size_t count = 0;

  void add(std::span<const std::uint8_t> record) {
    ++count;
    vigil_event_header header{};
    if (record.size() < sizeof(header)) {
      malformed.push_back("short record of " + std::to_string(record.size()) + " bytes");
      return;
    }
    std::memcpy(&header, record.data(), sizeof(header));
    if (header.size != record.size()) {
      malformed.push_back("type " + std::to_string(header.type) + ": header.size " +
                          std::to_string(header.size) + " != " + std::to_string(record.size()));
      return;
    }
    switch (header.type) {
      case VIGIL_EVENT_EXEC: push(execs, record); break;
      case VIGIL_EVENT_FORK: push(forks, record); break;
      case VIGIL_EVENT_EXIT: push(exits, record); break;
      default: malformed.push_back("unknown type " + std::to_string(header.type));
    }
  }

  template <class T>
  void push(std::vector<T>& into, std::span<const std::uint8_t> record) {
    if (record.size() != sizeof(T)) {
      malformed.push_back("record of " + std::to_string(record.size()) + " bytes, want " +
                          std::to_string(sizeof(T)));
      return;
    }
    T event{};
    std::memcpy(&event, record.data(), sizeof(T));
    into.push_back(event);
  }

  const vigil_exec_event* exec_of(pid_t pid) const {
    for (const auto& e : execs)
      if (e.header.pid == static_cast<__u32>(pid)) return &e;
    return nullptr;
  }
  const vigil_fork_event* fork_of(pid_t child) const {
    for (const auto& e : forks)
      if (e.child_pid == static_cast<__u32>(child)) return &e;
    return nullptr;
  }
  const vigil_exit_event* exit_of(pid_t pid) const {
    for (const auto& e : exits)
      if (e.header.pid == static_cast<__u32>(pid)) return &e;
    return nullptr;
  }
};

// Polls until `done` holds or 10 s pass; returns whether it held.
bool poll_until(ProcessProbe& probe, Records& records, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    auto n = probe.poll(100ms, [&](std::span<const std::uint8_t> r) { records.add(r); });
    if (!n) {
      ADD_FAILURE() << n.error().message;
      return false;
    }
  }
  return true;
}

std::optional<ProcessProbe> open_probe(std::size_t ring_bytes = std::size_t{1} << 20) {
  auto probe = ProcessProbe::open(ProcessProbeOptions{.ring_buffer_bytes = ring_bytes});
  if (!probe) {
    ADD_FAILURE() << "ProcessProbe::open: " << probe.error().message;
    return std::nullopt;
  }
  return std::move(*probe);
}

std::uint64_t inode_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

std::uint64_t boottime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// This process's cgroup v2 directory, found without eBPF from /proc/self/cgroup's "0::" line
// and the cgroup2 mount in /proc/self/mountinfo. Its inode number is the cgroup id.
std::optional<std::string> own_cgroup_dir() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line, path;
  bool found = false;
  while (std::getline(cgroups, line)) {
    if (line.rfind("0::", 0) == 0) {
      path = line.substr(3);
      found = true;
    }
  }
  if (!found) return std::nullopt;
  std::ifstream mounts("/proc/self/mountinfo");
  while (std::getline(mounts, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    std::string relative = path;
    if (root != "/") {
      if (relative.rfind(root, 0) != 0) continue;
      relative = relative.substr(root.size());
    }
    std::string dir = mount_point + (relative == "/" ? "" : relative);
    if (inode_of(dir) != 0) return dir;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> own_cgroup_id() {
  auto dir = own_cgroup_dir();
  if (!dir) return std::nullopt;
  return inode_of(*dir);
}

std::string own_comm() {
  std::string comm = vigil::test::read_text("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

std::string comm_of(const vigil_event_header& h) { return std::string(h.comm, strnlen(h.comm, sizeof(h.comm))); }

#define PROBE_PRECONDITIONS()                                                          \
  VIGIL_REQUIRE_ROOT();                                                                \
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (CO-RE)")

TEST(ProcessProbe, ReportsForkExecAndExitOfAChild) {
  PROBE_PRECONDITIONS();
  auto probe = open_probe();
  ASSERT_TRUE(probe);

  const pid_t self = ::getpid();
  const std::string nonce = "vigil-nonce-" + std::to_string(self) + "-" + std::to_string(boottime_ns());
  const std::vector<std::string> args = {"/bin/true", "vigil-probe-test", "", "two words", nonce};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  const std::uint64_t before = boottime_ns();
  pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    ::execv("/bin/true", argv.data());
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  const std::uint64_t after = boottime_ns();

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    return records.exec_of(child) && records.fork_of(child) && records.exit_of(child);
  })) << "exec " << !!records.exec_of(child) << " fork " << !!records.fork_of(child) << " exit "
      << !!records.exit_of(child) << " of " << records.count << " records";
  EXPECT_TRUE(records.malformed.empty()) << records.malformed.front();

  const auto cgroup_id = own_cgroup_id();
  ASSERT_TRUE(cgroup_id) << "no cgroup v2 path in /proc/self/cgroup and mountinfo";
  const std::uint64_t mnt_ns = inode_of("/proc/self/ns/mnt");
  const std::uint64_t pid_ns = inode_of("/proc/self/ns/pid");
  const std::uint64_t net_ns = inode_of("/proc/self/ns/net");
  auto expect_common = [&](const vigil_event_header& h, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(h.uid, ::getuid());
    EXPECT_EQ(h.gid, ::getgid());
    EXPECT_EQ(h.cgroup_id, *cgroup_id);
    EXPECT_EQ(h.mnt_ns, mnt_ns);
    EXPECT_EQ(h.pid_ns, pid_ns);
    EXPECT_EQ(h.net_ns, net_ns);
    EXPECT_EQ(h.reserved0, 0u);
    EXPECT_EQ(h.reserved1, 0u);
    EXPECT_GE(h.timestamp_ns, before);
    EXPECT_LE(h.timestamp_ns, after);
  };

  // fork: recorded in the parent (this process), names the child.
  const vigil_fork_event& fork = *records.fork_of(child);
  expect_common(fork.header, "fork");
  EXPECT_EQ(fork.header.type, static_cast<__u32>(VIGIL_EVENT_FORK));
  EXPECT_EQ(fork.header.size, sizeof(vigil_fork_event));
  EXPECT_EQ(fork.header.pid, static_cast<__u32>(self));
  EXPECT_EQ(fork.header.tid, static_cast<__u32>(::gettid()));
  EXPECT_EQ(fork.header.ppid, static_cast<__u32>(::getppid()));
  EXPECT_EQ(comm_of(fork.header), own_comm());
  EXPECT_EQ(fork.child_tid, static_cast<__u32>(child));

  // exec: recorded in the child after the new program was loaded.
  const vigil_exec_event& exec = *records.exec_of(child);
  expect_common(exec.header, "exec");
  EXPECT_EQ(exec.header.type, static_cast<__u32>(VIGIL_EVENT_EXEC));
  EXPECT_EQ(exec.header.size, sizeof(vigil_exec_event));
  EXPECT_EQ(exec.header.tid, static_cast<__u32>(child));
  EXPECT_EQ(exec.header.ppid, static_cast<__u32>(self));
  EXPECT_EQ(comm_of(exec.header), "true");
  EXPECT_EQ(exec.flags, 0u);
  // execv passes our environment on: the new program's environment area is exactly its strings.
  std::size_t env_bytes = 0;
  for (char** env = environ; *env != nullptr; ++env) env_bytes += std::strlen(*env) + 1;
  EXPECT_EQ(exec.env_size, env_bytes);
  ASSERT_EQ(exec.filename_size, sizeof("/bin/true"));
  EXPECT_STREQ(exec.filename, "/bin/true");
  EXPECT_EQ(exec.argc, args.size());
  std::string want_args;
  for (const auto& a : args) want_args += a + '\0';
  ASSERT_LE(exec.args_size, sizeof(exec.args));
  EXPECT_EQ(std::string(exec.args, exec.args_size), want_args);
  struct stat exe{};
  ASSERT_EQ(::stat("/bin/true", &exe), 0);
  EXPECT_EQ(exec.exe_ino, exe.st_ino);
  EXPECT_EQ(exec.exe_dev, exe.st_dev) << "major " << major(exe.st_dev) << " minor " << minor(exe.st_dev);

  // exit: recorded in the child's last thread.
  const vigil_exit_event& exit = *records.exit_of(child);
  expect_common(exit.header, "exit");
  EXPECT_EQ(exit.header.type, static_cast<__u32>(VIGIL_EVENT_EXIT));
  EXPECT_EQ(exit.header.size, sizeof(vigil_exit_event));
  EXPECT_EQ(exit.header.tid, static_cast<__u32>(child));
  EXPECT_EQ(exit.header.ppid, static_cast<__u32>(self));
  EXPECT_EQ(comm_of(exit.header), "true");
  EXPECT_EQ(exit.exit_code, static_cast<__u32>(status));
  EXPECT_EQ(exit.reserved0, 0u);

  EXPECT_LE(fork.header.timestamp_ns, exec.header.timestamp_ns);
  EXPECT_LE(exec.header.timestamp_ns, exit.header.timestamp_ns);

  auto drops = probe->drops();
  ASSERT_TRUE(drops) << drops.error().message;
}

// A child in its own cgroup and new mount and network namespaces (and a new pid namespace for
// its children only): the records follow the task, and pid_ns is the active one.
TEST(ProcessProbe, CgroupAndNamespacesAreTheTasks) {
  PROBE_PRECONDITIONS();
  auto parent_dir = own_cgroup_dir();
  VIGIL_REQUIRE(parent_dir.has_value(), "a cgroup v2 hierarchy");
  const std::string cgroup = *parent_dir + "/vigil-probe-test-" + std::to_string(::getpid());
  VIGIL_REQUIRE(::mkdir(cgroup.c_str(), 0755) == 0 || errno == EEXIST,
                "a writable cgroup v2 hierarchy (mkdir " + cgroup + ": " + std::strerror(errno) + ")");
  struct RemoveCgroup {
    std::string path;
    ~RemoveCgroup() {
      for (int i = 0; i < 50 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10'000);
    }
  } remove{cgroup};
  const std::string procs = cgroup + "/cgroup.procs";

  auto probe = open_probe();
  ASSERT_TRUE(probe);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::close(pipe_fds[0]);
    int fd = ::open(procs.c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(120);
    ::close(fd);
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) != 0) ::_exit(121);
    std::uint64_t inos[3] = {};
    const char* names[3] = {"/proc/self/ns/mnt", "/proc/self/ns/net", "/proc/self/ns/pid"};
    for (int i = 0; i < 3; ++i) {
      struct stat st{};
      if (::stat(names[i], &st) != 0) ::_exit(122);
      inos[i] = st.st_ino;
    }
    if (::write(pipe_fds[1], inos, sizeof(inos)) != sizeof(inos)) ::_exit(123);
    ::close(pipe_fds[1]);
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execv("/bin/true", argv);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::uint64_t inos[3] = {};
  ssize_t got = ::read(pipe_fds[0], inos, sizeof(inos));
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child setup failed, status " << status;
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(inos)));

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exec_of(child) && records.exit_of(child); }));
  const std::uint64_t cgroup_id = inode_of(cgroup);
  ASSERT_NE(cgroup_id, 0u);
  EXPECT_NE(cgroup_id, own_cgroup_id().value_or(0)) << "the test cgroup must differ from our own";
  EXPECT_NE(inos[0], inode_of("/proc/self/ns/mnt"));
  EXPECT_NE(inos[1], inode_of("/proc/self/ns/net"));
  EXPECT_EQ(inos[2], inode_of("/proc/self/ns/pid")) << "unshare(CLONE_NEWPID) moves only children";
  for (const vigil_event_header* h : {&records.exec_of(child)->header, &records.exit_of(child)->header}) {
    SCOPED_TRACE(h->type);
    EXPECT_EQ(h->cgroup_id, cgroup_id);
    EXPECT_EQ(h->mnt_ns, inos[0]);
    EXPECT_EQ(h->net_ns, inos[1]);
    EXPECT_EQ(h->pid_ns, inos[2]);
  }
  // The fork was recorded in this process: our cgroup and namespaces.
  ASSERT_TRUE(records.fork_of(child));
  EXPECT_EQ(records.fork_of(child)->header.cgroup_id, own_cgroup_id().value_or(0));
  EXPECT_EQ(records.fork_of(child)->header.net_ns, inode_of("/proc/self/ns/net"));
}

TEST(ProcessProbe, ExitCodeIsTheWaitStatus) {
  PROBE_PRECONDITIONS();
  auto probe = open_probe();
  ASSERT_TRUE(probe);

  pid_t exited = ::fork();
  ASSERT_GE(exited, 0);
  if (exited == 0) ::_exit(42);
  pid_t killed = ::fork();
  ASSERT_GE(killed, 0);
  if (killed == 0) {
    ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  int exited_status = 0, killed_status = 0;
  ASSERT_EQ(::waitpid(exited, &exited_status, 0), exited);
  ASSERT_EQ(::waitpid(killed, &killed_status, 0), killed);
  ASSERT_TRUE(WIFEXITED(exited_status) && WEXITSTATUS(exited_status) == 42);
  ASSERT_TRUE(WIFSIGNALED(killed_status) && WTERMSIG(killed_status) == SIGKILL);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exit_of(exited) && records.exit_of(killed); }));
  EXPECT_EQ(records.exit_of(exited)->exit_code, static_cast<__u32>(exited_status));
  EXPECT_EQ(records.exit_of(killed)->exit_code, static_cast<__u32>(killed_status));
  ASSERT_TRUE(records.fork_of(exited));
  EXPECT_EQ(records.fork_of(exited)->header.pid, static_cast<__u32>(::getpid()));
  EXPECT_FALSE(records.exec_of(exited)) << "no exec happened in the child";
}

TEST(ProcessProbe, ThreadsAreNeitherForksNorExits) {
  PROBE_PRECONDITIONS();
  auto probe = open_probe();
  ASSERT_TRUE(probe);
  const pid_t self = ::getpid();

  std::thread([] {}).join();
  // A child made after the join: once its exit arrives, the thread's records would have too.
  pid_t marker = ::fork();
  ASSERT_GE(marker, 0);
  if (marker == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(marker, nullptr, 0), marker);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exit_of(marker) != nullptr; }));
  for (const auto& f : records.forks) {
    EXPECT_NE(f.child_pid, static_cast<__u32>(self)) << "a thread was reported as a new process";
    EXPECT_EQ(f.child_pid, f.child_tid);
  }
  EXPECT_FALSE(records.exit_of(self)) << "a thread exit was reported as a process exit";
}

TEST(ProcessProbe, CountsRecordsThatDoNotFit) {
  PROBE_PRECONDITIONS();
  // One page of ring buffer holds a few dozen fork/exit records; make hundreds without polling.
  auto probe = open_probe(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  ASSERT_TRUE(probe);
  for (int i = 0; i < 200; ++i) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(0);
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  }
  auto drops = probe->drops();
  ASSERT_TRUE(drops) << drops.error().message;
  EXPECT_GT(drops->by_type[VIGIL_EVENT_FORK] + drops->by_type[VIGIL_EVENT_EXIT], 0u);
  EXPECT_EQ(drops->total, drops->by_type[0] + drops->by_type[VIGIL_EVENT_EXEC] +
                              drops->by_type[VIGIL_EVENT_FORK] + drops->by_type[VIGIL_EVENT_EXIT]);

  // What did fit is still well formed, and the buffer works again once drained.
  Records records;
  auto n = probe->poll(0ms, [&](std::span<const std::uint8_t> r) { records.add(r); });
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_GT(*n, 0u);
  EXPECT_TRUE(records.malformed.empty()) << records.malformed.front();
}

TEST(ProcessProbe, MovedFromProbeReportsAnError) {
  PROBE_PRECONDITIONS();
  auto probe = open_probe();
  ASSERT_TRUE(probe);
  ProcessProbe moved = std::move(*probe);
  EXPECT_GE(moved.event_fd(), 0);
  auto n = probe->poll(0ms, [](std::span<const std::uint8_t>) {});
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("closed"), std::string::npos);
  EXPECT_FALSE(probe->drops());
  EXPECT_EQ(probe->event_fd(), -1);
}

}  // namespace
