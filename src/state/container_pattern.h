#pragma once
// Which container, if any, a cgroup v2 path belongs to, from the path alone. Container
// runtimes name the cgroups they create after the container's id; this recognises those
// names. Pure string work: no files are read here (ContainerResolver adds names and caches).
#include <optional>
#include <string_view>

namespace vigil::state {

enum class ContainerRuntime : unsigned char {
  host,        // not in a container
  docker,      // "/docker/<id>", "docker-<id>.scope"
  containerd,  // "cri-containerd-<id>.scope", "/kubepods/.../pod<uid>/<id>"
  crio,        // "crio-<id>.scope", "/kubepods/.../pod<uid>/crio-<id>"
  podman,      // "libpod-<id>.scope", "/libpod_parent/libpod-<id>"
  runc,        // a bare 64-hex id anywhere else: an OCI runtime used directly (runc, ctr, ...)
};

std::string_view to_string(ContainerRuntime runtime);

struct ContainerMatch {
  ContainerRuntime runtime = ContainerRuntime::host;
  std::string_view full_id;  // 64 lowercase hex digits, a view into the parsed path
};

// The full container id is 64 hex digits; container.id is its first 12 (as docker prints it).
inline constexpr std::size_t kFullContainerIdLength = 64;
inline constexpr std::size_t kShortContainerIdLength = 12;

// Recognises the innermost container cgroup in `cgroup_path` (a path in the cgroup v2
// hierarchy such as "/kubepods/besteffort/pod<uid>/<id>"); nullopt for host cgroups. The
// components below the container's own (a container that makes sub-cgroups) keep the match.
// Runtime helper cgroups (conmon: "crio-conmon-<id>", "libpod-conmon-<id>") are host
// processes and do not match.
std::optional<ContainerMatch> match_container_cgroup(std::string_view cgroup_path);

}  // namespace vigil::state
