// The process table against the real /proc: seeded, then kept current by the live probe
// through a fork/exec/exit storm (short-lived processes, processes made by threads, an exec
// from a non-leader thread, long-lived children and grandchildren, uid and cwd changes), then
// compared with /proc for every live process.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "state/proc_reader.h"
#include "state_live_support.h"

namespace {

using namespace std::chrono_literals;
using namespace vigil::state;
using namespace vigil::state::live_testing;

// Every child the test makes leads its own process group, so teardown can kill exactly the
// processes this test started (the group, by its id) even if a test assertion fails midway.
class Children {
 public:
  ~Children() {
    std::lock_guard lock(mutex_);
    for (pid_t pid : pids_) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  void add(pid_t pid) {
    std::lock_guard lock(mutex_);
    pids_.push_back(pid);
  }
  void forget(pid_t pid) {
    std::lock_guard lock(mutex_);
    std::erase(pids_, pid);
  }

 private:
  std::mutex mutex_;
  std::vector<pid_t> pids_;
};

// fork + (optional setup) + execv; only async-signal-safe calls in the child.
pid_t spawn(Children& children, const char* path, std::vector<const char*> argv, int uid = -1,
            const char* cwd = nullptr) {
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(126);
    if (uid >= 0 && (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)) ::_exit(125);
    ::execv(path, const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  if (pid > 0) children.add(pid);
  return pid;
}

void reap(Children& children, pid_t pid) {
  ::waitpid(pid, nullptr, 0);
  children.forget(pid);
}

struct ProcView {
  Process process;
  std::string cgroup;
};

std::string describe(const Process& p) {
  return "pid " + std::to_string(p.pid) + " ppid " + std::to_string(p.ppid) + " comm '" + p.comm + "' exe '" + p.exe +
         "' uid " + std::to_string(p.uid) + "/" + std::to_string(p.euid);
}

bool prefix_of(const std::string& shorter, const std::string& longer) {
  return longer.size() >= shorter.size() && longer.compare(0, shorter.size(), shorter) == 0;
}

TEST(StateProcessTable, MatchesProcAfterAForkExecExitStorm) {
  STATE_LIVE_PRECONDITIONS();
  auto live = open_live_table();
  ASSERT_TRUE(live);
  ProcessTable& table = *live->table;
  const pid_t self = ::getpid();
  ASSERT_NE(table.find_live(self), nullptr) << "the seed must contain this process";
  Children children;

  // A child whose non-leader thread execs: the process keeps its pid and becomes sleep. Made
  // first, while this process has a single thread (a thread in a forked child is only safe then).
  const pid_t thread_exec = ::fork();
  ASSERT_GE(thread_exec, 0);
  if (thread_exec == 0) {
    ::setpgid(0, 0);
    std::thread([] {
      const char* argv[] = {"sleep", "61", nullptr};
      ::execv("/bin/sleep", const_cast<char* const*>(argv));
      ::_exit(127);
    }).join();
    ::_exit(127);
  }
  children.add(thread_exec);

  // Long-lived: plain, after a uid change, after a chdir, a shell with a sleeping child
  // (a grandchild of this test), and a shell that execs twice.
  std::vector<pid_t> long_lived;
  long_lived.push_back(spawn(children, "/bin/sleep", {"sleep", "62"}));
  long_lived.push_back(spawn(children, "/bin/sleep", {"sleep", "63"}, 65534));
  long_lived.push_back(spawn(children, "/bin/sleep", {"sleep", "64"}, -1, "/tmp"));
  long_lived.push_back(spawn(children, "/bin/sh", {"sh", "-c", "sleep 65; :"}));
  long_lived.push_back(spawn(children, "/bin/sh", {"sh", "-c", "exec /bin/sleep 66"}));
  for (pid_t pid : long_lived) ASSERT_GT(pid, 0) << std::strerror(errno);
  long_lived.push_back(thread_exec);

  // Short-lived: from four threads at once, fork+exec, fork without exec, and shells with
  // their own short-lived children.
  std::atomic<int> failures{0};
  std::mutex exited_mutex;
  std::vector<pid_t> exited;
  auto storm = [&](int worker) {
    for (int i = 0; i < 100; ++i) {
      pid_t pid;
      const std::string tag = "vigil-storm-" + std::to_string(worker) + "-" + std::to_string(i);
      switch (i % 4) {
        case 0: pid = spawn(children, "/bin/true", {"true", tag.c_str()}); break;
        case 1: pid = spawn(children, "/bin/sh", {"sh", "-c", "true & /bin/true; wait", tag.c_str()}); break;
        case 2:
          pid = ::fork();
          if (pid == 0) ::_exit(0);
          if (pid > 0) children.add(pid);
          break;
        default: pid = spawn(children, "/usr/bin/env", {"env", "true", tag.c_str()}); break;  // two execs
      }
      if (pid < 0) {
        ++failures;
        continue;
      }
      reap(children, pid);
      std::lock_guard lock(exited_mutex);
      exited.push_back(pid);
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) workers.emplace_back(storm, w);
  // Keep the ring drained while the storm runs.
  while (true) {
    ASSERT_TRUE(live->pump(10ms));
    std::lock_guard lock(exited_mutex);
    if (exited.size() + static_cast<std::size_t>(failures.load()) >= 400) break;
  }
  for (auto& worker : workers) worker.join();
  ASSERT_EQ(failures.load(), 0);

  // Wait until the long-lived ones have exec'd their final programs (/proc shows sleep).
  for (pid_t pid : long_lived) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    std::string comm;
    while (std::chrono::steady_clock::now() < deadline) {
      comm = vigil::test::read_text("/proc/" + std::to_string(pid) + "/comm");
      if (comm == "sleep\n" || (comm == "sh\n" && pid == long_lived[3])) break;
      std::this_thread::sleep_for(10ms);
    }
  }
  std::this_thread::sleep_for(100ms);
  live->drain();
  auto drops = live->probe.drops();
  ASSERT_TRUE(drops) << drops.error().message;
  ASSERT_EQ(drops->total, 0u) << "the ring buffer overflowed: the table cannot be exact";
  EXPECT_EQ(live->decode_errors, 0u) << live->first_decode_error;

  // The exited processes are gone (at most kept as exited entries for late records).
  for (pid_t pid : exited) {
    const Process* entry = table.find_live(static_cast<std::uint32_t>(pid));
    if (entry != nullptr) {
      // The pid may have been reused by a live process since; then it must be in /proc.
      EXPECT_EQ(::access(("/proc/" + std::to_string(pid)).c_str(), F_OK), 0) << "exited, still live: " << describe(*entry);
    }
  }

  // Compare with /proc: read it, drain again, read it again. Processes in both listings
  // existed through the comparison and must be in the table with /proc's values.
  ProcReader reader("/proc");
  auto first = reader.list_pids();
  ASSERT_TRUE(first);
  live->drain(200ms);
  auto second = reader.list_pids();
  ASSERT_TRUE(second);
  std::set<std::uint32_t> stable(first->begin(), first->end());
  std::erase_if(stable, [&](std::uint32_t pid) { return std::find(second->begin(), second->end(), pid) == second->end(); });

  const std::string cgroup_mount = live->resolver->paths().mount_dir();
  std::set<std::uint32_t> ours(long_lived.begin(), long_lived.end());
  std::size_t compared = 0;
  std::size_t missing = 0;
  for (std::uint32_t pid : stable) {
    Process now;
    std::string cgroup;
    if (!reader.read(pid, now, cgroup)) continue;  // exited after the second listing
    const Process* entry = table.find_live(pid);
    if (entry == nullptr) {
      ++missing;
      ADD_FAILURE() << "in /proc but not in the table: " << describe(now);
      continue;
    }
    SCOPED_TRACE(describe(now));
    ++compared;
    EXPECT_EQ(entry->ppid, now.ppid);
    EXPECT_EQ(entry->exe, now.exe);
    EXPECT_EQ(entry->uid, now.uid);
    EXPECT_EQ(entry->euid, now.euid);
    EXPECT_EQ(entry->gid, now.gid);
    EXPECT_EQ(entry->egid, now.egid);
    EXPECT_EQ(entry->cgroup_id, inode_of(cgroup == "/" ? cgroup_mount : cgroup_mount + cgroup));
    // argv: exec records carry the first 1 KiB and /proc the first 4 KiB; processes vigil did
    // not start may rewrite their argv area (setproctitle) without an event.
    if (entry->args_truncated || now.args_truncated) {
      EXPECT_TRUE(prefix_of(entry->args, now.args) || prefix_of(now.args, entry->args));
    } else if (ours.contains(pid)) {
      EXPECT_EQ(entry->args, now.args);
    }
    if (ours.contains(pid)) {
      EXPECT_EQ(entry->args, now.args);
      EXPECT_EQ(entry->cwd, now.cwd);
      EXPECT_EQ(entry->comm, now.comm);
      EXPECT_NEAR(static_cast<double>(entry->start_time_ns), static_cast<double>(now.start_time_ns), 20e6)
          << "fork time vs /proc starttime (clock ticks)";
    }
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_GT(compared, 20u);

  // Every live table entry is a live process (the converse).
  live->drain(100ms);
  std::vector<std::uint32_t> phantom;
  table.for_each_live([&](const Process& p) {
    if (::access(("/proc/" + std::to_string(p.pid)).c_str(), F_OK) != 0) phantom.push_back(p.pid);
  });
  if (!phantom.empty()) {
    live->drain(300ms);  // their exits may have been on their way
    std::erase_if(phantom, [&](std::uint32_t pid) { return table.find_live(pid) == nullptr; });
  }
  for (std::uint32_t pid : phantom) ADD_FAILURE() << "live in the table, gone from /proc: " << describe(*table.find(pid));

  // The specific long-lived children, spelled out.
  const Process* plain = table.find_live(long_lived[0]);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->ppid, static_cast<std::uint32_t>(self));
  EXPECT_EQ(plain->cmdline(), "sleep 62");
  const Process* nobody = table.find_live(long_lived[1]);
  ASSERT_NE(nobody, nullptr);
  EXPECT_EQ(nobody->uid, 65534u);
  EXPECT_EQ(nobody->euid, 65534u);
  const Process* moved = table.find_live(long_lived[2]);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->cwd, "/tmp");
  const Process* twice = table.find_live(long_lived[4]);
  ASSERT_NE(twice, nullptr);
  EXPECT_EQ(twice->cmdline(), "/bin/sleep 66");
  EXPECT_EQ(twice->comm, "sleep");
  const Process* threaded = table.find_live(thread_exec);
  ASSERT_NE(threaded, nullptr);
  EXPECT_EQ(threaded->cmdline(), "sleep 61");
  // The sleeping grandchild under the shell: its parent chain reaches this test.
  std::uint32_t grandchild = 0;
  table.for_each_live([&](const Process& p) {
    if (p.ppid == static_cast<std::uint32_t>(long_lived[3]) && p.comm == "sleep") grandchild = p.pid;
  });
  ASSERT_NE(grandchild, 0u);
  const auto chain = table.ancestors(grandchild, 3);
  ASSERT_GE(chain.size(), 2u);
  EXPECT_EQ(chain[0]->pid, static_cast<std::uint32_t>(long_lived[3]));
  EXPECT_EQ(chain[1]->pid, static_cast<std::uint32_t>(self));

  const auto& counters = table.counters();
  EXPECT_GE(counters.forks, 400u);
  EXPECT_GE(counters.exits, 400u);
  EXPECT_EQ(counters.exec_without_kernel_path, 0u) << "every exec's path came from the kernel";
  RecordProperty("forks", std::to_string(counters.forks));
  RecordProperty("misses", std::to_string(counters.misses));
}

TEST(StateProcessTable, SeedMatchesProcForEveryProcess) {
  STATE_LIVE_PRECONDITIONS();
  auto mount = CgroupPaths::find_cgroup2_mount();
  ASSERT_TRUE(mount);
  ContainerResolver resolver(std::make_unique<CgroupPaths>(*mount));
  ProcessTableOptions options;
  options.seed_fds = true;
  ProcessTable table(resolver, options);
  // Something with known descriptors: this process with an extra O_CLOEXEC file.
  const int fd = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(table.seed());
  ::close(fd);
  EXPECT_GT(table.live_count(), 10u);
  const Process* self = table.find_live(::getpid());
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->ppid, static_cast<std::uint32_t>(::getppid()));
  EXPECT_EQ(self->uid, ::getuid());
  char exe[4096];
  const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe);
  ASSERT_GT(length, 0);
  EXPECT_EQ(self->exe, std::string(exe, static_cast<std::size_t>(length)));
  EXPECT_TRUE(self->container->is_host());
  const FdEntry* file = self->fds.find(fd);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->path, "/etc/hostname");
  EXPECT_TRUE(file->cloexec);
  ASSERT_NE(self->fds.find(1), nullptr);
  const Process* init = table.find_live(1);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->ppid, 0u);
  const auto chain = table.ancestors(::getpid(), 64);
  ASSERT_FALSE(chain.empty());
  EXPECT_EQ(chain.back()->pid, 1u) << "the parent chain of any process ends at init";
}

}  // namespace
