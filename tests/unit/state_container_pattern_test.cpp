// Container attribution from cgroup v2 paths: every runtime layout vigil recognises, and the
// look-alikes it must not.
#include <gtest/gtest.h>

#include <string>

#include "state/container_pattern.h"

using vigil::state::ContainerRuntime;
using vigil::state::match_container_cgroup;

namespace {

const std::string kId = "3f4e1c0b2a9d8e7f6a5b4c3d2e1f00112233445566778899aabbccddeeff0011";
const std::string kOther = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Case {
  std::string path;
  ContainerRuntime runtime;
};

}  // namespace

TEST(StateContainerPattern, RecognisesEveryRuntimeLayout) {
  const Case cases[] = {
      // runc used directly: default cgroupsPath "/<id>", or anywhere else with a bare id.
      {"/" + kId, ContainerRuntime::runc},
      {"/machine/" + kId, ContainerRuntime::runc},
      // docker: cgroupfs driver and systemd driver.
      {"/docker/" + kId, ContainerRuntime::docker},
      {"/system.slice/docker-" + kId + ".scope", ContainerRuntime::docker},
      // containerd: CRI with the systemd driver, kubelet cgroupfs layout (with and without QoS class).
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-" + kId + ".scope",
       ContainerRuntime::containerd},
      {"/kubepods/besteffort/pod0f5d9a9e-1c2b-4a5b-9c8d-7e6f5a4b3c2d/" + kId, ContainerRuntime::containerd},
      {"/kubepods/pod0f5d9a9e-1c2b-4a5b-9c8d-7e6f5a4b3c2d/" + kId, ContainerRuntime::containerd},
      // cri-o: systemd driver and cgroupfs.
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod42.slice/crio-" + kId + ".scope",
       ContainerRuntime::crio},
      {"/kubepods/burstable/pod42/crio-" + kId, ContainerRuntime::crio},
      // podman: systemd driver (root and rootless) and cgroupfs.
      {"/machine.slice/libpod-" + kId + ".scope", ContainerRuntime::podman},
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope", ContainerRuntime::podman},
      {"/libpod_parent/libpod-" + kId, ContainerRuntime::podman},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const auto match = match_container_cgroup(c.path);
    ASSERT_TRUE(match.has_value());
    EXPECT_EQ(match->runtime, c.runtime);
    EXPECT_EQ(match->full_id, kId);
  }
}

TEST(StateContainerPattern, SubCgroupsOfAContainerKeepItsId) {
  // systemd inside a container, or a container that makes its own sub-cgroups.
  // full_id is a view into the path: keep the path alive.
  const std::string systemd_inside = "/system.slice/docker-" + kId + ".scope/init.scope";
  auto match = match_container_cgroup(systemd_inside);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->runtime, ContainerRuntime::docker);
  EXPECT_EQ(match->full_id, kId);
  const std::string sub = "/docker/" + kId + "/sub/deeper";
  match = match_container_cgroup(sub);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->full_id, kId);
}

TEST(StateContainerPattern, NestedContainersResolveToTheInnermost) {
  const std::string nested = "/docker/" + kOther + "/docker/" + kId;
  auto match = match_container_cgroup(nested);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->full_id, kId);
  EXPECT_EQ(match->runtime, ContainerRuntime::docker);
}

TEST(StateContainerPattern, HostCgroupsAndLookAlikesDoNotMatch) {
  const std::string not_containers[] = {
      "/",
      "",
      "/user.slice/user-1000.slice/session-3.scope",
      "/system.slice/sshd.service",
      "/docker",                                       // the parent alone
      "/docker/" + kId.substr(0, 63),                  // one digit short
      "/docker/" + kId + "0",                          // one digit long
      "/docker/3F4E1C0B2A9D8E7F6A5B4C3D2E1F00112233445566778899AABBCCDDEEFF0011",  // uppercase
      "/docker/" + kId.substr(0, 63) + "g",            // not hex
      "/machine.slice/libpod-conmon-" + kId + ".scope",  // podman's conmon runs on the host
      "/kubepods/burstable/pod42/crio-conmon-" + kId,    // so does cri-o's
      "/system.slice/docker-" + kId + ".mount",        // not a scope
      "/kubepods/besteffort/pod0f5d9a9e-1c2b-4a5b-9c8d-7e6f5a4b3c2d",  // the pod, not a container
      "/crio-" + kId.substr(0, 12),
  };
  for (const std::string& path : not_containers) {
    EXPECT_FALSE(match_container_cgroup(path).has_value()) << path;
  }
}

TEST(StateContainerPattern, HostileBytesAreHarmless) {
  std::string path = "/docker/" + kId;
  path[10] = '\0';  // inside the id
  EXPECT_FALSE(match_container_cgroup(path).has_value());
  std::string slashes(10000, '/');
  EXPECT_FALSE(match_container_cgroup(slashes).has_value());
  EXPECT_EQ(to_string(ContainerRuntime::crio), "cri-o");
  EXPECT_EQ(to_string(ContainerRuntime::host), "host");
}
