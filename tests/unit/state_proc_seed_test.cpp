// Seeding the process table from a fake /proc tree: every field, hostile contents, and
// container attribution of the seeded processes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "state/process_table.h"
#include "state/proc_reader.h"
#include "state_fake_tree.h"

using namespace vigil::state;
using vigil::state::testing::FakeProcess;
using vigil::state::testing::FakeTree;
using vigil::state::testing::nul_joined;

namespace {

const std::string kId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";

std::uint64_t ns_per_tick() { return 1'000'000'000ull / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK)); }

ProcessTableOptions fake_options(const FakeTree& tree) {
  ProcessTableOptions options;
  options.proc_root = tree.proc();
  return options;
}

}  // namespace

TEST(StateProcSeed, ReadsEveryFieldOfEveryProcess) {
  FakeTree tree;
  tree.add({.pid = 1, .ppid = 0, .comm = "init", .cmdline = nul_joined({"/sbin/init"}), .exe = "/usr/lib/systemd/systemd",
            .uid = 0, .euid = 0, .gid = 0, .egid = 0, .start_ticks = 1});
  tree.add({.pid = 4242, .ppid = 1, .comm = "server", .cmdline = nul_joined({"/usr/bin/server", "--port", "80", ""}),
            .exe = "/usr/bin/server", .cwd = "/srv/data", .uid = 1000, .euid = 0, .gid = 100, .egid = 50,
            .tty = 34816, .start_ticks = 12345, .cgroup = "/system.slice/server.service"});
  auto resolver = tree.resolver();
  ProcessTable table(*resolver, fake_options(tree));
  ASSERT_TRUE(table.seed());
  EXPECT_EQ(table.live_count(), 2u);
  EXPECT_EQ(table.counters().seeded, 2u);

  const Process* server = table.find_live(4242);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->pid, 4242u);
  EXPECT_EQ(server->ppid, 1u);
  EXPECT_EQ(server->comm, "server");
  EXPECT_EQ(server->exe, "/usr/bin/server");
  EXPECT_EQ(server->args, nul_joined({"/usr/bin/server", "--port", "80", ""}));
  EXPECT_EQ(server->argc, 4u);
  EXPECT_EQ(server->argv(), (std::vector<std::string_view>{"/usr/bin/server", "--port", "80", ""}));
  EXPECT_EQ(server->cmdline(), "/usr/bin/server --port 80 ");
  EXPECT_FALSE(server->args_truncated);
  EXPECT_EQ(server->cwd, "/srv/data");
  EXPECT_EQ(server->uid, 1000u);
  EXPECT_EQ(server->euid, 0u);
  EXPECT_EQ(server->gid, 100u);
  EXPECT_EQ(server->egid, 50u);
  EXPECT_EQ(server->tty, 34816u);
  EXPECT_EQ(server->start_time_ns, 12345 * ns_per_tick());
  EXPECT_EQ(server->cgroup_id, tree.make_cgroup("/system.slice/server.service"));
  ASSERT_TRUE(server->container);
  EXPECT_TRUE(server->container->is_host());
  EXPECT_EQ(server->container->id, "host");
  EXPECT_EQ(server->container->name, "host");
  EXPECT_EQ(server->origin, ProcessOrigin::proc);

  const auto chain = table.ancestors(4242, 8);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0]->pid, 1u);
  EXPECT_TRUE(table.ancestors(1, 8).empty());
}

TEST(StateProcSeed, HostileCommAndCmdlineAreKeptVerbatim) {
  FakeTree tree;
  // comm may hold ")", spaces and digits that look like the fields after it.
  tree.add({.pid = 7, .ppid = 1, .comm = "a) R 99 (b", .cmdline = std::string("x\ny\0z", 5), .exe = "/tmp/evil (deleted)"});
  // A process that rewrote its argv area: no trailing NUL.
  tree.add({.pid = 8, .ppid = 7, .comm = "title", .cmdline = "nginx: worker process"});
  // A kernel thread: no exe, no cwd, empty cmdline.
  tree.add({.pid = 9, .ppid = 2, .comm = "kworker/0:1", .cmdline = "", .exe = "", .cwd = ""});
  // A huge argv is cut and flagged.
  tree.add({.pid = 10, .ppid = 1, .comm = "big", .cmdline = std::string(kMaxProcArgsBytes + 100, 'A')});
  auto resolver = tree.resolver();
  ProcessTable table(*resolver, fake_options(tree));
  ASSERT_TRUE(table.seed());

  const Process* evil = table.find_live(7);
  ASSERT_NE(evil, nullptr);
  EXPECT_EQ(evil->comm, "a) R 99 (b");
  EXPECT_EQ(evil->ppid, 1u) << "ppid must come from after the last ')'";
  EXPECT_EQ(evil->args, std::string("x\ny\0z", 5));
  EXPECT_EQ(evil->argc, 2u);
  EXPECT_EQ(evil->exe, "/tmp/evil") << "a deleted executable keeps its path, as exec records give it";
  EXPECT_EQ(evil->exec_name, "a) R 99 (b") << "/proc cannot say what it was named at exec: comm as it is";

  const Process* titled = table.find_live(8);
  ASSERT_NE(titled, nullptr);
  EXPECT_EQ(titled->argc, 1u);
  EXPECT_EQ(titled->cmdline(), "nginx: worker process");

  const Process* kthread = table.find_live(9);
  ASSERT_NE(kthread, nullptr);
  EXPECT_EQ(kthread->exe, "");
  EXPECT_EQ(kthread->cwd, "");
  EXPECT_EQ(kthread->argc, 0u);
  EXPECT_EQ(kthread->ppid, 2u);

  const Process* big = table.find_live(10);
  ASSERT_NE(big, nullptr);
  EXPECT_TRUE(big->args_truncated);
  EXPECT_EQ(big->args.size(), kMaxProcArgsBytes);
}

TEST(StateProcSeed, BrokenEntriesAreSkippedAndCounted) {
  FakeTree tree;
  tree.add({.pid = 20, .comm = "good"});
  tree.add({.pid = 21, .comm = "nostat"});
  std::filesystem::remove(tree.proc() + "/21/stat");  // exited between listing and reading
  tree.add({.pid = 22, .comm = "garbage"});
  vigil::test::write_text(tree.proc() + "/22/stat", "22 (garbage S 1");  // no ')'
  tree.add({.pid = 23, .comm = "short"});
  vigil::test::write_text(tree.proc() + "/23/stat", "23 (short) S 1 2");  // fields missing
  tree.add({.pid = 24, .comm = "nostatus"});
  std::filesystem::remove(tree.proc() + "/24/status");
  std::filesystem::create_directories(tree.proc() + "/self");  // not a pid
  std::filesystem::create_directories(tree.proc() + "/12abc");
  auto resolver = tree.resolver();
  ProcessTable table(*resolver, fake_options(tree));
  ASSERT_TRUE(table.seed());
  EXPECT_NE(table.find_live(20), nullptr);
  EXPECT_EQ(table.find_live(21), nullptr);
  EXPECT_EQ(table.find_live(22), nullptr);
  EXPECT_EQ(table.find_live(23), nullptr);
  ASSERT_NE(table.find_live(24), nullptr);
  EXPECT_EQ(table.find_live(24)->uid, kUnknownId);
  EXPECT_EQ(table.find_live(24)->euid, kUnknownId);
  EXPECT_EQ(table.counters().seeded, 2u);
  EXPECT_EQ(table.counters().seed_failures, 3u);
  EXPECT_EQ(table.live_count(), 2u);
}

TEST(StateProcSeed, MissingProcRootFails) {
  FakeTree tree;
  auto resolver = tree.resolver();
  ProcessTableOptions options;
  options.proc_root = tree.proc() + "/does-not-exist";
  ProcessTable table(*resolver, options);
  auto seeded = table.seed();
  ASSERT_FALSE(seeded);
  EXPECT_NE(seeded.error().message.find("does-not-exist"), std::string::npos);
}

TEST(StateProcSeed, ContainersAreAttributedFromTheCgroupPath) {
  FakeTree tree;
  tree.add({.pid = 30, .comm = "nginx", .cgroup = "/kubepods/besteffort/pod5f1e/" + kId});
  tree.add({.pid = 31, .comm = "bash", .cgroup = "/user.slice/user-1000.slice/session-1.scope"});
  tree.add({.pid = 32, .comm = "sh", .cgroup = "/docker/" + kId.substr(1) + "0"});  // another id, no runc state
  // runc's state for the first container, with a CRI name annotation.
  std::filesystem::create_directories(tree.runc_root() + "/" + kId);
  vigil::test::write_text(tree.runc_root() + "/" + kId + "/state.json",
                          R"({"id":")" + kId +
                              R"(","config":{"labels":["bundle=/run/x","io.kubernetes.cri.container-name=web"]}})");
  auto resolver = tree.resolver();
  ProcessTable table(*resolver, fake_options(tree));
  ASSERT_TRUE(table.seed());

  const Process* nginx = table.find_live(30);
  ASSERT_NE(nginx, nullptr);
  ASSERT_TRUE(nginx->container);
  EXPECT_EQ(nginx->container->id, kId.substr(0, 12));
  EXPECT_EQ(nginx->container->full_id, kId);
  EXPECT_EQ(nginx->container->runtime, ContainerRuntime::containerd);
  EXPECT_EQ(nginx->container->name, "web");
  EXPECT_EQ(nginx->container->cgroup_path, "/kubepods/besteffort/pod5f1e/" + kId);
  EXPECT_EQ(nginx->cgroup_id, tree.make_cgroup("/kubepods/besteffort/pod5f1e/" + kId));

  EXPECT_TRUE(table.find_live(31)->container->is_host());

  const Process* sh = table.find_live(32);
  EXPECT_EQ(sh->container->runtime, ContainerRuntime::docker);
  EXPECT_EQ(sh->container->id, (kId.substr(1) + "0").substr(0, 12));
  EXPECT_EQ(sh->container->name, "") << "no runtime state: the name is not known";

  // The same cgroup id later seen in an event resolves from the cache to the same record.
  EXPECT_EQ(resolver->by_cgroup_id(nginx->cgroup_id).get(), nginx->container.get());
}
