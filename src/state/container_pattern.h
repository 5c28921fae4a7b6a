#pragma once
// Which container, if any, a cgroup v2 path belongs to, from the path alone. Container
// runtimes name the cgroups they create after the container's id; this recognises those
// names. Pure string work: no files are read here (ContainerResolver adds names and caches).
#include <optional>
#include <string_view>

namespace vigil::state {

// container.type: who runs the container, as far as vigil can tell.
enum class ContainerRuntime : unsigned char {
  host,        // not in a container
  docker,      // "/docker/<id>", "docker-<id>.scope", or runc state under /run/docker
  containerd,  // "cri-containerd-<id>.scope", "/kubepods/.../pod<uid>/<id>", or runc state under /run/containerd
  crio,        // "crio-<id>.scope", "/kubepods/.../pod<uid>/crio-<id>"
  podman,      // "libpod-<id>.scope", "/libpod_parent/libpod-<id>"
  runc,        // a bare 64-hex id anywhere else, or runc's own state (/run/runc): runc used directly
  crun,        // crun's state (/run/crun)
  youki,       // youki's state (/run/youki)
  lxc,         // "lxc.payload.<name>" (and the namespaces of a container)
  nspawn,      // "systemd-nspawn@<name>.service", "machine-<name>.scope" (likewise)
  unknown,     // no runtime said so: its own pid and mount namespaces (docs/state.md)
};

std::string_view to_string(ContainerRuntime runtime);

struct ContainerMatch {
  ContainerRuntime runtime = ContainerRuntime::host;
  std::string_view full_id;  // 64 lowercase hex digits (lxc, nspawn: the name), a view into the path
  // Name-based patterns (lxc, nspawn) are also used by things that are not containers (libvirt
  // registers VMs as machine-<name>.scope): they count only for processes whose pid and mount
  // namespaces are not the host's.
  bool needs_own_namespaces = false;
};

// The full container id is 64 hex digits; container.id is its first 12 (as docker prints it).
inline constexpr std::size_t kFullContainerIdLength = 64;
inline constexpr std::size_t kShortContainerIdLength = 12;

// Recognises the innermost container cgroup in `cgroup_path` (a path in the cgroup v2
// hierarchy such as "/kubepods/besteffort/pod<uid>/<id>"); nullopt for host cgroups. A 64-hex
// match wins over a name-based one anywhere in the path. The
// components below the container's own (a container that makes sub-cgroups) keep the match.
// Runtime helper cgroups (conmon: "crio-conmon-<id>", "libpod-conmon-<id>") are host
// processes and do not match.
std::optional<ContainerMatch> match_container_cgroup(std::string_view cgroup_path);

}  // namespace vigil::state
