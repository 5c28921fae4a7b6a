#pragma once
// What container runtimes write about their containers, parsed: runc's and youki's state.json,
// crun's status, an OCI bundle's config.json, docker's config.v2.json and hostconfig.json.
// Every byte is untrusted (a container's creator writes its annotations; a bundle may be in a
// user's directory), so parsing never throws, keeps what it understands and bounds what it
// keeps. Pure functions: no files are read here (ContainerResolver reads, with size limits).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time_text.h"

namespace vigil::state {

using KeyValues = std::vector<std::pair<std::string, std::string>>;  // sorted by key, keys unique

// One mount of a container (container.mount* fields).
struct ContainerMount {
  std::string source;
  std::string destination;
  std::string type;         // "bind", "proc", "tmpfs", ... ("" when the runtime does not say)
  bool read_write = true;   // false: mounted read-only
  std::string mode;         // "ro" or "rw" (docker's own Mode string when docker says)
  std::string propagation;  // "rprivate", "shared", ...; "" when none was asked for
};

// What the runtime knows about a container beyond its id.
struct ContainerMetadata {
  std::string name;           // container.name ("" when the runtime has none)
  std::string image;          // the reference as the runtime has it ("docker.io/library/nginx:1.25")
  std::string image_repository, image_tag, image_digest;  // split from `image`
  std::string image_id;       // "sha256:..." where the runtime says (CRI-O, docker)
  bool privileged = false;    // every capability in the bounding set, or the runtime's flag
  bool host_pid = false;      // the config asks for no pid namespace of its own
  bool host_network = false;  // ... no network namespace
  bool host_ipc = false;      // ... no ipc namespace
  std::vector<ContainerMount> mounts;
  KeyValues labels;           // OCI annotations, or docker's labels (container.label[...])
  std::string k8s_pod_name, k8s_namespace, k8s_pod_uid;
  KeyValues k8s_pod_labels;   // CRI-O's io.kubernetes.cri-o.Labels (containerd does not pass them on)
  std::int64_t created_ns = 0;  // wall clock, ns since the epoch; 0 unknown
};

// The formats of the runtimes' per-container state files.
enum class RuntimeStateFormat : std::uint8_t {
  runc,  // <root>/<id>/state.json: libcontainer's state (id, init_process_pid, config.labels, ...)
  crun,  // <root>/<id>/status: pid, process-start-time, bundle, cgroup-path, created
  oci,   // <root>/<id>/state.json as the OCI runtime spec's state (youki): id, pid, bundle, annotations
};

// One container as its runtime's state file describes it.
struct RuntimeState {
  std::string id;
  std::uint32_t pid = 0;              // host pid of the container's init
  std::uint64_t pid_start_ticks = 0;  // its /proc/PID/stat starttime, when the runtime records it
  std::string bundle;                 // the OCI bundle directory ("" unknown)
  std::string cgroup_path;            // as the runtime placed it ("" unknown or none)
  std::int64_t created_ns = 0;
  KeyValues annotations;
  // From libcontainer's config inside runc's state (used when the bundle is gone).
  std::vector<std::string> bounding_capabilities;
  bool capabilities_known = false;
  std::vector<ContainerMount> mounts;
  std::vector<std::string> namespaces;  // "pid", "network", "ipc", ... it has of its own
  bool namespaces_known = false;
};

// Limits on what a parse keeps from one file.
inline constexpr std::size_t kMaxStateMounts = 256;
inline constexpr std::size_t kMaxStateLabels = 512;
inline constexpr std::size_t kMaxStateString = 4096;

std::optional<RuntimeState> parse_runtime_state(std::string_view text, RuntimeStateFormat format);

// Applies an OCI bundle's config.json: annotations (name, image, Kubernetes), mounts, the
// bounding capabilities (privileged when they cover 0..cap_last_cap), namespaces. False when
// the text is not a JSON object.
bool apply_oci_config(std::string_view text, unsigned cap_last_cap, ContainerMetadata& out);
// What a runc state adds when the bundle's config.json cannot be read.
void apply_runtime_state(const RuntimeState& state, unsigned cap_last_cap, ContainerMetadata& out);
// Docker's own files (/var/lib/docker/containers/<id>/): name, image, labels, mounts, privileged.
bool apply_docker_config(std::string_view config_v2, std::string_view hostconfig, ContainerMetadata& out);
// Name, image and Kubernetes fields from annotations (docs/state.md lists which, in order).
void apply_annotations(const KeyValues& annotations, ContainerMetadata& out);

// "registry/repo:tag@sha256:..." -> repository, tag, digest (each "" when absent).
void split_image_reference(std::string_view image, ContainerMetadata& out);
// RFC 3339 times in runtime state files: the one parser vigil has (common/time_text.h).
using ::vigil::parse_rfc3339_ns;

// The value of `key` in sorted key/values, or nullptr.
const std::string* find_value(const KeyValues& values, std::string_view key);

}  // namespace vigil::state
