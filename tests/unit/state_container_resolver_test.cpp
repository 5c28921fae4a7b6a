// ContainerResolver beyond cgroup names, on a fake /proc, cgroup tree and runtime state dirs:
// a runtime's state found by the namespaces of its container's init, the namespace fallback for
// containers no runtime admits to, host processes in private namespaces, stale state, the
// provisional answer that is looked at again, and forgetting containers that are gone.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <thread>

#include "state/container_resolver.h"
#include "state_fake_tree.h"

using namespace vigil::state;
using vigil::state::testing::FakeTree;

namespace {

// A fake container init: /proc/PID with stat (start time) and ns/mnt, ns/pid files whose inode
// numbers stand for the namespaces.
struct FakeInit {
  std::uint32_t mnt_ns = 0, pid_ns = 0;
};

FakeInit add_init(FakeTree& tree, std::uint32_t pid, std::uint64_t start_ticks, const std::string& cgroup = "/") {
  tree.add({.pid = pid, .comm = "sleep", .start_ticks = start_ticks, .cgroup = cgroup});
  const std::string ns = tree.proc() + "/" + std::to_string(pid) + "/ns";
  std::filesystem::create_directories(ns);
  vigil::test::write_text(ns + "/mnt", "");
  vigil::test::write_text(ns + "/pid", "");
  struct stat mnt{}, pid_ns{};
  ::stat((ns + "/mnt").c_str(), &mnt);
  ::stat((ns + "/pid").c_str(), &pid_ns);
  return {static_cast<std::uint32_t>(mnt.st_ino), static_cast<std::uint32_t>(pid_ns.st_ino)};
}

void write_runc_state(FakeTree& tree, const std::string& id, std::uint32_t pid, std::uint64_t start_ticks,
                      const std::string& bundle) {
  std::filesystem::create_directories(tree.runc_root() + "/" + id);
  vigil::test::write_text(tree.runc_root() + "/" + id + "/state.json",
                          R"({"id":")" + id + R"(","init_process_pid":)" + std::to_string(pid) +
                              R"(,"init_process_start":)" + std::to_string(start_ticks) +
                              R"(,"created":"2026-01-01T00:00:00Z","config":{"labels":["bundle=)" + bundle + R"("]}})");
}

TEST(StateContainerResolver, RuntimeStateFindsAContainerByTheNamespacesOfItsInit) {
  FakeTree tree;
  const std::uint64_t session = tree.make_cgroup("/user.slice/session-3.scope");
  const FakeInit init = add_init(tree, 4242, 777, "/user.slice/session-3.scope");
  const std::string bundle = tree.proc() + "/../bundle";
  std::filesystem::create_directories(bundle);
  vigil::test::write_text(bundle + "/config.json", R"({
    "annotations": {"io.kubernetes.cri.container-name": "web", "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
                    "io.kubernetes.cri.sandbox-name": "web-pod", "io.kubernetes.cri.sandbox-namespace": "prod"},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/var/run/docker.sock", "type": "bind", "source": "/run/docker.sock", "options": ["rbind"]}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}})");
  write_runc_state(tree, "my-box", 4242, 777, bundle);
  auto resolver = tree.resolver();

  // A process in the session's cgroup (runc was told no cgroupsPath and the cgroup is not its
  // own: a name says nothing), but in the container's namespaces.
  const ContainerRef info = resolver->resolve({session, init.mnt_ns, init.pid_ns}, 4243);
  EXPECT_TRUE(info->is_container());
  EXPECT_EQ(info->source, ContainerSource::runtime_state);
  EXPECT_EQ(info->runtime, ContainerRuntime::runc);
  EXPECT_EQ(info->id, "my-box") << "a plain name is the whole id";
  EXPECT_EQ(info->full_id, "my-box");
  EXPECT_EQ(info->name, "web") << "the CRI annotation names it";
  EXPECT_EQ(info->init_pid, 4242u);
  EXPECT_FALSE(info->provisional);
  EXPECT_TRUE(info->metadata_known);
  EXPECT_EQ(info->metadata.image_repository, "docker.io/library/nginx");
  EXPECT_EQ(info->metadata.k8s_pod_name, "web-pod");
  EXPECT_EQ(info->metadata.k8s_namespace, "prod");
  ASSERT_EQ(info->metadata.mounts.size(), 2u);
  EXPECT_EQ(info->metadata.mounts[1].source, "/run/docker.sock");
  EXPECT_EQ(info->metadata.created_ns, 1767225600000000000);
  EXPECT_TRUE(info->metadata.host_network);
  EXPECT_EQ(resolver->counters().by_runtime_state, 1u);

  // A process of it that made a mount namespace of its own is still found by the pid namespace.
  const ContainerRef unshared = resolver->resolve({session, 12345, init.pid_ns}, 4244);
  EXPECT_EQ(unshared.get(), info.get()) << "one record per container";
}

TEST(StateContainerResolver, NamespacesAloneMakeAContainerAndARuntimeStateReplacesItLater) {
  FakeTree tree;
  const std::uint64_t root = tree.make_cgroup("/");
  const FakeInit init = add_init(tree, 5000, 900);
  // The runtime has not written its state yet (it does so after the first processes run).
  auto resolver = tree.resolver();
  const ContainerRef early = resolver->resolve({root, init.mnt_ns, init.pid_ns}, 5000);
  EXPECT_TRUE(early->is_container());
  EXPECT_EQ(early->source, ContainerSource::namespaces);
  EXPECT_EQ(early->runtime, ContainerRuntime::unknown);
  EXPECT_EQ(early->id, "pidns-" + std::to_string(init.pid_ns));
  EXPECT_EQ(early->name, "") << "no runtime, no name";
  EXPECT_TRUE(early->provisional);

  // A state left from an earlier container whose pid was reused: its start time differs.
  write_runc_state(tree, "stale", 5000, 1, "/nonexistent");
  EXPECT_EQ(resolver->resolve({root, init.mnt_ns, init.pid_ns}, 5000)->source, ContainerSource::namespaces);

  write_runc_state(tree, "late", 5000, 900, "/nonexistent");
  const ContainerRef later = resolver->resolve({root, init.mnt_ns, init.pid_ns}, 5000);
  EXPECT_EQ(later->source, ContainerSource::runtime_state);
  EXPECT_EQ(later->id, "late");
  EXPECT_EQ(later->name, "late") << "runc has no names: the id it was created with";
  EXPECT_GE(resolver->counters().retries, 2u);
}

TEST(StateContainerResolver, PrivateNamespacesOnTheHostAreTheHost) {
  FakeTree tree;
  const std::uint64_t root = tree.make_cgroup("/");
  const std::uint64_t service = tree.make_cgroup("/system.slice/nginx.service");
  auto resolver = tree.resolver();
  // A service with PrivateTmp= (its own mount namespace), a sandbox with its own pid namespace
  // (`unshare --pid`, a browser's renderer): neither is a container.
  EXPECT_TRUE(resolver->resolve({service, 777777, FakeTree::kHostPidNs})->is_host());
  EXPECT_TRUE(resolver->resolve({root, FakeTree::kHostMntNs, 888888})->is_host());
  // Both of its own: a container (whatever made it).
  EXPECT_EQ(resolver->resolve({root, 777777, 888888})->id, "pidns-888888");
  // A name-based cgroup pattern counts only with namespaces of its own (libvirt names VMs'
  // cgroups machine-<name>.scope too).
  const std::uint64_t machine = tree.make_cgroup("/machine.slice/machine-qemu.scope");
  EXPECT_TRUE(resolver->resolve({machine, FakeTree::kHostMntNs, FakeTree::kHostPidNs})->is_host());
  const ContainerRef nspawn = resolver->resolve({machine, 777778, 888889});
  EXPECT_EQ(nspawn->runtime, ContainerRuntime::nspawn);
  EXPECT_EQ(nspawn->id, "qemu");
  EXPECT_EQ(nspawn->source, ContainerSource::cgroup);
}

// A process with only its mount namespace not the host's is looked up in a listing up to
// min_rescan_interval_one_namespace old. When that listing predates a container whose mount
// namespace it is (nsenter --mount right after the container started), the host answer is
// provisional and the key is looked at again; cached for good, it stayed the host.
TEST(StateContainerResolver, AHostAnswerFromAnOlderListingIsLookedAtAgain) {
  FakeTree tree;
  const std::uint64_t root = tree.make_cgroup("/");
  auto paths = std::make_unique<CgroupPaths>(tree.cgroup_root(), CgroupPathsOptions{.use_file_handles = false,
                                                                                     .min_walk_interval = {}});
  ContainerResolverOptions options = tree.resolver_options();
  options.min_rescan_interval_one_namespace = std::chrono::milliseconds(300);
  ContainerResolver resolver(std::move(paths), options);
  // A service with PrivateTmp=: the directories are listed (empty), the host, for good.
  const ContainerRef service = resolver.resolve({root, 777777, FakeTree::kHostPidNs}, 4000);
  EXPECT_TRUE(service->is_host());
  EXPECT_FALSE(service->provisional) << "the listing was made for it";
  EXPECT_EQ(resolver.counters().state_scans, 1u);

  const FakeInit init = add_init(tree, 4242, 777);
  write_runc_state(tree, "box", 4242, 777, "/nonexistent");
  const ContainerRef early = resolver.resolve({root, init.mnt_ns, FakeTree::kHostPidNs}, 4300);
  EXPECT_TRUE(early->is_host()) << "the listing is too recent to list the directories again";
  EXPECT_TRUE(early->provisional);
  EXPECT_EQ(resolver.counters().state_scans, 1u);

  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const ContainerRef later = resolver.resolve({root, init.mnt_ns, FakeTree::kHostPidNs}, 4300);
  EXPECT_EQ(later->id, "box");
  EXPECT_EQ(later->source, ContainerSource::runtime_state);
  EXPECT_EQ(resolver.counters().state_scans, 2u);
  // The service's answer came from a listing made for it: not looked at again.
  EXPECT_TRUE(resolver.resolve({root, 777777, FakeTree::kHostPidNs}, 4000)->is_host());
  EXPECT_EQ(resolver.counters().retries, 1u);
}

TEST(StateContainerResolver, ContainersNoProcessRefersToAreForgottenAfterTheirGrace) {
  FakeTree tree;
  const std::string id(64, 'c');
  const std::uint64_t cgroup = tree.make_cgroup("/docker/" + id);
  auto paths = std::make_unique<CgroupPaths>(tree.cgroup_root(), CgroupPathsOptions{.use_file_handles = false,
                                                                                     .min_walk_interval = {}});
  ContainerResolverOptions options = tree.resolver_options();
  options.forget_after_ns = 10'000'000'000ull;
  ContainerResolver resolver(std::move(paths), options);
  ContainerRef held = resolver.resolve({cgroup, 1, 2});
  EXPECT_EQ(resolver.cached_containers(), 1u);
  resolver.expire(100'000'000'000ull);
  resolver.expire(200'000'000'000ull);
  EXPECT_EQ(resolver.cached_containers(), 1u) << "a process still refers to it";
  held.reset();
  resolver.expire(300'000'000'000ull);  // unused from here
  resolver.expire(305'000'000'000ull);
  EXPECT_EQ(resolver.cached_containers(), 1u) << "within its grace";
  resolver.expire(311'000'000'000ull);
  EXPECT_EQ(resolver.cached_containers(), 0u);
  EXPECT_EQ(resolver.counters().forgotten, 1u);
  // Asked again, it is resolved again (the cgroup still exists here).
  EXPECT_EQ(resolver.resolve({cgroup, 1, 2})->full_id, id);
}

}  // namespace
