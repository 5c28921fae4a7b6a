// The syscall probe's exec family (VIGIL_EVENT_SYSCALL_EXEC), for real: failed execve/execveat
// in this process (argv read from our memory), successful ones in children (the record comes
// from the new program: its executable, argv, argc and environment size).
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

struct Argv {
  std::vector<std::string> strings;
  std::vector<char*> pointers;
  explicit Argv(std::vector<std::string> s) : strings(std::move(s)) {
    for (auto& a : strings) pointers.push_back(a.data());
    pointers.push_back(nullptr);
  }
  char* const* get() { return pointers.data(); }
  std::string joined() const {
    std::string all;
    for (const auto& a : strings) all += a + '\0';
    return all;
  }
  std::uint64_t bytes() const { return joined().size(); }
};

std::string args_of(const vigil_syscall_exec_event& e) { return std::string(e.args, e.args_size); }

void expect_exec_record(const Self& self, const vigil_syscall_exec_event& e, long nr, long ret) {
  self.expect_header(e.header, VIGIL_EVENT_SYSCALL_EXEC, sizeof(e));
  EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(nr));
  EXPECT_EQ(e.sc.ret, ret);
  EXPECT_EQ(e.reserved0, 0u);
  EXPECT_EQ(e.reserved1, 0u);
}

const vigil_syscall_exec_event* exec_of(const Records& records, pid_t pid) {
  for (const auto& e : records.syscall_execs)
    if (e.header.pid == static_cast<__u32>(pid)) return &e;
  return nullptr;
}

TEST(ProbeSyscallExec, FailedExecsInThisProcess) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  int dirfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dirfd, 0);
  Self self;
  auto probe = open_probe({SYS_execve, SYS_execveat});
  ASSERT_TRUE(probe);

  Argv argv({"vigil-missing", "arg one", "", "last"});
  Argv envp({"VIGIL_ENV=1"});
  const std::string missing = dir / "missing-program";
  ASSERT_EQ(sys(SYS_execve, missing.c_str(), argv.get(), envp.get()), -ENOENT);
  ASSERT_EQ(sys(SYS_execveat, dirfd, "missing-too", argv.get(), envp.get(), AT_SYMLINK_NOFOLLOW), -ENOENT);
  // A directory is not executable.
  ASSERT_EQ(sys(SYS_execve, dir.path().c_str(), argv.get(), envp.get()), -EACCES);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::syscall_execs, self.tid,
                              {{SYS_execve, 2}, {SYS_execveat, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto execves = Records::of(records.syscall_execs, self.tid, SYS_execve);
  ASSERT_EQ(execves.size(), 2u);
  {
    SCOPED_TRACE("execve ENOENT");
    const auto& e = execves[0];
    expect_exec_record(self, e, SYS_execve, -ENOENT);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.dirfd, AT_FDCWD);
    EXPECT_EQ(e.at_flags, 0u);
    EXPECT_EQ(e.filename_size, missing.size() + 1);
    EXPECT_EQ(text(e.filename, e.filename_size), missing);
    EXPECT_EQ(e.argc, argv.strings.size());
    EXPECT_EQ(args_of(e), argv.joined());
    EXPECT_EQ(e.exe_ino, 0u);
    EXPECT_EQ(e.exe_dev, 0u);
    EXPECT_EQ(e.env_size, 0u);
  }
  {
    SCOPED_TRACE("execve EACCES");
    expect_exec_record(self, execves[1], SYS_execve, -EACCES);
    EXPECT_EQ(text(execves[1].filename, execves[1].filename_size), dir.path());
    EXPECT_EQ(args_of(execves[1]), argv.joined());
  }
  auto execveats = Records::of(records.syscall_execs, self.tid, SYS_execveat);
  ASSERT_EQ(execveats.size(), 1u);
  {
    SCOPED_TRACE("execveat ENOENT");
    const auto& e = execveats[0];
    expect_exec_record(self, e, SYS_execveat, -ENOENT);
    EXPECT_EQ(e.dirfd, dirfd);
    EXPECT_EQ(e.at_flags, static_cast<__u32>(AT_SYMLINK_NOFOLLOW));
    EXPECT_EQ(text(e.filename, e.filename_size), "missing-too");
    EXPECT_EQ(e.argc, argv.strings.size());
    EXPECT_EQ(args_of(e), argv.joined());
  }
  ::close(dirfd);
}

TEST(ProbeSyscallExec, SuccessfulExecsInChildren) {
  PROBE_SYSCALL_PRECONDITIONS();
  struct stat exe{};
  ASSERT_EQ(::stat("/bin/true", &exe), 0);
  int bin_fd = ::open("/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(bin_fd, 0);
  int exe_fd = ::open("/bin/true", O_PATH | O_CLOEXEC);
  ASSERT_GE(exe_fd, 0);
  Self self;
  auto probe = open_probe({SYS_execve, SYS_execveat});
  ASSERT_TRUE(probe);

  Argv argv({"/bin/true", "vigil-exec-test", "", "two words"});
  Argv envp({"VIGIL_A=1", "VIGIL_B=two"});
  // The path strings live on the stack, whose pages fork copies: resident in the child (see
  // the next tests for paths that are not).
  char bin_true[] = "/bin/true";
  char relative[] = "true";
  char empty[] = "";
  enum Kind { kExecve, kExecveatRelative, kExecveatEmptyPath };
  auto spawn = [&](Kind kind) {
    pid_t child = ::fork();
    if (child == 0) {
      if (kind == kExecve) ::syscall(SYS_execve, bin_true, argv.get(), envp.get());
      if (kind == kExecveatRelative) ::syscall(SYS_execveat, bin_fd, relative, argv.get(), envp.get(), 0);
      if (kind == kExecveatEmptyPath) ::syscall(SYS_execveat, exe_fd, empty, argv.get(), envp.get(), AT_EMPTY_PATH);
      ::_exit(127);
    }
    return child;
  };
  const pid_t children[] = {spawn(kExecve), spawn(kExecveatRelative), spawn(kExecveatEmptyPath)};
  for (pid_t child : children) {
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exec failed in the child: " << status;
  }

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    for (pid_t child : children)
      if (!exec_of(records, child) || !records.exec_of_pid(child)) return false;
    return true;
  }));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  const char* names[] = {"execve", "execveat dirfd", "execveat AT_EMPTY_PATH"};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(names[i]);
    const auto& e = *exec_of(records, children[i]);
    Self expected = self.child(children[i]);
    expected.comm = "true";
    expect_exec_record(expected, e, i == 0 ? SYS_execve : SYS_execveat, 0);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.exe_ino, exe.st_ino);
    EXPECT_EQ(e.exe_dev, exe.st_dev);
    EXPECT_EQ(e.argc, argv.strings.size());
    EXPECT_EQ(args_of(e), argv.joined());
    EXPECT_EQ(e.env_size, envp.bytes());
    // The process probe's exec record agrees on the environment size.
    EXPECT_EQ(records.exec_of_pid(children[i])->env_size, envp.bytes());
    switch (i) {
      case 0:
        EXPECT_EQ(e.dirfd, AT_FDCWD);
        EXPECT_EQ(e.at_flags, 0u);
        EXPECT_EQ(text(e.filename, e.filename_size), "/bin/true");
        EXPECT_EQ(e.filename_size, sizeof("/bin/true"));
        break;
      case 1:
        EXPECT_EQ(e.dirfd, bin_fd);
        EXPECT_EQ(e.at_flags, 0u);
        EXPECT_EQ(text(e.filename, e.filename_size), "true");
        break;
      case 2:
        EXPECT_EQ(e.dirfd, exe_fd);
        EXPECT_EQ(e.at_flags, static_cast<__u32>(AT_EMPTY_PATH));
        EXPECT_EQ(e.filename_size, 1u) << "the empty path, NUL only";
        break;
    }
  }
  ::close(bin_fd);
  ::close(exe_fd);
}

// A thread other than the leader execs: de_thread gives it the leader's id before the call
// returns, and the exec state (saved under the process id inside the exec) must still be found.
TEST(ProbeSyscallExec, ExecFromANonLeaderThread) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_execve});
  ASSERT_TRUE(probe);
  static Argv argv({"/bin/true", "from-a-thread"});
  static Argv envp({});
  static char path[] = "/bin/true";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pthread_t thread;
    auto run = [](void*) -> void* {
      ::syscall(SYS_execve, path, argv.get(), envp.get());
      ::_exit(126);
    };
    if (::pthread_create(&thread, nullptr, run, nullptr) != 0) ::_exit(125);
    for (;;) ::pause();  // ended by the exec (de_thread)
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exec failed in the thread: " << status;
  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return exec_of(records, child) != nullptr; }));
  const auto& e = *exec_of(records, child);
  EXPECT_EQ(e.header.tid, static_cast<__u32>(child)) << "returns with the leader's id";
  EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(SYS_execve));
  EXPECT_EQ(e.sc.ret, 0);
  EXPECT_EQ(e.sc.flags, 0u) << "the exec state was found";
  EXPECT_EQ(text(e.filename, e.filename_size), "/bin/true");
  EXPECT_EQ(args_of(e), argv.joined());
}

// bpf_probe_read_user cannot fault a page in. A path in a file page the child never touched
// (mapped, never read) would be unreadable at syscall entry; the probe reads it only after the
// kernel has copied it (sched_prepare_exec for a successful exec, sys_exit for a failed one),
// when it is resident: every record has the caller's own string.
TEST(ProbeSyscallExec, PathsNotResidentAtEntry) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const std::string names = std::string("/bin/true") + '\0' + "true" + '\0' + (dir / "missing") + '\0';
  vigil::test::write_text(dir / "names", names);
  int names_fd = ::open((dir / "names").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(names_fd, 0);
  int bin_fd = ::open("/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(bin_fd, 0);
  // Evict the page cache too, so even a fault-around cannot map it early.
  ::posix_fadvise(names_fd, 0, 0, POSIX_FADV_DONTNEED);
  Self self;
  auto probe = open_probe({SYS_execve, SYS_execveat});
  ASSERT_TRUE(probe);
  Argv argv({"true"});
  Argv envp({});

  pid_t children[3];
  for (int kind = 0; kind < 3; ++kind) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // A fresh private mapping in the child: no page of it is mapped until the kernel reads it.
      void* map = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, names_fd, 0);
      if (map == MAP_FAILED) ::_exit(120);
      const char* path = static_cast<const char*>(map);
      if (kind == 0) ::syscall(SYS_execve, path, argv.get(), envp.get());
      if (kind == 1) ::syscall(SYS_execveat, bin_fd, path + sizeof("/bin/true"), argv.get(), envp.get(), 0);
      if (kind == 2) {
        long r = ::syscall(SYS_execve, path + sizeof("/bin/true") + sizeof("true"), argv.get(), envp.get());
        ::_exit(r < 0 && errno == ENOENT ? 0 : 121);
      }
      ::_exit(127);
    }
    children[kind] = child;
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << kind << " status " << status;
  }
  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    for (pid_t child : children)
      if (!exec_of(records, child)) return false;
    return true;
  }));
  const auto& direct = *exec_of(records, children[0]);
  EXPECT_EQ(direct.sc.ret, 0);
  EXPECT_EQ(direct.sc.flags, 0u);
  EXPECT_EQ(text(direct.filename, direct.filename_size), "/bin/true");
  const auto& relative = *exec_of(records, children[1]);
  EXPECT_EQ(relative.sc.syscall_nr, static_cast<__u32>(SYS_execveat));
  EXPECT_EQ(relative.sc.ret, 0);
  EXPECT_EQ(relative.sc.flags, 0u);
  EXPECT_EQ(relative.dirfd, bin_fd);
  EXPECT_EQ(text(relative.filename, relative.filename_size), "true");
  const auto& failed = *exec_of(records, children[2]);
  EXPECT_EQ(failed.sc.ret, -ENOENT);
  EXPECT_EQ(failed.sc.flags, 0u);
  EXPECT_EQ(text(failed.filename, failed.filename_size), dir / "missing");
  EXPECT_EQ(failed.header.comm, self.comm) << "a failed exec keeps the caller's name";
  ::close(names_fd);
  ::close(bin_fd);
}

// A successful execveat returns looking like execve (orig_ax); with only execve wanted it must
// leave no record, and with only execveat wanted it must still be recorded as execveat.
TEST(ProbeSyscallExec, ExecveAndExecveatAreToldApart) {
  PROBE_SYSCALL_PRECONDITIONS();
  int bin_fd = ::open("/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(bin_fd, 0);
  char relative[] = "true";
  char* argv[] = {relative, nullptr};
  char* envp[] = {nullptr};
  auto run_execveat = [&] {
    pid_t child = ::fork();
    if (child == 0) {
      ::syscall(SYS_execveat, bin_fd, relative, argv, envp, 0);
      ::_exit(127);
    }
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    return child;
  };
  for (int wanted : {SYS_execve, SYS_execveat}) {
    SCOPED_TRACE(wanted == SYS_execve ? "only execve wanted" : "only execveat wanted");
    auto probe = open_probe({wanted});
    ASSERT_TRUE(probe);
    pid_t child = run_execveat();
    Records records;
    // The process probe's exec record of the same child arrives first (it is written earlier).
    ASSERT_TRUE(poll_until(*probe, records, [&] { return records.exec_of_pid(child) != nullptr; }));
    drain(*probe, records);
    const auto* e = exec_of(records, child);
    if (wanted == SYS_execve) {
      EXPECT_EQ(e, nullptr) << "recorded as syscall " << (e ? e->sc.syscall_nr : 0);
    } else {
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->sc.syscall_nr, static_cast<__u32>(SYS_execveat));
      EXPECT_EQ(e->sc.flags, 0u);
      EXPECT_EQ(e->dirfd, bin_fd);
      EXPECT_EQ(text(e->filename, e->filename_size), "true");
    }
  }
  ::close(bin_fd);
}

}  // namespace
