// The container runtimes' state files, bundle configs and docker's files, parsed: what each
// format gives, what hostile or broken input gives (nothing, never a throw), and the image
// reference and time parsing they rely on.
#include <gtest/gtest.h>

#include <string>

#include "state/runtime_state.h"

using namespace vigil::state;

namespace {

TEST(StateRuntimeState, RuncStateGivesIdInitBundleAnnotationsAndLibcontainerConfig) {
  const auto state = parse_runtime_state(R"({
    "id": "web", "init_process_pid": 11541, "init_process_start": 76923,
    "created": "2026-12-07T18:43:57.432694213Z",
    "config": {
      "labels": ["io.kubernetes.cri.container-name=web", "bundle=/tmp/bundle", "no-equals-sign", "k=v=w"],
      "capabilities": {"Bounding": ["CAP_CHOWN", "CAP_KILL"]},
      "mounts": [{"source": "proc", "destination": "/proc", "device": "proc", "flags": 14},
                 {"source": "/var/run/docker.sock", "destination": "/var/run/docker.sock", "device": "bind", "flags": 20481}],
      "namespaces": [{"type": "NEWNS"}, {"type": "NEWPID"}],
      "cgroups": {"path": "/web"}}})",
                                         RuntimeStateFormat::runc);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->id, "web");
  EXPECT_EQ(state->pid, 11541u);
  EXPECT_EQ(state->pid_start_ticks, 76923u);
  EXPECT_EQ(state->bundle, "/tmp/bundle");
  EXPECT_EQ(state->cgroup_path, "/web");
  EXPECT_EQ(state->created_ns, 1796669037432694213);
  ASSERT_EQ(state->annotations.size(), 2u);
  EXPECT_EQ(*find_value(state->annotations, "k"), "v=w");
  EXPECT_EQ(*find_value(state->annotations, "io.kubernetes.cri.container-name"), "web");
  ASSERT_EQ(state->mounts.size(), 2u);
  EXPECT_EQ(state->mounts[1].destination, "/var/run/docker.sock");
  EXPECT_EQ(state->mounts[1].type, "bind");
  EXPECT_FALSE(state->mounts[1].read_write) << "MS_RDONLY is set in 20481";
  EXPECT_EQ(state->mounts[1].mode, "ro");
  EXPECT_TRUE(state->capabilities_known);
  EXPECT_TRUE(state->namespaces_known);

  ContainerMetadata metadata;
  apply_runtime_state(*state, 40, metadata);
  EXPECT_EQ(metadata.name, "web");
  EXPECT_FALSE(metadata.privileged) << "two capabilities are not all of them";
  EXPECT_FALSE(metadata.host_pid);
  EXPECT_TRUE(metadata.host_network) << "no NEWNET: the network namespace of whoever started it";
}

TEST(StateRuntimeState, CrunStatusAndOciStateGiveTheirFields) {
  const auto crun = parse_runtime_state(
      R"({"pid": 13576, "process-start-time": 84143, "cgroup-path": "/x", "bundle": "/b",
          "created": "2026-12-07T18:45:09.622007Z"})",
      RuntimeStateFormat::crun);
  ASSERT_TRUE(crun);
  EXPECT_EQ(crun->id, "") << "crun's status does not repeat the id: the directory names it";
  EXPECT_EQ(crun->pid, 13576u);
  EXPECT_EQ(crun->pid_start_ticks, 84143u);
  EXPECT_EQ(crun->bundle, "/b");
  EXPECT_EQ(crun->cgroup_path, "/x");

  const auto oci = parse_runtime_state(
      R"({"ociVersion": "1.0.2", "id": "box", "status": "running", "pid": 77, "bundle": "/y",
          "annotations": {"nerdctl/name": "named", "n": 3}})",
      RuntimeStateFormat::oci);
  ASSERT_TRUE(oci);
  EXPECT_EQ(oci->id, "box");
  EXPECT_EQ(oci->pid, 77u);
  EXPECT_EQ(oci->pid_start_ticks, 0u);
  ASSERT_EQ(oci->annotations.size(), 1u) << "only string values are annotations";
  EXPECT_EQ(*find_value(oci->annotations, "nerdctl/name"), "named");
}

TEST(StateRuntimeState, BrokenOrHostileStateGivesNothingOrNothingWrong) {
  for (const char* text : {"", "{", "[1,2]", "\"x\"", "{\"id\": [1,2", "null"}) {
    EXPECT_FALSE(parse_runtime_state(text, RuntimeStateFormat::runc)) << text;
  }
  const auto wrong_types = parse_runtime_state(
      R"({"id": 7, "init_process_pid": -5, "config": {"labels": [1, {"a": 2}, "bundle=/ok"], "mounts": "x"}})",
      RuntimeStateFormat::runc);
  ASSERT_TRUE(wrong_types);
  EXPECT_EQ(wrong_types->id, "");
  EXPECT_EQ(wrong_types->pid, 0u);
  EXPECT_EQ(wrong_types->bundle, "/ok");
  // A pid beyond PID_MAX_LIMIT is not a pid.
  EXPECT_EQ(parse_runtime_state(R"({"pid": 4294967296})", RuntimeStateFormat::crun)->pid, 0u);
  // Thousands of labels and mounts are cut at the bounds.
  std::string many = R"({"config": {"labels": [)";
  for (int i = 0; i < 2000; ++i) many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "=v\"";
  many += R"(], "mounts": [)";
  for (int i = 0; i < 2000; ++i) many += (i ? "," : "") + std::string(R"({"destination": "/d"})");
  many += "]}}";
  const auto bounded = parse_runtime_state(many, RuntimeStateFormat::runc);
  ASSERT_TRUE(bounded);
  EXPECT_EQ(bounded->annotations.size(), kMaxStateLabels);
  EXPECT_EQ(bounded->mounts.size(), kMaxStateMounts);
}

TEST(StateRuntimeState, OciConfigGivesNameImageKubernetesMountsPrivilegeAndNamespaces) {
  std::string all_caps = "[";
  for (int cap = 0; cap <= 40; ++cap) all_caps += (cap ? "," : "") + std::string("\"CAP_") + std::to_string(cap) + "\"";
  all_caps += "]";
  ContainerMetadata metadata;
  ASSERT_TRUE(apply_oci_config(R"({
    "process": {"capabilities": {"bounding": )" + all_caps + R"(}},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "ro", "rslave"]}],
    "annotations": {"io.kubernetes.cri.container-name": "nginx",
                    "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
                    "io.kubernetes.cri.sandbox-name": "web-7f9c", "io.kubernetes.cri.sandbox-namespace": "prod",
                    "io.kubernetes.cri.sandbox-uid": "uid-1"},
    "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]}})",
                               40, metadata));
  EXPECT_EQ(metadata.name, "nginx");
  EXPECT_EQ(metadata.image, "docker.io/library/nginx:1.25");
  EXPECT_EQ(metadata.image_repository, "docker.io/library/nginx");
  EXPECT_EQ(metadata.image_tag, "1.25");
  EXPECT_EQ(metadata.k8s_pod_name, "web-7f9c");
  EXPECT_EQ(metadata.k8s_namespace, "prod");
  EXPECT_EQ(metadata.k8s_pod_uid, "uid-1");
  EXPECT_TRUE(metadata.privileged) << "capabilities 0..cap_last_cap";
  EXPECT_FALSE(metadata.host_pid);
  EXPECT_FALSE(metadata.host_network) << "joining another namespace is not the host's";
  EXPECT_TRUE(metadata.host_ipc);
  ASSERT_EQ(metadata.mounts.size(), 2u);
  EXPECT_EQ(metadata.mounts[1].source, "/");
  EXPECT_EQ(metadata.mounts[1].destination, "/host");
  EXPECT_EQ(metadata.mounts[1].type, "bind");
  EXPECT_FALSE(metadata.mounts[1].read_write);
  EXPECT_EQ(metadata.mounts[1].propagation, "rslave");
  EXPECT_EQ(*find_value(metadata.labels, "io.kubernetes.cri.sandbox-name"), "web-7f9c");

  // CRI-O's names for the same things, and its pod labels as one JSON object.
  ContainerMetadata crio;
  ASSERT_TRUE(apply_oci_config(R"({"annotations": {
    "io.kubernetes.container.name": "app", "io.kubernetes.cri-o.ImageName": "quay.io/org/app@sha256:0123",
    "io.kubernetes.cri-o.Image": "sha256:feed", "io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "ns",
    "io.kubernetes.cri-o.Labels": "{\"app\": \"web\", \"tier\": 2}"}})",
                               40, crio));
  EXPECT_EQ(crio.name, "app");
  EXPECT_EQ(crio.image_repository, "quay.io/org/app");
  EXPECT_EQ(crio.image_tag, "");
  EXPECT_EQ(crio.image_digest, "sha256:0123");
  EXPECT_EQ(crio.image_id, "sha256:feed");
  EXPECT_EQ(crio.k8s_pod_name, "p");
  ASSERT_EQ(crio.k8s_pod_labels.size(), 1u) << "non-string label values are dropped";
  EXPECT_EQ(*find_value(crio.k8s_pod_labels, "app"), "web");

  ContainerMetadata none;
  EXPECT_FALSE(apply_oci_config("not json", 40, none));
}

TEST(StateRuntimeState, DockerConfigGivesNameImageMountsAndPrivileged) {
  ContainerMetadata metadata;
  ASSERT_TRUE(apply_docker_config(
      R"({"Name": "/web", "Image": "sha256:abc", "Created": "2026-01-01T00:00:00+02:00",
          "Config": {"Image": "nginx:1.25", "Labels": {"a": "b"}},
          "MountPoints": {"/data": {"Source": "/srv", "Destination": "/data", "RW": false, "Mode": "ro,Z",
                                    "Propagation": "rprivate", "Type": "bind"}}})",
      R"({"Privileged": true})", metadata));
  EXPECT_EQ(metadata.name, "web");
  EXPECT_EQ(metadata.image, "nginx:1.25");
  EXPECT_EQ(metadata.image_repository, "nginx");
  EXPECT_EQ(metadata.image_id, "sha256:abc");
  EXPECT_EQ(metadata.created_ns, 1767218400000000000);
  EXPECT_TRUE(metadata.privileged);
  ASSERT_EQ(metadata.mounts.size(), 1u);
  EXPECT_EQ(metadata.mounts[0].mode, "ro,Z") << "docker's own Mode string";
  EXPECT_FALSE(metadata.mounts[0].read_write);
  EXPECT_EQ(*find_value(metadata.labels, "a"), "b");
}

TEST(StateRuntimeState, ImageReferencesSplitLikeDocker) {
  struct Case {
    const char* image;
    const char* repository;
    const char* tag;
    const char* digest;
  };
  for (const Case& c : {Case{"busybox", "busybox", "", ""}, Case{"busybox:1.36", "busybox", "1.36", ""},
                        Case{"registry:5000/team/app", "registry:5000/team/app", "", ""},
                        Case{"registry:5000/team/app:v2", "registry:5000/team/app", "v2", ""},
                        Case{"app:v2@sha256:00ff", "app", "v2", "sha256:00ff"},
                        Case{"sha256:00ff", "", "", "sha256:00ff"}}) {
    ContainerMetadata metadata;
    split_image_reference(c.image, metadata);
    EXPECT_EQ(metadata.image_repository, c.repository) << c.image;
    EXPECT_EQ(metadata.image_tag, c.tag) << c.image;
    EXPECT_EQ(metadata.image_digest, c.digest) << c.image;
  }
}

TEST(StateRuntimeState, Rfc3339TimesParseWithFractionsAndOffsets) {
  EXPECT_EQ(parse_rfc3339_ns("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_rfc3339_ns("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_ns("2026-12-07T18:43:57.432694213Z"), 1796669037432694213);
  for (const char* bad : {"", "2026", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z",
                          "2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00+1:00"}) {
    EXPECT_FALSE(parse_rfc3339_ns(bad)) << bad;
  }
}

}  // namespace
