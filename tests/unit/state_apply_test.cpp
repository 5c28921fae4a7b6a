// ProcessTable::apply on sequences of hand-made events: lifecycle records built as raw ABI
// structs and decoded like the live path does, syscall events built as events::Event.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <vector>

#include "event_header.h"
#include "events/event.h"
#include "process_events.h"
#include "state/process_table.h"
#include "state_fake_tree.h"

using namespace vigil::state;
using vigil::state::testing::FakeProcess;
using vigil::state::testing::FakeTree;
using vigil::state::testing::nul_joined;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;
const std::string kId = "feedfacecafebeef00112233445566778899aabbccddeeff0011223344556677";

// Every test's world: a fake /proc with init (1) and a shell (100) in a host cgroup.
struct World {
  FakeTree tree;
  std::unique_ptr<ContainerResolver> resolver;
  std::unique_ptr<ProcessTable> table;
  std::uint64_t host_cgroup = 0;

  explicit World(ProcessTableOptions options = {}) {
    tree.add({.pid = 1, .ppid = 0, .comm = "init", .cmdline = nul_joined({"/sbin/init"}), .exe = "/sbin/init",
              .uid = 0, .euid = 0, .gid = 0, .egid = 0, .start_ticks = 1});
    tree.add({.pid = 100, .ppid = 1, .comm = "bash", .cmdline = nul_joined({"-bash"}), .exe = "/usr/bin/bash",
              .cwd = "/home/user", .uid = 1000, .euid = 1000, .gid = 1000, .egid = 1000, .tty = 34817,
              .start_ticks = 10, .cgroup = "/user.slice/session-1.scope"});
    host_cgroup = tree.make_cgroup("/user.slice/session-1.scope");
    resolver = tree.resolver();
    options.proc_root = tree.proc();
    table = std::make_unique<ProcessTable>(*resolver, options);
    EXPECT_TRUE(table->seed());
  }
};

vigil_event_header header(std::uint32_t type, std::uint32_t size, std::uint64_t ts, std::uint32_t pid,
                          std::uint32_t ppid, std::uint64_t cgroup, const char* comm, std::uint32_t uid = 1000) {
  vigil_event_header h{};
  h.timestamp_ns = ts;
  h.type = type;
  h.size = size;
  h.pid = h.tid = pid;
  h.ppid = ppid;
  h.uid = uid;
  h.gid = uid;
  h.cgroup_id = cgroup;
  std::strncpy(h.comm, comm, sizeof h.comm - 1);
  return h;
}

template <class T>
std::vector<std::uint8_t> bytes_of(const T& record) {
  std::vector<std::uint8_t> out(sizeof record);
  std::memcpy(out.data(), &record, sizeof record);
  return out;
}

std::vector<std::uint8_t> fork_record(std::uint64_t ts, std::uint32_t parent, std::uint32_t grandparent,
                                      std::uint32_t child, std::uint64_t cgroup, const char* comm) {
  vigil_fork_event e{};
  e.header = header(VIGIL_EVENT_FORK, sizeof e, ts, parent, grandparent, cgroup, comm);
  e.child_pid = e.child_tid = child;
  return bytes_of(e);
}

std::vector<std::uint8_t> exec_record(std::uint64_t ts, std::uint32_t pid, std::uint32_t ppid, std::uint64_t cgroup,
                                      const char* comm, const std::string& filename, const std::string& args,
                                      std::uint32_t argc, std::uint32_t uid = 1000) {
  vigil_exec_event e{};
  e.header = header(VIGIL_EVENT_EXEC, sizeof e, ts, pid, ppid, cgroup, comm, uid);
  e.exe_ino = 4242;
  e.exe_dev = 0x803;
  e.argc = argc;
  std::memcpy(e.filename, filename.c_str(), filename.size() + 1);
  e.filename_size = static_cast<__u32>(filename.size() + 1);
  std::memcpy(e.args, args.data(), args.size());
  e.args_size = static_cast<__u32>(args.size());
  return bytes_of(e);
}

std::vector<std::uint8_t> exit_record(std::uint64_t ts, std::uint32_t pid, std::uint32_t ppid, std::uint64_t cgroup,
                                      const char* comm, std::uint32_t status = 0) {
  vigil_exit_event e{};
  e.header = header(VIGIL_EVENT_EXIT, sizeof e, ts, pid, ppid, cgroup, comm);
  e.exit_code = status;
  return bytes_of(e);
}

void apply_record(ProcessTable& table, const std::vector<std::uint8_t>& record) {
  auto event = vigil::events::decode(record);
  ASSERT_TRUE(event) << event.error().message;
  table.apply(*event);
}

// A syscall event as the decoder would produce it.
vigil::events::Event syscall_event(vigil::events::EventType type, std::uint64_t ts, std::uint32_t pid,
                                   std::uint64_t cgroup, std::int64_t ret, vigil::events::Payload payload) {
  vigil::events::Event e;
  e.type = type;
  e.task.timestamp_ns = ts;
  e.task.pid = e.task.tid = pid;
  e.task.ppid = 100;
  e.task.uid = e.task.gid = 1000;
  e.task.cgroup_id = cgroup;
  e.task.comm = "app";
  e.syscall.nr = 1;  // any syscall number: only >= 0 matters to the table
  e.syscall.ret = ret;
  e.payload = std::move(payload);
  return e;
}

vigil::events::FilePayload open_args(std::string_view path, std::uint64_t flags = O_RDONLY) {
  vigil::events::FilePayload p;
  p.path = path;
  p.open_flags = flags;
  return p;
}

vigil::events::ProcPayload fd_args(std::uint64_t a0, std::uint64_t a1 = 0, std::uint64_t a2 = 0) {
  vigil::events::ProcPayload p;
  p.args[0] = a0;
  p.args[1] = a1;
  p.args[2] = a2;
  return p;
}

}  // namespace

TEST(StateApply, ForkInheritsExecReplacesExitRemovesAfterGrace) {
  World w;
  ProcessTable& t = *w.table;
  const std::uint64_t t0 = 50 * kSecond;
  apply_record(t, fork_record(t0, 100, 1, 101, w.host_cgroup, "bash"));
  const Process* child = t.find_live(101);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->ppid, 100u);
  EXPECT_EQ(child->comm, "bash");
  EXPECT_EQ(child->exe, "/usr/bin/bash");
  EXPECT_EQ(child->args, nul_joined({"-bash"}));
  EXPECT_EQ(child->cwd, "/home/user");
  EXPECT_EQ(child->tty, 34817u);
  EXPECT_EQ(child->euid, 1000u);
  EXPECT_EQ(child->start_time_ns, t0);
  EXPECT_EQ(child->cgroup_id, w.host_cgroup);
  EXPECT_EQ(child->origin, ProcessOrigin::fork);
  EXPECT_TRUE(child->container->is_host());

  apply_record(t, exec_record(t0 + 1000, 101, 100, w.host_cgroup, "grep", "/bin/grep", nul_joined({"grep", "-r", "x y"}), 3));
  child = t.find_live(101);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->exe, "/bin/grep") << "without /proc refresh: the filename as passed";
  EXPECT_EQ(child->comm, "grep");
  EXPECT_EQ(child->cmdline(), "grep -r x y");
  EXPECT_EQ(child->argc, 3u);
  EXPECT_EQ(child->exe_ino, 4242u);
  EXPECT_EQ(child->exe_dev, 0x803u);
  EXPECT_EQ(child->cwd, "/home/user");
  EXPECT_EQ(child->start_time_ns, t0) << "exec keeps the process";
  EXPECT_EQ(t.find_live(100)->exe, "/usr/bin/bash") << "the parent is untouched";

  const auto chain = t.ancestors(101, 10);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0]->pid, 100u);
  EXPECT_EQ(chain[1]->pid, 1u);
  EXPECT_EQ(t.ancestors(101, 1).size(), 1u);

  EXPECT_EQ(t.live_count(), 3u);
  apply_record(t, exit_record(t0 + 2000, 101, 100, w.host_cgroup, "grep", 1 << 8));
  EXPECT_EQ(t.find_live(101), nullptr);
  const Process* gone = t.find(101);
  ASSERT_NE(gone, nullptr) << "kept for late events";
  EXPECT_TRUE(gone->exited);
  EXPECT_EQ(gone->exit_status, 1u << 8);
  EXPECT_EQ(gone->exe, "/bin/grep");
  EXPECT_EQ(t.live_count(), 2u);
  EXPECT_EQ(t.exited_count(), 1u);

  // Within the grace an event of another process changes nothing; after it the entry is gone.
  apply_record(t, exec_record(t0 + kSecond, 100, 1, w.host_cgroup, "bash", "/usr/bin/bash", nul_joined({"bash"}), 1));
  EXPECT_NE(t.find(101), nullptr);
  apply_record(t, exec_record(t0 + 6 * kSecond, 100, 1, w.host_cgroup, "bash", "/usr/bin/bash", nul_joined({"bash"}), 1));
  EXPECT_EQ(t.find(101), nullptr);
  EXPECT_EQ(t.exited_count(), 0u);
  EXPECT_EQ(t.counters().forks, 1u);
  EXPECT_EQ(t.counters().execs, 3u);
  EXPECT_EQ(t.counters().exits, 1u);
  EXPECT_EQ(t.counters().misses, 0u);
}

TEST(StateApply, LateEventsResolveButDoNotReviveAndPidReuseReplaces) {
  World w;
  ProcessTable& t = *w.table;
  const std::uint64_t t0 = 50 * kSecond;
  apply_record(t, fork_record(t0, 100, 1, 200, w.host_cgroup, "bash"));
  apply_record(t, exit_record(t0 + 10, 200, 100, w.host_cgroup, "bash"));
  // A record written before the exit but delivered after it (another CPU): ignored.
  apply_record(t, exec_record(t0 + 5, 200, 100, w.host_cgroup, "late", "/bin/late", nul_joined({"late"}), 1));
  ASSERT_NE(t.find(200), nullptr);
  EXPECT_TRUE(t.find(200)->exited);
  EXPECT_EQ(t.find(200)->comm, "bash");
  EXPECT_EQ(t.find_live(200), nullptr);

  // The pid is reused by a new fork: a fresh entry at once, not the exited one.
  apply_record(t, fork_record(t0 + 100, 1, 0, 200, 0, "init"));
  const Process* reused = t.find_live(200);
  ASSERT_NE(reused, nullptr);
  EXPECT_EQ(reused->ppid, 1u);
  EXPECT_EQ(reused->exe, "/sbin/init");
  EXPECT_EQ(reused->start_time_ns, t0 + 100);
  EXPECT_EQ(t.exited_count(), 0u);

  // An event older than the process now holding the pid belongs to the previous one.
  apply_record(t, exit_record(t0 + 50, 200, 100, w.host_cgroup, "old"));
  EXPECT_NE(t.find_live(200), nullptr);
  EXPECT_EQ(t.counters().stale_events, 1u);

  // A new process reusing an exited pid whose fork was lost: a later event adopts the pid.
  apply_record(t, exit_record(t0 + 200, 200, 1, 0, "init"));
  apply_record(t, exec_record(t0 + 300, 200, 100, w.host_cgroup, "new", "/bin/new", nul_joined({"new"}), 1));
  ASSERT_NE(t.find_live(200), nullptr);
  EXPECT_EQ(t.find_live(200)->exe, "/bin/new");
  EXPECT_EQ(t.counters().misses, 1u);
}

TEST(StateApply, UnknownPidsAreAdoptedFromProcOrTheHeader) {
  World w;
  ProcessTable& t = *w.table;
  // Started after the seed, its fork missed; /proc knows it.
  w.tree.add({.pid = 300, .ppid = 100, .comm = "vim", .cmdline = nul_joined({"vim", "notes"}), .exe = "/usr/bin/vim",
              .cwd = "/home/user/docs", .uid = 1000, .euid = 1000, .gid = 1000, .egid = 1000, .start_ticks = 20,
              .cgroup = "/user.slice/session-1.scope"});
  apply_record(t, exit_record(60 * kSecond, 300, 100, w.host_cgroup, "vim"));
  EXPECT_EQ(t.counters().exit_misses, 1u) << "an exit alone does not create an entry";
  EXPECT_EQ(t.find(300), nullptr);

  auto open = syscall_event(vigil::events::EventType::openat, 60 * kSecond, 300, w.host_cgroup, 3,
                            open_args("notes"));
  t.apply(open);
  const Process* vim = t.find_live(300);
  ASSERT_NE(vim, nullptr);
  EXPECT_EQ(vim->exe, "/usr/bin/vim");
  EXPECT_EQ(vim->cwd, "/home/user/docs");
  EXPECT_EQ(vim->origin, ProcessOrigin::proc);
  EXPECT_EQ(t.counters().misses, 1u);
  EXPECT_EQ(t.counters().misses_filled_from_proc, 1u);
  ASSERT_NE(vim->fds.find(3), nullptr);

  // Not in /proc at all: what the header says, nothing more.
  t.apply(syscall_event(vigil::events::EventType::openat, 61 * kSecond, 301, w.host_cgroup, 4,
                        open_args("/etc/passwd")));
  const Process* ghost = t.find_live(301);
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->origin, ProcessOrigin::event);
  EXPECT_EQ(ghost->comm, "app");
  EXPECT_EQ(ghost->ppid, 100u);
  EXPECT_EQ(ghost->exe, "");
  EXPECT_EQ(ghost->euid, kUnknownId);
  EXPECT_EQ(ghost->start_time_ns, 0u);
  EXPECT_TRUE(ghost->container->is_host());
  EXPECT_EQ(t.counters().misses, 2u);

  // /proc shows a process younger than the event: a reused pid, not used.
  w.tree.add({.pid = 302, .ppid = 1, .comm = "young", .cmdline = "", .exe = "/usr/bin/young", .start_ticks = 1'000'000});
  t.apply(syscall_event(vigil::events::EventType::close, 62 * kSecond, 302, w.host_cgroup, 0, fd_args(5)));
  ASSERT_NE(t.find_live(302), nullptr);
  EXPECT_EQ(t.find_live(302)->exe, "");
  EXPECT_EQ(t.counters().misses_filled_from_proc, 1u);
}

TEST(StateApply, SeededChildIsNotOverwrittenByItsOwnLateFork) {
  World w;
  ProcessTable& t = *w.table;
  // The fork happened before the seed read /proc (child started at tick 30), but its record is
  // applied after: /proc's view is newer than a copy of the parent.
  w.tree.add({.pid = 400, .ppid = 100, .comm = "make", .cmdline = nul_joined({"make", "-j2"}), .exe = "/usr/bin/make",
              .start_ticks = 30});
  ASSERT_TRUE(t.seed());
  const std::uint64_t fork_time = t.find_live(400)->start_time_ns + 1000;
  apply_record(t, fork_record(fork_time, 100, 1, 400, w.host_cgroup, "bash"));
  ASSERT_NE(t.find_live(400), nullptr);
  EXPECT_EQ(t.find_live(400)->exe, "/usr/bin/make");
  EXPECT_EQ(t.find_live(400)->cmdline(), "make -j2");
}

TEST(StateApply, ExitedEntriesAreBounded) {
  ProcessTableOptions options;
  options.max_exited = 2;
  World w(options);
  ProcessTable& t = *w.table;
  for (std::uint32_t pid = 500; pid < 505; ++pid) {
    apply_record(t, fork_record(kSecond + pid * 1000, 100, 1, pid, w.host_cgroup, "bash"));
    apply_record(t, exit_record(kSecond + pid * 1000 + 1, pid, 100, w.host_cgroup, "bash"));
  }
  EXPECT_EQ(t.exited_count(), 2u);
  EXPECT_EQ(t.find(500), nullptr);
  EXPECT_EQ(t.find(502), nullptr);
  EXPECT_NE(t.find(503), nullptr);
  EXPECT_NE(t.find(504), nullptr);
  EXPECT_EQ(t.counters().exited_evicted, 3u);
  EXPECT_EQ(t.live_count(), 2u);
}

TEST(StateApply, ContainerFollowsTheCgroupInTheHeader) {
  World w;
  ProcessTable& t = *w.table;
  const std::uint64_t container_cgroup = w.tree.make_cgroup("/docker/" + kId);
  apply_record(t, fork_record(70 * kSecond, 100, 1, 600, w.host_cgroup, "bash"));
  EXPECT_TRUE(t.find_live(600)->container->is_host());
  // runc moved the child into the container's cgroup before exec.
  apply_record(t, exec_record(70 * kSecond + 5, 600, 100, container_cgroup, "sh", "/bin/sh", nul_joined({"sh"}), 1));
  const Process* in_container = t.find_live(600);
  ASSERT_NE(in_container, nullptr);
  EXPECT_EQ(in_container->cgroup_id, container_cgroup);
  EXPECT_EQ(in_container->container->id, kId.substr(0, 12));
  EXPECT_EQ(in_container->container->runtime, ContainerRuntime::docker);
  // Its children inherit the container.
  apply_record(t, fork_record(70 * kSecond + 9, 600, 100, 601, container_cgroup, "sh"));
  EXPECT_EQ(t.find_live(601)->container->full_id, kId);
}

// `runc exec`, nsenter: a host process joins a container's mount namespace and, with
// setns(CLONE_NEWPID), makes its children in the container's pid namespace. The child (whose
// first record rules judge by what the table holds before that record) is the container's from
// its fork on, even when the parent is the host as far as a listing taken just before the
// container started shows (DefaultRules.ContainerEscapeAfterRenamingToTheRuntimesName).
TEST(StateApply, AChildForkedIntoAContainersPidNamespaceIsTheContainersAtItsFork) {
  World w;
  ProcessTable& t = *w.table;
  // A host service with a private mount namespace has the state directories listed (nothing
  // there yet).
  vigil::events::Event service = syscall_event(vigil::events::EventType::openat, 80 * kSecond, 100, w.host_cgroup, 3,
                                               open_args("/etc/hostname"));
  service.task.mnt_ns = 777777;
  service.task.pid_ns = FakeTree::kHostPidNs;
  t.apply(service);
  ASSERT_TRUE(t.find_live(100)->container->is_host());

  // Then a container starts: its init in its own namespaces, runc's state naming it.
  w.tree.add({.pid = 5000, .comm = "sleep", .start_ticks = 900, .cgroup = "/" + kId});
  const std::string ns = w.tree.proc() + "/5000/ns";
  std::filesystem::create_directories(ns);
  vigil::test::write_text(ns + "/mnt", "");
  vigil::test::write_text(ns + "/pid", "");
  struct stat mnt{}, pid{};
  ASSERT_EQ(::stat((ns + "/mnt").c_str(), &mnt), 0);
  ASSERT_EQ(::stat((ns + "/pid").c_str(), &pid), 0);
  const auto container_mnt = static_cast<std::uint32_t>(mnt.st_ino), container_pid = static_cast<std::uint32_t>(pid.st_ino);
  std::filesystem::create_directories(w.tree.runc_root() + "/" + kId);
  vigil::test::write_text(w.tree.runc_root() + "/" + kId + "/state.json",
                          R"({"id":")" + kId + R"(","init_process_pid":5000,"init_process_start":900,"config":{}})");

  // The shell joined the container's mount namespace (its pid namespace stays the host's) and
  // forks: the child's pid namespace is the container's.
  vigil_fork_event fork{};
  fork.header = header(VIGIL_EVENT_FORK, sizeof fork, 81 * kSecond, 100, 1, w.host_cgroup, "bash");
  fork.header.mnt_ns = container_mnt;
  fork.header.pid_ns = FakeTree::kHostPidNs;
  fork.child_pid = fork.child_tid = 700;
  fork.child_vpid = 6;
  fork.child_pid_ns = container_pid;
  apply_record(t, bytes_of(fork));
  const Process* child = t.find_live(700);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->pid_ns, container_pid);
  EXPECT_EQ(child->mnt_ns, container_mnt);
  EXPECT_EQ(child->vpid, 6u);
  EXPECT_EQ(child->container->id, kId.substr(0, 12)) << "before any record of its own";
  EXPECT_EQ(child->container->source, ContainerSource::runtime_state);

  // A plain fork in the same pid namespace still inherits the parent's record.
  fork.header = header(VIGIL_EVENT_FORK, sizeof fork, 82 * kSecond, 700, 100, w.host_cgroup, "bash");
  fork.header.mnt_ns = container_mnt;
  fork.header.pid_ns = container_pid;
  fork.child_pid = fork.child_tid = 701;
  fork.child_vpid = 7;
  apply_record(t, bytes_of(fork));
  EXPECT_EQ(t.find_live(701)->container.get(), t.find_live(700)->container.get());
}

TEST(StateApply, CredentialChangesUpdateTheIds) {
  World w;
  ProcessTable& t = *w.table;
  vigil::events::CredPayload cred;
  cred.new_creds.uid = 0;
  cred.new_creds.euid = 0;
  cred.new_creds.gid = 0;
  cred.new_creds.egid = 27;
  auto setuid = syscall_event(vigil::events::EventType::setresuid, 80 * kSecond, 100, w.host_cgroup, 0, cred);
  setuid.task.uid = 0;
  setuid.task.gid = 0;
  t.apply(setuid);
  const Process* bash = t.find_live(100);
  EXPECT_EQ(bash->uid, 0u);
  EXPECT_EQ(bash->euid, 0u);
  EXPECT_EQ(bash->egid, 27u);
  EXPECT_EQ(t.counters().cred_events, 1u);
  // The real uid in every header keeps the table current even without cred records.
  apply_record(t, exec_record(81 * kSecond, 100, 1, w.host_cgroup, "bash", "/usr/bin/bash", nul_joined({"bash"}), 1, 33));
  EXPECT_EQ(t.find_live(100)->uid, 33u);
}

TEST(StateApply, ExecSyscallRecordsDoNotChangeTheProcess) {
  World w;
  ProcessTable& t = *w.table;
  vigil::events::ExecPayload failed;
  failed.filename = "/nonexistent";
  auto e = syscall_event(vigil::events::EventType::execve, 90 * kSecond, 100, w.host_cgroup, -2, failed);
  e.task.comm = "bash";
  t.apply(e);
  EXPECT_EQ(t.find_live(100)->exe, "/usr/bin/bash");
}

TEST(StateApply, AncestorsStopAtLoopsAndUnknownParents) {
  World w;
  ProcessTable& t = *w.table;
  // Stale ppids after lost events can form a loop: 700 -> 701 -> 700.
  apply_record(t, fork_record(kSecond + 1000, 100, 1, 700, w.host_cgroup, "bash"));
  apply_record(t, fork_record(kSecond + 1001, 700, 100, 701, w.host_cgroup, "bash"));
  apply_record(t, exec_record(kSecond + 1002, 700, 701, w.host_cgroup, "x", "/x", nul_joined({"x"}), 1));
  EXPECT_EQ(t.find_live(700)->ppid, 701u);
  const auto chain = t.ancestors(700, 10);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0]->pid, 701u);
  // A parent the table never saw ends the chain.
  apply_record(t, exec_record(kSecond + 1003, 701, 99999, w.host_cgroup, "y", "/y", nul_joined({"y"}), 1));
  EXPECT_TRUE(t.ancestors(701, 10).empty());
  EXPECT_TRUE(t.ancestors(424242, 10).empty());
}

TEST(StateApply, DescriptorsFollowOpenDupCloseSocketsForkAndExec) {
  World w;
  ProcessTable& t = *w.table;
  using vigil::events::EventType;
  const std::uint64_t cg = w.host_cgroup;
  std::uint64_t ts = 100 * kSecond;
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 3, open_args("/etc/hosts")));
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 4,
                        open_args("/etc/shadow", O_RDONLY | O_CLOEXEC)));
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, -13, open_args("/root/x")));
  t.apply(syscall_event(EventType::dup2, ++ts, 100, cg, 10, fd_args(3, 10)));
  t.apply(syscall_event(EventType::dup3, ++ts, 100, cg, 11, fd_args(3, 11, O_CLOEXEC)));

  vigil::events::NetPayload socket;
  socket.domain = AF_INET;
  socket.type = SOCK_STREAM | SOCK_CLOEXEC;
  socket.protocol = IPPROTO_TCP;
  t.apply(syscall_event(EventType::socket, ++ts, 100, cg, 5, socket));
  static const std::uint8_t kLocal[4] = {10, 0, 0, 1};
  static const std::uint8_t kRemote[4] = {10, 0, 0, 2};
  vigil::events::NetPayload connect;
  connect.fd = 5;
  connect.local = {.family = AF_INET, .port = 40000, .addr = kLocal, .unix_path = {}};
  connect.remote = {.family = AF_INET, .port = 80, .addr = kRemote, .unix_path = {}};
  t.apply(syscall_event(EventType::connect, ++ts, 100, cg, -EINPROGRESS, connect));

  vigil::events::NetPayload listener;
  listener.domain = AF_INET6;
  listener.type = SOCK_STREAM;
  t.apply(syscall_event(EventType::socket, ++ts, 100, cg, 6, listener));
  static const std::uint8_t kAny6[16] = {};
  static const std::uint8_t kPeer6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  vigil::events::NetPayload bind;
  bind.fd = 6;
  bind.local = {.family = AF_INET6, .port = 443, .addr = kAny6, .unix_path = {}};
  t.apply(syscall_event(EventType::bind, ++ts, 100, cg, 0, bind));
  vigil::events::NetPayload accept;
  accept.fd = 6;
  accept.remote = {.family = AF_INET6, .port = 5555, .addr = kPeer6, .unix_path = {}};
  t.apply(syscall_event(EventType::accept4, ++ts, 100, cg, 7, accept));

  const FdTable& fds = t.find_live(100)->fds;
  ASSERT_EQ(fds.size(), 7u);
  EXPECT_EQ(fds.find(3)->name(), "/etc/hosts");
  EXPECT_FALSE(fds.find(3)->cloexec);
  EXPECT_TRUE(fds.find(4)->cloexec);
  EXPECT_EQ(fds.find(10)->name(), "/etc/hosts");
  EXPECT_FALSE(fds.find(10)->cloexec);
  EXPECT_TRUE(fds.find(11)->cloexec);
  EXPECT_EQ(fds.find(5)->type, FdType::socket);
  EXPECT_EQ(fds.find(5)->name(), "10.0.0.1:40000->10.0.0.2:80");
  EXPECT_TRUE(fds.find(5)->cloexec);
  EXPECT_EQ(fds.find(6)->name(), "[::]:443");
  EXPECT_EQ(fds.find(7)->name(), "[::]:443->[::1]:5555");
  EXPECT_EQ(fds.find(7)->family, AF_INET6);

  // close removes (also when close reports EINTR), EBADF changes nothing, unknown fds count.
  t.apply(syscall_event(EventType::close, ++ts, 100, cg, 0, fd_args(10)));
  t.apply(syscall_event(EventType::close, ++ts, 100, cg, -EINTR, fd_args(11)));
  t.apply(syscall_event(EventType::close, ++ts, 100, cg, -EBADF, fd_args(3)));
  t.apply(syscall_event(EventType::close, ++ts, 100, cg, 0, fd_args(99)));
  EXPECT_EQ(fds.find(10), nullptr);
  EXPECT_EQ(fds.find(11), nullptr);
  EXPECT_NE(fds.find(3), nullptr);
  EXPECT_EQ(t.counters().fd_misses, 1u);

  // fork copies the table; exec then drops the close-on-exec descriptors in the child only.
  apply_record(t, fork_record(++ts, 100, 1, 800, cg, "bash"));
  EXPECT_EQ(t.find_live(800)->fds.size(), 5u);
  apply_record(t, exec_record(++ts, 800, 100, cg, "cat", "/bin/cat", nul_joined({"cat"}), 1));
  const FdTable& child = t.find_live(800)->fds;
  EXPECT_EQ(child.size(), 3u);
  EXPECT_NE(child.find(3), nullptr);
  EXPECT_EQ(child.find(4), nullptr);
  EXPECT_EQ(child.find(5), nullptr);
  EXPECT_EQ(t.find_live(100)->fds.size(), 5u);
  // An exited process holds no descriptors.
  apply_record(t, exit_record(++ts, 800, 100, cg, "cat"));
  EXPECT_EQ(t.find(800)->fds.size(), 0u);
}

TEST(StateApply, FdTrackingCanBeSwitchedOff) {
  ProcessTableOptions options;
  options.track_fds = false;
  World w(options);
  w.table->apply(syscall_event(vigil::events::EventType::openat, kSecond, 100, w.host_cgroup, 3,
                               open_args("/etc/hosts")));
  EXPECT_EQ(w.table->find_live(100)->fds.size(), 0u);
}

// Leaf-first component names, as the probe writes exe_path and cwd.
template <std::size_t N>
__u32 put_components(char (&out)[N], std::initializer_list<const char*> leaf_first) {
  std::size_t used = 0;
  for (const char* name : leaf_first) {
    const std::size_t size = std::strlen(name) + 1;
    std::memcpy(out + used, name, size);
    used += size;
  }
  return static_cast<__u32>(used);
}

TEST(StateApply, ExecTakesItsFactsFromTheKernelRecordNotProc) {
  World w;
  apply_record(*w.table, fork_record(50 * kSecond, 100, 1, 900, w.host_cgroup, "bash"));
  // /proc would say something else entirely: it must not be read.
  w.tree.add({.pid = 900, .ppid = 100, .comm = "other", .exe = "/usr/bin/other", .cwd = "/elsewhere",
              .start_ticks = 5000});
  auto bytes = exec_record(50 * kSecond + 10, 900, 100, w.host_cgroup, "tool", "./tool", nul_joined({"./tool"}), 1);
  vigil_exec_event e{};
  std::memcpy(&e, bytes.data(), sizeof e);
  e.flags |= VIGIL_EXEC_KERNEL_FACTS | VIGIL_EXEC_EXE_UNLINKED;
  e.exe_path_size = put_components(e.exe_path, {"tool", "bin", "opt"});
  e.cwd_size = put_components(e.cwd, {"tmp", "var"});
  e.creds.uid = 1000;
  e.creds.euid = 0;  // a set-user-ID program
  e.creds.gid = 1000;
  e.creds.egid = 0;
  e.creds.cap_effective = 1u << 21;
  e.vpid = 7;
  e.vpgid = 7;
  e.vsid = 1;
  e.loginuid = 1000;
  e.exe_ctime_ns = 1'700'000'000'000'000'000ull;
  e.stdio_kind[0] = S_IFSOCK | (AF_INET << 16);
  e.stdio_kind[1] = S_IFIFO;
  apply_record(*w.table, bytes_of(e));
  const Process* p = w.table->find_live(900);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->exe, "/opt/bin/tool") << "the kernel's resolved path, not ./tool; a deleted file keeps its path";
  EXPECT_EQ(p->exec_name, "tool");
  EXPECT_EQ(p->cwd, "/var/tmp");
  EXPECT_EQ(p->euid, 0u);
  EXPECT_EQ(p->egid, 0u);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_TRUE(p->caps_known);
  EXPECT_EQ(p->cap_effective, 1u << 21);
  EXPECT_EQ(p->vpid, 7u);
  EXPECT_EQ(p->vpgid, 7u);
  EXPECT_EQ(p->vsid, 1u);
  EXPECT_EQ(p->loginuid, 1000u);
  EXPECT_EQ(p->exe_ctime_ns, 1'700'000'000'000'000'000ull);
  // stdio as the kernel saw it: an inet socket on 0 the table never saw made, a pipe on 1.
  const FdEntry* in = p->fds.find(0);
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->type, FdType::socket);
  EXPECT_EQ(in->family, AF_INET);
  EXPECT_EQ(in->role, SocketRole::unknown);
  ASSERT_NE(p->fds.find(1), nullptr);
  EXPECT_EQ(p->fds.find(1)->type, FdType::unknown);
  EXPECT_EQ(p->fds.find(2), nullptr);

  // A path the probe could not give whole: the filename as passed; cwd unknown.
  e.flags |= VIGIL_EXEC_EXE_PATH_TRUNCATED | VIGIL_EXEC_CWD_TRUNCATED;
  e.header.timestamp_ns += 10;
  apply_record(*w.table, bytes_of(e));
  EXPECT_EQ(w.table->find_live(900)->exe, "./tool");
  EXPECT_EQ(w.table->find_live(900)->cwd, "");
  EXPECT_EQ(w.table->counters().exec_without_kernel_path, 1u);
}

TEST(StateApply, ZombiesAreNotSeeded) {
  FakeTree tree;
  tree.add({.pid = 1000, .comm = "alive"});
  tree.add({.pid = 1001, .comm = "zombie"});
  std::string stat = tree.stat_line({.pid = 1001, .comm = "zombie"});
  stat.replace(stat.find(") S ") + 2, 1, "Z");
  vigil::test::write_text(tree.proc() + "/1001/stat", stat);
  auto resolver = tree.resolver();
  ProcessTableOptions options;
  options.proc_root = tree.proc();
  ProcessTable t(*resolver, options);
  ASSERT_TRUE(t.seed());
  EXPECT_NE(t.find_live(1000), nullptr);
  EXPECT_EQ(t.find(1001), nullptr) << "exited before the probe saw it; reaping makes no event";
  EXPECT_EQ(t.counters().seed_zombies, 1u);
}

// A program run from memory exits before /proc can be read: fexecve's "/dev/fd/N" is resolved
// through the fd table, or the name the kernel gave the task, so proc.exepath still says memfd.
TEST(StateApply, FexecveOfAMemfdIsNamedWithoutProc) {
  World w;
  ProcessTable& t = *w.table;
  using vigil::events::EventType;
  const std::uint64_t cg = w.host_cgroup;
  std::uint64_t ts = 100 * kSecond;
  apply_record(t, fork_record(++ts, 100, 1, 900, cg, "bash"));
  auto created = fd_args(0, 0);
  created.str = "payload";
  t.apply(syscall_event(EventType::memfd_create, ++ts, 900, cg, 3, created));
  apply_record(t, exec_record(++ts, 900, 100, cg, "memfd:payload", "/dev/fd/3", nul_joined({"true"}), 1));
  ASSERT_NE(t.find_live(900), nullptr);
  EXPECT_EQ(t.find_live(900)->exe, "memfd:payload") << "from the fd table";

  // The memfd_create was not seen: the kernel's task name for an fd exec is the file's name.
  apply_record(t, fork_record(++ts, 100, 1, 901, cg, "bash"));
  apply_record(t, exec_record(++ts, 901, 100, cg, "memfd:x", "/proc/self/fd/5", nul_joined({"x"}), 1));
  EXPECT_EQ(t.find_live(901)->exe, "memfd:x");

  // An fd exec of an ordinary file nobody saw opened keeps the record's filename.
  apply_record(t, fork_record(++ts, 100, 1, 902, cg, "bash"));
  apply_record(t, exec_record(++ts, 902, 100, cg, "tool", "/dev/fd/7", nul_joined({"tool"}), 1));
  EXPECT_EQ(t.find_live(902)->exe, "/dev/fd/7");
  apply_record(t, fork_record(++ts, 100, 1, 903, cg, "bash"));
  apply_record(t, exec_record(++ts, 903, 100, cg, "memfd:y", "/dev/fd/x7", nul_joined({"y"}), 1));
  EXPECT_EQ(t.find_live(903)->exe, "/dev/fd/x7") << "not an fd number";
}

// cwd follows chdir/fchdir, and descriptors are named by absolute paths resolved against it
// (or their dirfd): `cd /etc; open("shadow")` must read as /etc/shadow to the rules.
TEST(StateApply, WorkingDirectoryFollowsChdirAndAnchorsRelativeOpens) {
  World w;
  ProcessTable& t = *w.table;
  using vigil::events::EventType;
  const std::uint64_t cg = w.host_cgroup;
  std::uint64_t ts = 100 * kSecond;
  auto cwd = [&] { return t.find_live(100)->cwd; };
  auto path_of_fd = [&](int fd) -> std::string {
    const FdEntry* entry = t.find_live(100)->fds.find(fd);
    return entry == nullptr ? "<none>" : entry->path;
  };
  ASSERT_EQ(cwd(), "/home/user");  // seeded from /proc
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 3, open_args("notes.txt")));
  EXPECT_EQ(path_of_fd(3), "/home/user/notes.txt");

  t.apply(syscall_event(EventType::chdir, ++ts, 100, cg, 0, open_args("/etc")));
  EXPECT_EQ(cwd(), "/etc");
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 4, open_args("shadow")));
  EXPECT_EQ(path_of_fd(4), "/etc/shadow");
  t.apply(syscall_event(EventType::chdir, ++ts, 100, cg, 0, open_args("../var/./log//")));
  EXPECT_EQ(cwd(), "/var/log");
  t.apply(syscall_event(EventType::chdir, ++ts, 100, cg, -ENOENT, open_args("nowhere")));
  EXPECT_EQ(cwd(), "/var/log") << "a failed chdir changes nothing";

  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 5, open_args("/usr/bin", O_RDONLY | O_DIRECTORY)));
  vigil::events::FilePayload at_bin = open_args("ls");
  at_bin.dirfd = 5;
  t.apply(syscall_event(EventType::openat, ++ts, 100, cg, 6, at_bin));
  EXPECT_EQ(path_of_fd(6), "/usr/bin/ls") << "relative to its dirfd";
  vigil::events::FilePayload fchdir_to_bin;
  fchdir_to_bin.fd = 5;
  t.apply(syscall_event(EventType::fchdir, ++ts, 100, cg, 0, fchdir_to_bin));
  EXPECT_EQ(cwd(), "/usr/bin");

  // A descriptor the table does not know: the fake /proc's answer (the seeded cwd).
  vigil::events::FilePayload unknown_fd;
  unknown_fd.fd = 42;
  t.apply(syscall_event(EventType::fchdir, ++ts, 100, cg, 0, unknown_fd));
  EXPECT_EQ(cwd(), "/home/user");
  // Unreadable path: nothing to resolve; without /proc the cwd becomes unknown, not stale.
  ProcessTableOptions replay;
  replay.fill_misses_from_proc = false;
  World r(replay);
  vigil::events::FilePayload unreadable = open_args("");
  unreadable.path_unreadable = true;
  r.table->apply(syscall_event(EventType::chdir, ++ts, 100, r.host_cgroup, 0, unreadable));
  EXPECT_EQ(r.table->find_live(100)->cwd, "");
  r.table->apply(syscall_event(EventType::openat, ++ts, 100, r.host_cgroup, 3, open_args("x")));
  EXPECT_EQ(r.table->find_live(100)->fds.find(3)->path, "x") << "no anchor: as passed";

  // A child inherits the directory at fork.
  t.apply(syscall_event(EventType::chdir, ++ts, 100, cg, 0, open_args("/tmp")));
  apply_record(t, fork_record(++ts, 100, 1, 200, cg, "bash"));
  ASSERT_NE(t.find_live(200), nullptr);
  EXPECT_EQ(t.find_live(200)->cwd, "/tmp");
}
