// Container attribution with real runc containers: processes exec'd inside them (seen through
// the live probe) and their init processes (seen by the seed) carry the container's id from
// their cgroup path, the runtime that path pattern names, and runc's name; host processes
// get "host".
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "support/runc_container.h"
#include "state_live_support.h"

namespace {

using namespace std::chrono_literals;
using namespace vigil::state;
using namespace vigil::state::live_testing;
using vigil::test::OciRuntime;
using vigil::test::RuncContainer;
using vigil::test::RuncOptions;
using vigil::test::UnshareOptions;
using vigil::test::UnsharedProcess;

struct Layout {
  const char* cgroups_path;  // for runc, "{id}" = the container id
  ContainerRuntime runtime;  // what vigil must call it
};

void expect_in_container(const Process& process, const RuncContainer& container, ContainerRuntime runtime,
                         const std::string& cgroup_mount) {
  SCOPED_TRACE("pid " + std::to_string(process.pid) + " in " + container.cgroups_path());
  const auto cgroup = cgroup_v2_path(static_cast<pid_t>(process.pid));
  ASSERT_TRUE(cgroup) << "process gone";
  // The id in the cgroup path the kernel reports is the container's id.
  const auto id_at = cgroup->rfind(container.id());
  ASSERT_NE(id_at, std::string::npos) << *cgroup;
  ASSERT_TRUE(process.container);
  EXPECT_EQ(process.container->id, cgroup->substr(id_at, 12));
  EXPECT_EQ(process.container->id, container.id().substr(0, 12));
  EXPECT_EQ(process.container->full_id, container.id());
  EXPECT_EQ(process.container->runtime, runtime) << to_string(process.container->runtime);
  EXPECT_EQ(process.container->name, container.id()) << "runc has no names: its id (from /run/runc state)";
  EXPECT_EQ(process.container->cgroup_path, *cgroup);
  EXPECT_EQ(process.cgroup_id, inode_of(cgroup_mount + *cgroup));
  EXPECT_FALSE(process.container->is_host());
}

TEST(StateContainers, RuncContainersAreAttributedByCgroup) {
  STATE_LIVE_PRECONDITIONS();
  VIGIL_REQUIRE(RuncContainer::available(), "runc and a static /bin/busybox (scripts/deps.txt: runc, busybox-static)");

  const Layout layouts[] = {
      {"", ContainerRuntime::runc},  // runc's default: "/<id>"
      {"/docker/{id}", ContainerRuntime::docker},
      {"/kubepods/besteffort/pod3c5e1f0a-7b2d-4e9f-8a61-0d4c2b9e7f13/{id}", ContainerRuntime::containerd},
      {"/kubepods/burstable/pod3c5e1f0a-7b2d-4e9f-8a61-0d4c2b9e7f13/crio-{id}", ContainerRuntime::crio},
      {"/libpod_parent/libpod-{id}", ContainerRuntime::podman},
  };
  // One container exists before the seed (its init must be attributed from /proc), the rest
  // start afterwards (attributed from events).
  auto before = RuncContainer::start({.cgroups_path = layouts[0].cgroups_path});
  ASSERT_TRUE(before) << before.error();

  auto live = open_live_table();
  ASSERT_TRUE(live);
  ProcessTable& table = *live->table;
  const std::string mount = live->resolver->paths().mount_dir();

  const Process* seeded_init = table.find_live(static_cast<std::uint32_t>((*before)->init_pid()));
  ASSERT_NE(seeded_init, nullptr);
  EXPECT_EQ(seeded_init->origin, ProcessOrigin::proc);
  expect_in_container(*seeded_init, **before, ContainerRuntime::runc, mount);

  for (const Layout& layout : layouts) {
    SCOPED_TRACE(layout.cgroups_path);
    auto container = RuncContainer::start({.cgroups_path = layout.cgroups_path});
    ASSERT_TRUE(container) << container.error();
    // A process exec'd inside the running container.
    auto inside = (*container)->exec_detached({"sleep", "300"});
    ASSERT_TRUE(inside) << inside.error();
    const auto pid = static_cast<std::uint32_t>(*inside);
    ASSERT_TRUE(live->pump_until([&] {
      const Process* p = table.find_live(pid);
      return p != nullptr && p->comm == "sleep";
    })) << "no exec of " << pid << " seen";
    const Process* process = table.find_live(pid);
    ASSERT_NE(process, nullptr);
    expect_in_container(*process, **container, layout.runtime, mount);
    EXPECT_EQ(process->cmdline(), "sleep 300");
    // The container's init, started after the seed, is attributed too.
    const Process* init = table.find_live(static_cast<std::uint32_t>((*container)->init_pid()));
    ASSERT_NE(init, nullptr);
    expect_in_container(*init, **container, layout.runtime, mount);
    // Its cgroup is gone with it; the cached attribution stays for late records.
    const ContainerKey key{process->cgroup_id, process->mnt_ns, process->pid_ns};
    EXPECT_EQ((*container)->destroy(), "");
    EXPECT_EQ(live->resolver->resolve(key)->full_id, (*container)->id());
    ASSERT_TRUE(live->pump_until([&] { return table.find_live(pid) == nullptr; })) << "exit of " << pid;
  }

  // Host processes: this test, and a child started now.
  const Process* self = table.find_live(static_cast<std::uint32_t>(::getpid()));
  ASSERT_NE(self, nullptr);
  EXPECT_TRUE(self->container->is_host());
  EXPECT_EQ(self->container->id, "host");
  EXPECT_EQ(self->container->name, "host");
  const SleepingChild sleeping;
  const pid_t child = sleeping.pid;
  ASSERT_GE(child, 0);
  ASSERT_TRUE(live->pump_until([&] { return runs_sleep(table, child); }));
  EXPECT_TRUE(table.find_live(static_cast<std::uint32_t>(child))->container->is_host());
  EXPECT_EQ(table.find_live(static_cast<std::uint32_t>(child))->container->id, "host");
  // Every live process's cgroup resolved (a zombie seeded from a removed cgroup would not).
  // (The resolver's own counter is not asserted: it counts the whole host, where other tests
  // may remove cgroups of processes whose last record comes after.)
  table.for_each_live([&](const Process& p) {
    if (!p.container->resolved) ADD_FAILURE() << "unresolved cgroup " << p.cgroup_id << " of pid " << p.pid;
  });
}

std::uint32_t namespace_inode(pid_t pid, const char* type) {
  return static_cast<std::uint32_t>(inode_of("/proc/" + std::to_string(pid) + "/ns/" + type));
}

// Containers whose cgroup names say nothing (a plain runc name with runc's default cgroup or a
// systemd-style one; crun keeping the caller's cgroup): found through the runtime's own state,
// by the namespaces of the container's init.
TEST(StateContainers, RuntimeStateAttributesContainersWhateverTheirCgroupIsNamed) {
  STATE_LIVE_PRECONDITIONS();
  VIGIL_REQUIRE(RuncContainer::available(), "runc and a static /bin/busybox (scripts/deps.txt: runc, busybox-static)");
  VIGIL_REQUIRE(RuncContainer::available(OciRuntime::crun), "crun (scripts/deps.txt)");
  struct Case {
    const char* what;
    RuncOptions options;
    ContainerRuntime runtime;
  };
  const Case cases[] = {
      {"runc, a plain name, no cgroupsPath", {.plain_name = true}, ContainerRuntime::runc},
      {"runc, a plain name, a systemd-style cgroup",
       {.plain_name = true, .cgroups_path = "/system.slice/runc-{id}.scope"},
       ContainerRuntime::runc},
      {"crun, a plain name, the caller's cgroup", {.runtime = OciRuntime::crun, .plain_name = true}, ContainerRuntime::crun},
  };
  auto live = open_live_table();
  ASSERT_TRUE(live);
  ProcessTable& table = *live->table;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto container = RuncContainer::start(c.options);
    ASSERT_TRUE(container) << container.error();
    const std::string& id = (*container)->id();
    ASSERT_TRUE(id.starts_with("vigil-test-"));
    auto inside = (*container)->exec_detached({"sleep", "300"});
    ASSERT_TRUE(inside) << inside.error();
    const auto pid = static_cast<std::uint32_t>(*inside);
    ASSERT_TRUE(live->pump_until([&] {
      const Process* p = table.find_live(pid);
      return p != nullptr && p->comm == "sleep";
    })) << "no exec of " << pid << " seen";
    const Process* process = table.find_live(pid);
    ASSERT_NE(process, nullptr);
    ASSERT_TRUE(process->container);
    const ContainerInfo& info = *process->container;
    EXPECT_TRUE(info.is_container());
    EXPECT_EQ(info.source, ContainerSource::runtime_state) << to_string(info.source);
    EXPECT_EQ(info.runtime, c.runtime) << to_string(info.runtime);
    EXPECT_EQ(info.id, id) << "a plain name is the whole id";
    EXPECT_EQ(info.full_id, id);
    EXPECT_EQ(info.name, id) << "these runtimes have no names: the id the container was created with";
    EXPECT_EQ(info.init_pid, static_cast<std::uint32_t>((*container)->init_pid()));
    EXPECT_EQ(process->pid_ns, namespace_inode(*inside, "pid"));
    EXPECT_EQ(process->mnt_ns, namespace_inode(*inside, "mnt"));
    EXPECT_NE(process->vpid, 0u);
    EXPECT_NE(process->vpid, pid) << "its pid inside the container";
    // The bundle's metadata: runc spec's mounts, its capabilities (not all of them).
    EXPECT_TRUE(info.metadata_known);
    EXPECT_FALSE(info.metadata.privileged);
    bool proc_mount = false;
    for (const auto& mount : info.metadata.mounts) proc_mount = proc_mount || mount.destination == "/proc";
    EXPECT_TRUE(proc_mount);
    EXPECT_GT(info.metadata.created_ns, 0);
    EXPECT_EQ((*container)->destroy(), "");
  }
  // Nothing of this test is on the host side by mistake, and this test itself is the host.
  EXPECT_TRUE(table.find_live(static_cast<std::uint32_t>(::getpid()))->container->is_host());
}

// What CRI (containerd) writes into a bundle names the container, its image and its pod.
TEST(StateContainers, CriAnnotationsGiveNameImageAndPod) {
  STATE_LIVE_PRECONDITIONS();
  VIGIL_REQUIRE(RuncContainer::available(), "runc and a static /bin/busybox (scripts/deps.txt: runc, busybox-static)");
  auto live = open_live_table();
  ASSERT_TRUE(live);
  auto container = RuncContainer::start(
      {.plain_name = true,
       .annotations = {{"io.kubernetes.cri.container-name", "web"},
                       {"io.kubernetes.cri.image-name", "docker.io/library/nginx:1.25"},
                       {"io.kubernetes.cri.sandbox-name", "web-7f9c"},
                       {"io.kubernetes.cri.sandbox-namespace", "prod"},
                       {"io.kubernetes.cri.sandbox-uid", "0f1e2d3c"}}});
  ASSERT_TRUE(container) << container.error();
  auto inside = (*container)->exec_detached({"sleep", "300"});
  ASSERT_TRUE(inside) << inside.error();
  const auto pid = static_cast<std::uint32_t>(*inside);
  ASSERT_TRUE(live->pump_until([&] { return runs_sleep(*live->table, *inside); }));
  const ContainerInfo& info = *live->table->find_live(pid)->container;
  EXPECT_EQ(info.id, (*container)->id());
  EXPECT_EQ(info.name, "web");
  EXPECT_EQ(info.metadata.image, "docker.io/library/nginx:1.25");
  EXPECT_EQ(info.metadata.image_repository, "docker.io/library/nginx");
  EXPECT_EQ(info.metadata.image_tag, "1.25");
  EXPECT_EQ(info.metadata.k8s_pod_name, "web-7f9c");
  EXPECT_EQ(info.metadata.k8s_namespace, "prod");
  EXPECT_EQ(info.metadata.k8s_pod_uid, "0f1e2d3c");
}

// `unshare --fork --pid --mount` + chroot: a container no runtime knows, found by its pid and
// mount namespaces and named after the pid namespace.
TEST(StateContainers, HandMadeContainerIsFoundByItsNamespaces) {
  STATE_LIVE_PRECONDITIONS();
  VIGIL_REQUIRE(UnsharedProcess::available(), "unshare, chroot and a static /bin/busybox");
  auto live = open_live_table();
  ASSERT_TRUE(live);
  auto box = UnsharedProcess::start({});
  ASSERT_TRUE(box) << box.error();
  const pid_t inner = (*box)->inner_pid();
  ASSERT_TRUE(live->pump_until([&] { return runs_sleep(*live->table, inner); }));
  const Process* process = live->table->find_live(static_cast<std::uint32_t>(inner));
  ASSERT_NE(process, nullptr);
  const ContainerInfo& info = *process->container;
  EXPECT_TRUE(info.is_container());
  EXPECT_EQ(info.source, ContainerSource::namespaces);
  EXPECT_EQ(info.runtime, ContainerRuntime::unknown);
  EXPECT_EQ(info.id, "pidns-" + std::to_string(namespace_inode(inner, "pid")));
  EXPECT_EQ(info.name, "") << "no runtime: no name";
  EXPECT_EQ(process->vpid, 1u) << "the first process of its pid namespace";
  EXPECT_EQ(process->exe, "/bin/busybox") << "its executable as it sees it, inside the chroot";
}

// A host process with a private pid namespace (a sandbox) or a private mount namespace (a
// service with PrivateTmp=, `unshare --mount`) is a host process.
TEST(StateContainers, PrivateNamespacesOnTheHostAreReportedAsHost) {
  STATE_LIVE_PRECONDITIONS();
  VIGIL_REQUIRE(UnsharedProcess::available(), "unshare, chroot and a static /bin/busybox");
  auto live = open_live_table();
  ASSERT_TRUE(live);
  const HostNamespaces& host = live->resolver->host_namespaces();
  ASSERT_TRUE(host.known());
  for (const UnshareOptions& options : {UnshareOptions{.pid = true, .mount = false, .chroot = false, .args = {"sleep", "300"}},
                                        UnshareOptions{.pid = false, .mount = true, .chroot = false, .args = {"sleep", "300"}}}) {
    SCOPED_TRACE(options.pid ? "own pid namespace" : "own mount namespace");
    auto sandbox = UnsharedProcess::start(options);
    ASSERT_TRUE(sandbox) << sandbox.error();
    const pid_t inner = (*sandbox)->inner_pid();
    ASSERT_TRUE(live->pump_until([&] { return runs_sleep(*live->table, inner); }));
    const Process* process = live->table->find_live(static_cast<std::uint32_t>(inner));
    ASSERT_NE(process, nullptr);
    EXPECT_EQ(process->pid_ns != host.pid_ns, options.pid);
    EXPECT_EQ(process->mnt_ns != host.mnt_ns, options.mount);
    EXPECT_TRUE(process->container->is_host()) << process->container->id;
    EXPECT_EQ(process->container->id, "host");
  }
}

TEST(StateContainers, HarnessCleansUpEverything) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(RuncContainer::available(), "runc and a static /bin/busybox");
  std::string id, bundle;
  pid_t init = -1;
  {
    auto container = RuncContainer::start({.cgroups_path = "/vigil-harness-parent/nested/{id}"});
    ASSERT_TRUE(container) << container.error();
    id = (*container)->id();
    bundle = (*container)->bundle();
    init = (*container)->init_pid();
    EXPECT_EQ(id.size(), 64u);
    auto echoed = (*container)->exec({"echo", "hello from inside"});
    EXPECT_EQ(echoed.exit_code, 0) << echoed.err;
    EXPECT_EQ(echoed.out, "hello from inside\n");
    // The container has its own network namespace: only loopback.
    auto net = (*container)->exec({"cat", "/proc/net/dev"});
    EXPECT_EQ(net.out.find("eth"), std::string::npos) << net.out;
    EXPECT_EQ(::access(("/sys/fs/cgroup/unified/vigil-harness-parent/nested/" + id).c_str(), F_OK), 0);
  }
  EXPECT_NE(vigil::test::run({"runc", "state", id}).exit_code, 0) << "container still known to runc";
  // Killed; reaping is up to whoever inherited it (pid 1 or a subreaper): a zombie is dead.
  bool init_dead = false;
  for (int i = 0; i < 100 && !init_dead; ++i) {
    const std::string stat = vigil::test::read_text("/proc/" + std::to_string(init) + "/stat");
    const auto close = stat.rfind(')');
    init_dead = stat.empty() || (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z');
    if (!init_dead) ::usleep(20'000);
  }
  EXPECT_TRUE(init_dead) << "init " << init << " still running";
  EXPECT_NE(::access(bundle.c_str(), F_OK), 0) << "bundle left behind";
  EXPECT_NE(::access("/sys/fs/cgroup/unified/vigil-harness-parent", F_OK), 0) << "cgroup parent left behind";
  EXPECT_NE(::access("/sys/fs/cgroup/memory/vigil-harness-parent", F_OK), 0) << "v1 cgroup parent left behind";
}

}  // namespace
