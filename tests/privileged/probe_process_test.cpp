// The process probe, loaded for real: exec, fork and exit records of children this test makes,
// checked against what the test can find out without eBPF (/proc, stat, wait status).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event_header.h"
#include "events/event.h"
#include "probe/probe.h"
#include "process_events.h"
#include "probe_syscall_fixture.h"
#include "support/test_support.h"

namespace {

using namespace std::chrono_literals;
using vigil::probe::ProcessProbe;
using vigil::probe::ProcessProbeOptions;

using ProcessRecords = vigil::test::syscall_probe::ProcessRecords;
using vigil::test::syscall_probe::boottime_ns;
using vigil::test::syscall_probe::ChildCgroup;
using vigil::test::syscall_probe::comm_of;
using vigil::test::syscall_probe::inode_of;
using vigil::test::syscall_probe::own_cgroup_dir;
using vigil::test::syscall_probe::own_comm;
using vigil::test::syscall_probe::read_report_and_reap;
using vigil::test::syscall_probe::stat_inodes;
using vigil::test::syscall_probe::poll_until;

std::optional<ProcessProbe> open_probe(std::size_t ring_bytes = std::size_t{1} << 20) {
  auto probe = ProcessProbe::open(ProcessProbeOptions{.ring_buffer_bytes = ring_bytes});
  if (!probe) {
    ADD_FAILURE() << "ProcessProbe::open: " << probe.error().message;
    return std::nullopt;
  }
  return std::move(*probe);
}

// The path a leaf-first component list names, as the state table assembles it.
std::string kernel_path(const char* components, __u32 size) {
  std::string path;
  vigil::events::append_kernel_path(std::string_view(components, size), false, path);
  return path;
}

std::optional<std::uint64_t> own_cgroup_id() {
  auto dir = own_cgroup_dir();
  if (!dir) return std::nullopt;
  return inode_of(*dir);
}

TEST(ProcessProbe, ReportsForkExecAndExitOfAChild) {
  PROBE_SYSCALL_PRECONDITIONS();
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

  ProcessRecords records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    return records.exec_of_pid(child) && records.fork_of_child(child) && records.exit_of_pid(child);
  })) << "exec " << !!records.exec_of_pid(child) << " fork " << !!records.fork_of_child(child) << " exit "
      << !!records.exit_of_pid(child) << " of " << records.count << " records";
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
  const vigil_fork_event& fork = *records.fork_of_child(child);
  expect_common(fork.header, "fork");
  EXPECT_EQ(fork.header.type, static_cast<__u32>(VIGIL_EVENT_FORK));
  EXPECT_EQ(fork.header.size, sizeof(vigil_fork_event));
  EXPECT_EQ(fork.header.pid, static_cast<__u32>(self));
  EXPECT_EQ(fork.header.tid, static_cast<__u32>(::gettid()));
  EXPECT_EQ(fork.header.ppid, static_cast<__u32>(::getppid()));
  EXPECT_EQ(comm_of(fork.header), own_comm());
  EXPECT_EQ(fork.child_tid, static_cast<__u32>(child));

  // exec: recorded in the child after the new program was loaded.
  const vigil_exec_event& exec = *records.exec_of_pid(child);
  expect_common(exec.header, "exec");
  EXPECT_EQ(exec.header.type, static_cast<__u32>(VIGIL_EVENT_EXEC));
  EXPECT_EQ(exec.header.size, sizeof(vigil_exec_event));
  EXPECT_EQ(exec.header.tid, static_cast<__u32>(child));
  EXPECT_EQ(exec.header.ppid, static_cast<__u32>(self));
  EXPECT_EQ(comm_of(exec.header), "true");
  EXPECT_EQ(exec.flags, VIGIL_EXEC_KERNEL_FACTS);
  // What the kernel says about the new program, checked against what /proc says of the same
  // things in this process (the child inherited them): its resolved path (/bin/true may be a
  // merged-/usr alias), cwd, credentials, pids in its namespace, what stdio is.
  char resolved[PATH_MAX] = {};
  ASSERT_NE(::realpath("/bin/true", resolved), nullptr);
  EXPECT_EQ(kernel_path(exec.exe_path, exec.exe_path_size), resolved);
  char cwd[PATH_MAX] = {};
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(kernel_path(exec.cwd, exec.cwd_size), cwd);
  EXPECT_EQ(exec.creds.uid, ::getuid());
  EXPECT_EQ(exec.creds.euid, ::geteuid());
  EXPECT_EQ(exec.creds.gid, ::getgid());
  EXPECT_EQ(exec.creds.egid, ::getegid());
  EXPECT_EQ(exec.vpid, static_cast<__u32>(child)) << "the initial pid namespace: the same number";
  EXPECT_EQ(exec.vpgid, static_cast<__u32>(::getpgrp()));
  EXPECT_EQ(exec.vsid, static_cast<__u32>(::getsid(0)));
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st{};
    const __u32 expected = ::fstat(fd, &st) == 0 ? static_cast<__u32>(st.st_mode & 0xffff) : 0;
    if (S_ISSOCK(st.st_mode)) continue;  // the family is checked in ExecRecordCarriesTheKernelsFacts
    EXPECT_EQ(exec.stdio_kind[fd], expected) << "fd " << fd;
  }
  const std::string loginuid = vigil::test::read_text("/proc/self/loginuid");
  if (!loginuid.empty()) {
    EXPECT_EQ(exec.loginuid, static_cast<__u32>(std::stoul(loginuid)));
  }
  struct stat true_stat{};
  ASSERT_EQ(::stat(resolved, &true_stat), 0);
  EXPECT_EQ(exec.exe_mtime_ns, static_cast<__u64>(true_stat.st_mtim.tv_sec) * 1'000'000'000ull + true_stat.st_mtim.tv_nsec);
  EXPECT_EQ(exec.exe_ctime_ns, static_cast<__u64>(true_stat.st_ctim.tv_sec) * 1'000'000'000ull + true_stat.st_ctim.tv_nsec);
  EXPECT_EQ(exec.reserved0, 0u);
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
  const vigil_exit_event& exit = *records.exit_of_pid(child);
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
  PROBE_SYSCALL_PRECONDITIONS();
  const ChildCgroup test_cgroup("vigil-probe-test-");
  VIGIL_REQUIRE(test_cgroup.created, test_cgroup.requirement);
  const std::string& cgroup = test_cgroup.path;

  auto probe = open_probe();
  ASSERT_TRUE(probe);
  int pipe_fd = -1;
  const pid_t child = test_cgroup.fork_into(pipe_fd);
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    // Only async-signal-safe calls between fork and exec.
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) != 0) ::_exit(121);
    std::uint64_t inos[3] = {};
    const char* names[3] = {"/proc/self/ns/mnt", "/proc/self/ns/net", "/proc/self/ns/pid"};
    if (!stat_inodes(names, inos)) ::_exit(122);
    if (::write(pipe_fd, inos, sizeof(inos)) != sizeof(inos)) ::_exit(123);
    ::close(pipe_fd);
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execv("/bin/true", argv);
    ::_exit(127);
  }
  std::uint64_t inos[3] = {};
  ASSERT_NO_FATAL_FAILURE(read_report_and_reap(pipe_fd, child, inos, sizeof(inos)));

  ProcessRecords records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exec_of_pid(child) && records.exit_of_pid(child); }));
  const std::uint64_t cgroup_id = inode_of(cgroup);
  ASSERT_NE(cgroup_id, 0u);
  EXPECT_NE(cgroup_id, own_cgroup_id().value_or(0)) << "the test cgroup must differ from our own";
  EXPECT_NE(inos[0], inode_of("/proc/self/ns/mnt"));
  EXPECT_NE(inos[1], inode_of("/proc/self/ns/net"));
  EXPECT_EQ(inos[2], inode_of("/proc/self/ns/pid")) << "unshare(CLONE_NEWPID) moves only children";
  for (const vigil_event_header* h : {&records.exec_of_pid(child)->header, &records.exit_of_pid(child)->header}) {
    SCOPED_TRACE(h->type);
    EXPECT_EQ(h->cgroup_id, cgroup_id);
    EXPECT_EQ(h->mnt_ns, inos[0]);
    EXPECT_EQ(h->net_ns, inos[1]);
    EXPECT_EQ(h->pid_ns, inos[2]);
  }
  // The fork was recorded in this process: our cgroup and namespaces.
  ASSERT_TRUE(records.fork_of_child(child));
  EXPECT_EQ(records.fork_of_child(child)->header.cgroup_id, own_cgroup_id().value_or(0));
  EXPECT_EQ(records.fork_of_child(child)->header.net_ns, inode_of("/proc/self/ns/net"));
}

TEST(ProcessProbe, ExitCodeIsTheWaitStatus) {
  PROBE_SYSCALL_PRECONDITIONS();
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

  ProcessRecords records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exit_of_pid(exited) && records.exit_of_pid(killed); }));
  EXPECT_EQ(records.exit_of_pid(exited)->exit_code, static_cast<__u32>(exited_status));
  EXPECT_EQ(records.exit_of_pid(killed)->exit_code, static_cast<__u32>(killed_status));
  ASSERT_TRUE(records.fork_of_child(exited));
  EXPECT_EQ(records.fork_of_child(exited)->header.pid, static_cast<__u32>(::getpid()));
  EXPECT_FALSE(records.exec_of_pid(exited)) << "no exec happened in the child";
}

TEST(ProcessProbe, ThreadsAreNeitherForksNorExits) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = open_probe();
  ASSERT_TRUE(probe);
  const pid_t self = ::getpid();

  std::thread([] {}).join();
  // A child made after the join: once its exit arrives, the thread's records would have too.
  pid_t marker = ::fork();
  ASSERT_GE(marker, 0);
  if (marker == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(marker, nullptr, 0), marker);

  ProcessRecords records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exit_of_pid(marker) != nullptr; }));
  for (const auto& f : records.forks) {
    EXPECT_NE(f.child_pid, static_cast<__u32>(self)) << "a thread was reported as a new process";
    EXPECT_EQ(f.child_pid, f.child_tid);
  }
  EXPECT_FALSE(records.exit_of_pid(self)) << "a thread exit was reported as a process exit";
}

TEST(ProcessProbe, CountsRecordsThatDoNotFit) {
  PROBE_SYSCALL_PRECONDITIONS();
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
  ProcessRecords records;
  auto n = probe->poll(0ms, [&](std::span<const std::uint8_t> r) { records.add(r); });
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_GT(*n, 0u);
  EXPECT_TRUE(records.malformed.empty()) << records.malformed.front();
}

TEST(ProcessProbe, MovedFromProbeReportsAnError) {
  PROBE_SYSCALL_PRECONDITIONS();
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

bool kernel_has_overlayfs() {
  const std::string filesystems = vigil::test::read_text("/proc/filesystems");
  return filesystems.find("\toverlay\n") != std::string::npos;
}

// Only raw syscalls: this runs in a child of a forked (possibly multi-threaded) test process.
bool copy_file(const char* from, const char* to) {
  static char buffer[1 << 16];
  int in = ::open(from, O_RDONLY | O_CLOEXEC);
  int out = ::open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  bool ok = in >= 0 && out >= 0;
  for (ssize_t n; ok && (n = ::read(in, buffer, sizeof buffer)) != 0;) ok = n > 0 && ::write(out, buffer, n) == n;
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  return ok;
}

pid_t spawn_and_wait(const char* program) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    char* argv[] = {const_cast<char*>(program), nullptr};
    ::execv(program, argv);
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return pid;
}

// A container's image is the overlay's lower layer; what is written in the container lands in
// the upper one. An exec of a program written after the overlay was mounted is flagged (what
// Falco calls proc.is_exe_upper_layer); one from the lower layer is not. The overlay lives in
// a mount namespace of the child's own, so it goes with the child.
TEST(ProcessProbe, ExecutablesInAnOverlayUpperLayerAreFlagged) {
  PROBE_SYSCALL_PRECONDITIONS();
  VIGIL_REQUIRE(kernel_has_overlayfs(), "the kernel has no overlayfs");
  vigil::test::TempDir dir;
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"}) ASSERT_EQ(::mkdir((dir.path() + sub).c_str(), 0755), 0);
  ASSERT_TRUE(copy_file("/bin/true", (dir / "lower/from-image").c_str()));
  const std::string options = "lowerdir=" + (dir / "lower") + ",upperdir=" + (dir / "upper") + ",workdir=" + (dir / "work");
  const std::string merged = dir / "merged";
  const std::string from_image = dir / "merged/from-image";
  const std::string dropped = dir / "merged/dropped";

  auto probe = open_probe();
  ASSERT_TRUE(probe);
  int pipe_fd = -1;
  const pid_t child = vigil::test::syscall_probe::fork_with_pipe(pipe_fd);
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    pid_t pids[2] = {-1, -1};
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(121);
    if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) ::_exit(122);
    if (!copy_file("/bin/true", dropped.c_str())) ::_exit(123);
    pids[0] = spawn_and_wait(from_image.c_str());
    pids[1] = spawn_and_wait(dropped.c_str());
    if (::write(pipe_fd, pids, sizeof(pids)) != sizeof(pids)) ::_exit(124);
    ::_exit(0);
  }
  pid_t pids[2] = {-1, -1};
  ASSERT_NO_FATAL_FAILURE(read_report_and_reap(pipe_fd, child, pids, sizeof(pids)));
  ASSERT_GT(pids[0], 0);
  ASSERT_GT(pids[1], 0);

  ProcessRecords records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exec_of_pid(pids[0]) && records.exec_of_pid(pids[1]); }));
  EXPECT_EQ(records.exec_of_pid(pids[0])->flags & VIGIL_EXEC_EXE_UPPER_LAYER, 0u) << "shipped in the lower layer";
  EXPECT_NE(records.exec_of_pid(pids[1])->flags & VIGIL_EXEC_EXE_UPPER_LAYER, 0u) << "written into the upper layer";
  EXPECT_EQ(records.exec_of_pid(child), nullptr) << "the child itself never execs";
}

// Runs `child_body` in a forked child (which must exec or _exit) and returns its exec record.
template <class Body>
std::optional<vigil_exec_event> exec_record_of(ProcessProbe& probe, Body child_body) {
  const pid_t child = ::fork();
  if (child == 0) {
    child_body();
    ::_exit(127);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return std::nullopt;
  ProcessRecords records;
  if (!poll_until(probe, records, [&] { return records.exec_of_pid(child) != nullptr; })) return std::nullopt;
  return *records.exec_of_pid(child);
}

// The exec record's kernel-side facts for the shapes that /proc cannot be trusted with: a
// program run through a symlink, from a memfd, from a deleted file, inside a chroot, from a
// directory too deep to walk; a socket on stdin; credentials changed before the exec.
TEST(ProcessProbe, ExecRecordCarriesTheKernelsFacts) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = open_probe(std::size_t{8} << 20);
  ASSERT_TRUE(probe);
  vigil::test::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the child below runs as nobody in it
  char resolved[PATH_MAX] = {};
  ASSERT_NE(::realpath("/bin/true", resolved), nullptr);
  const std::string program = vigil::test::read_text(resolved);
  ASSERT_FALSE(program.empty());
  const std::string link = dir / "innocent";
  ASSERT_EQ(::symlink(resolved, link.c_str()), 0);

  // Through a symlink, from another directory, with a socket on stdin and other ids.
  const auto linked = exec_record_of(*probe, [&] {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0 || ::dup2(pair[0], 0) != 0) ::_exit(1);
    if (::chdir(dir.path().c_str()) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(2);
    }
    ::execl(link.c_str(), "anything", static_cast<char*>(nullptr));
  });
  ASSERT_TRUE(linked);
  EXPECT_EQ(kernel_path(linked->exe_path, linked->exe_path_size), resolved) << "the file, not the link";
  EXPECT_EQ(kernel_path(linked->cwd, linked->cwd_size), dir.path());
  EXPECT_EQ(linked->creds.uid, 65534u);
  EXPECT_EQ(linked->creds.euid, 65534u);
  EXPECT_EQ(linked->creds.egid, 65534u);
  EXPECT_EQ(linked->stdio_kind[0], static_cast<__u32>(S_IFSOCK | 0777) | (AF_UNIX << 16));
  EXPECT_EQ(linked->flags & (VIGIL_EXEC_EXE_MEMFD | VIGIL_EXEC_EXE_UNLINKED | VIGIL_EXEC_EXE_PATH_TRUNCATED), 0u);

  // A memfd, by its /proc/self/fd path: the kernel's own name for it, whatever argv[0] says.
  const auto memfd = exec_record_of(*probe, [&] {
    const int fd = static_cast<int>(::syscall(SYS_memfd_create, "payload", 0));
    if (fd < 0 || ::write(fd, program.data(), program.size()) != static_cast<ssize_t>(program.size())) ::_exit(1);
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    ::execl(path.c_str(), "[kworker/0:1]", static_cast<char*>(nullptr));
  });
  ASSERT_TRUE(memfd);
  EXPECT_EQ(kernel_path(memfd->exe_path, memfd->exe_path_size), "/memfd:payload");
  EXPECT_NE(memfd->flags & VIGIL_EXEC_EXE_MEMFD, 0u);
  EXPECT_NE(memfd->flags & VIGIL_EXEC_EXE_UNLINKED, 0u);
  EXPECT_NE(memfd->flags & VIGIL_EXEC_EXE_PATH_DETACHED, 0u);

  // A file deleted while open, then run through its descriptor: the path it had, unlinked.
  const std::string doomed = dir / "doomed";
  const auto deleted = exec_record_of(*probe, [&] {
    const int out = ::open(doomed.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (out < 0 || ::write(out, program.data(), program.size()) != static_cast<ssize_t>(program.size())) ::_exit(1);
    ::close(out);
    const int fd = ::open(doomed.c_str(), O_RDONLY);
    if (fd < 0 || ::unlink(doomed.c_str()) != 0) ::_exit(2);
    char* argv[] = {const_cast<char*>("doomed"), nullptr};
    char* envp[] = {nullptr};
    ::syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
  });
  ASSERT_TRUE(deleted);
  EXPECT_EQ(kernel_path(deleted->exe_path, deleted->exe_path_size), doomed);
  EXPECT_NE(deleted->flags & VIGIL_EXEC_EXE_UNLINKED, 0u);
  EXPECT_EQ(deleted->flags & VIGIL_EXEC_EXE_MEMFD, 0u);

  // Inside a chroot: the path as the process sees it.
  const std::string root = dir / "root";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/bin").c_str(), 0755), 0);
  ASSERT_TRUE(copy_file("/bin/busybox", (root + "/bin/busybox").c_str()));
  const auto chrooted = exec_record_of(*probe, [&] {
    if (::chroot(root.c_str()) != 0 || ::chdir("/bin") != 0) ::_exit(1);
    ::execl("/bin/busybox", "true", static_cast<char*>(nullptr));
  });
  ASSERT_TRUE(chrooted);
  EXPECT_EQ(kernel_path(chrooted->exe_path, chrooted->exe_path_size), "/bin/busybox");
  EXPECT_EQ(kernel_path(chrooted->cwd, chrooted->cwd_size), "/bin");

  // Deeper than the walk goes: flagged, never a wrong path.
  std::string deep = dir / "d";
  ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  for (int level = 0; level < 70; ++level) {
    deep += "/d";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  }
  ASSERT_TRUE(copy_file(resolved, (deep + "/t").c_str()));
  const auto too_deep = exec_record_of(*probe, [&] { ::execl((deep + "/t").c_str(), "t", static_cast<char*>(nullptr)); });
  ASSERT_TRUE(too_deep);
  EXPECT_NE(too_deep->flags & VIGIL_EXEC_EXE_PATH_TRUNCATED, 0u);
  EXPECT_TRUE((deep + "/t").ends_with(kernel_path(too_deep->exe_path, too_deep->exe_path_size))) << "the nearest components";
}

}  // namespace
