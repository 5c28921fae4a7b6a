// cgroup id <-> path on a fake hierarchy (the walk fallback), the mountinfo parser, and the
// container resolver's cache and counters.
#include <gtest/gtest.h>

#include <filesystem>

#include "state/cgroup_paths.h"
#include "state/container_resolver.h"
#include "state_fake_tree.h"

using namespace vigil::state;
using vigil::state::testing::FakeTree;

namespace {
const std::string kId = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
}

TEST(StateCgroupPaths, IdsAndPathsRoundTripOnAFakeTree) {
  FakeTree tree;
  const std::uint64_t root = tree.make_cgroup("/");
  const std::uint64_t docker = tree.make_cgroup("/docker/" + kId);
  const std::uint64_t spaced = tree.make_cgroup("/odd name/with:colon");
  CgroupPaths paths(tree.cgroup_root() + "/", {.use_file_handles = true, .min_walk_interval = std::chrono::hours(1)});
  EXPECT_EQ(paths.mount_dir(), tree.cgroup_root()) << "trailing slash dropped";
  // File handles do not work on a plain directory tree; the walk must take over.
  auto docker_path = paths.path_of(docker);
  ASSERT_TRUE(docker_path) << docker_path.error().message;
  EXPECT_EQ(*docker_path, "/docker/" + kId);
  EXPECT_EQ(paths.path_of(root).value_or("?"), "/");
  EXPECT_EQ(paths.path_of(spaced).value_or("?"), "/odd name/with:colon");
  EXPECT_EQ(paths.walks(), 1u) << "one walk answers every id in the tree";

  EXPECT_EQ(paths.id_of("/docker/" + kId).value_or(0), docker);
  EXPECT_EQ(paths.id_of("/").value_or(0), root);
  EXPECT_FALSE(paths.id_of("/missing"));
  EXPECT_FALSE(paths.id_of("/docker/../../etc")) << "paths stay inside the mount";
  EXPECT_FALSE(paths.id_of("relative"));

  // An unknown id does not trigger a second walk within min_walk_interval.
  auto missing = paths.path_of(0xdeadbeefull);
  ASSERT_FALSE(missing);
  EXPECT_EQ(paths.walks(), 1u);
  // A cgroup made later is found once the interval allows another walk.
  const std::uint64_t later = tree.make_cgroup("/later");
  EXPECT_FALSE(paths.path_of(later));
  CgroupPaths eager(tree.cgroup_root(), {.use_file_handles = false, .min_walk_interval = std::chrono::seconds(0)});
  EXPECT_EQ(eager.path_of(later).value_or("?"), "/later");
}

TEST(StateCgroupPaths, FindsTheCgroup2MountInMountinfo) {
  FakeTree tree;
  const std::string mountinfo = tree.proc() + "/mountinfo";
  vigil::test::write_text(mountinfo,
                          "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                          "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                          "39 30 0:36 /sub /container/view rw - cgroup2 cgroup2 rw\n"
                          "40 30 0:37 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n");
  auto mount = CgroupPaths::find_cgroup2_mount(mountinfo);
  ASSERT_TRUE(mount) << mount.error().message;
  EXPECT_EQ(*mount, "/sys/fs/cgroup/uni fied") << "escapes decoded, sub-tree mounts skipped";
  vigil::test::write_text(mountinfo, "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
  EXPECT_FALSE(CgroupPaths::find_cgroup2_mount(mountinfo));
  EXPECT_FALSE(CgroupPaths::find_cgroup2_mount(tree.proc() + "/none"));
}

TEST(StateContainerResolver, CachesPerCgroupIdAndCountsMisses) {
  FakeTree tree;
  const std::uint64_t container = tree.make_cgroup("/libpod_parent/libpod-" + kId);
  const std::uint64_t host = tree.make_cgroup("/system.slice/cron.service");
  // No runtime state for it: its answer is provisional (looked at again later), not now.
  ContainerResolverOptions options = tree.resolver_options();
  options.first_retry = std::chrono::hours(1);
  auto resolver = std::make_unique<ContainerResolver>(
      std::make_unique<CgroupPaths>(tree.cgroup_root(), CgroupPathsOptions{.use_file_handles = false,
                                                                           .min_walk_interval = {}}),
      options);

  const ContainerRef first = resolver->by_cgroup_id(container);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->runtime, ContainerRuntime::podman);
  EXPECT_EQ(first->id, kId.substr(0, 12));
  EXPECT_EQ(first->full_id, kId);
  EXPECT_EQ(first->cgroup_path, "/libpod_parent/libpod-" + kId);
  EXPECT_TRUE(first->resolved);
  const ContainerInfo* cached = first.get();
  EXPECT_EQ(resolver->by_cgroup_id(container).get(), cached);
  EXPECT_EQ(resolver->counters().resolutions, 1u);
  EXPECT_EQ(resolver->counters().lookups, 2u);

  const ContainerRef host_info = resolver->by_cgroup_id(host);
  EXPECT_TRUE(host_info->is_host());
  EXPECT_EQ(host_info.get(), ContainerResolver::host().get());

  // A cgroup that no longer exists: unresolved, neither host nor container, counted once.
  const ContainerRef gone = resolver->by_cgroup_id(0x7fffffffffull);
  EXPECT_FALSE(gone->resolved);
  EXPECT_FALSE(gone->is_host());
  EXPECT_EQ(gone->id, "");
  (void)resolver->by_cgroup_id(0x7fffffffffull);
  EXPECT_EQ(resolver->counters().unresolved, 1u);
}

TEST(StateContainerResolver, RuncStateGivesTheName) {
  FakeTree tree;
  const std::uint64_t plain = tree.make_cgroup("/" + kId);
  std::filesystem::create_directories(tree.runc_root() + "/" + kId);
  vigil::test::write_text(tree.runc_root() + "/" + kId + "/state.json",
                          R"({"id":"my-runc-box","config":{"labels":["bundle=/tmp/b"]}})");
  auto resolver = tree.resolver();
  const ContainerRef info = resolver->by_cgroup_id(plain);
  EXPECT_EQ(info->runtime, ContainerRuntime::runc);
  EXPECT_EQ(info->name, "my-runc-box") << "runc has no names: the id it was created with";

  // Garbage state files give no name and no crash.
  const std::string other = std::string(63, 'a') + "b";
  std::filesystem::create_directories(tree.runc_root() + "/" + other);
  vigil::test::write_text(tree.runc_root() + "/" + other + "/state.json", "{\"id\": [1,2");
  EXPECT_EQ(resolver->describe("/" + other).name, "");
  vigil::test::write_text(tree.runc_root() + "/" + other + "/state.json", R"({"config":{"labels":[1,{"a":2}]},"id":7})");
  EXPECT_EQ(resolver->describe("/" + other).name, "");
}

TEST(StateContainerResolver, FullCacheIsResetNotGrownAndHandedOutEntriesStayValid) {
  FakeTree tree;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    std::string id = kId;
    id[0] = static_cast<char>('a' + i);
    ids.push_back(tree.make_cgroup("/docker/" + id));
  }
  auto paths = std::make_unique<CgroupPaths>(tree.cgroup_root(), CgroupPathsOptions{.use_file_handles = false,
                                                                                     .min_walk_interval = {}});
  ContainerResolverOptions options = tree.resolver_options();
  options.state_roots = {};
  options.max_cached = 3;
  ContainerResolver resolver(std::move(paths), options);
  ContainerRef kept = resolver.by_cgroup_id(ids[0]);
  for (std::uint64_t id : ids) (void)resolver.by_cgroup_id(id);
  EXPECT_GE(resolver.counters().cache_resets, 1u);
  EXPECT_EQ(kept->id.substr(0, 1), "a");
  EXPECT_EQ(kept->runtime, ContainerRuntime::docker);
}
