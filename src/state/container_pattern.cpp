#include "state/container_pattern.h"

#include <array>

namespace vigil::state {

std::string_view to_string(ContainerRuntime runtime) {
  switch (runtime) {
    case ContainerRuntime::host: return "host";
    case ContainerRuntime::docker: return "docker";
    case ContainerRuntime::containerd: return "containerd";
    case ContainerRuntime::crio: return "cri-o";
    case ContainerRuntime::podman: return "podman";
    case ContainerRuntime::runc: return "runc";
    case ContainerRuntime::crun: return "crun";
    case ContainerRuntime::youki: return "youki";
    case ContainerRuntime::lxc: return "lxc";
    case ContainerRuntime::nspawn: return "systemd-nspawn";
    case ContainerRuntime::unknown: return "unknown";
  }
  return "unknown";
}

namespace {

// Runtimes write ids in lowercase hex; uppercase is not accepted so that an arbitrary
// operator-made cgroup name is less likely to look like a container.
bool is_full_id(std::string_view text) {
  if (text.size() != kFullContainerIdLength) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

struct Prefix {
  std::string_view text;
  ContainerRuntime runtime;
};

// "<prefix><id>" or "<prefix><id>.scope" (the systemd cgroup driver's form).
constexpr std::array kPrefixes = {
    Prefix{"docker-", ContainerRuntime::docker},
    Prefix{"cri-containerd-", ContainerRuntime::containerd},
    Prefix{"crio-", ContainerRuntime::crio},
    Prefix{"libpod-", ContainerRuntime::podman},
};

std::string_view strip_scope(std::string_view component) {
  constexpr std::string_view scope = ".scope";
  if (component.ends_with(scope)) component.remove_suffix(scope.size());
  return component;
}

bool is_kubepods(std::string_view component) {
  return component == "kubepods" || component.starts_with("kubepods-") || component == "kubepods.slice";
}

// Names the runtimes give their containers' cgroups ("lxc.payload.web"): the name, or "".
std::string_view name_of_named_container(std::string_view component, ContainerRuntime& runtime) {
  constexpr std::string_view lxc = "lxc.payload.";
  constexpr std::string_view nspawn_service = "systemd-nspawn@";
  constexpr std::string_view machine = "machine-";
  std::string_view name;
  if (component.starts_with(lxc)) {
    runtime = ContainerRuntime::lxc;
    name = component.substr(lxc.size());
  } else if (component.starts_with(nspawn_service) && component.ends_with(".service")) {
    runtime = ContainerRuntime::nspawn;
    name = component.substr(nspawn_service.size(), component.size() - nspawn_service.size() - 8);
  } else if (component.starts_with(machine) && component.ends_with(".scope")) {
    runtime = ContainerRuntime::nspawn;
    name = component.substr(machine.size(), component.size() - machine.size() - 6);
  }
  return name;
}

// One path component, given the components above it: a container or not.
std::optional<ContainerMatch> match_component(std::string_view component, std::string_view parent,
                                              bool under_kubepods) {
  const std::string_view name = strip_scope(component);
  for (const Prefix& prefix : kPrefixes) {
    if (name.starts_with(prefix.text) && is_full_id(name.substr(prefix.text.size()))) {
      return ContainerMatch{prefix.runtime, name.substr(prefix.text.size())};
    }
  }
  if (!is_full_id(name)) return std::nullopt;
  // A bare id: who made it depends on where it sits (cgroupfs driver layouts).
  if (parent == "docker") return ContainerMatch{ContainerRuntime::docker, name};
  if (under_kubepods) return ContainerMatch{ContainerRuntime::containerd, name};
  return ContainerMatch{ContainerRuntime::runc, name};
}

}  // namespace

std::optional<ContainerMatch> match_container_cgroup(std::string_view cgroup_path) {
  std::optional<ContainerMatch> innermost;
  std::optional<ContainerMatch> named;
  std::string_view parent;
  bool under_kubepods = false;
  std::size_t position = 0;
  while (position <= cgroup_path.size()) {
    std::size_t end = cgroup_path.find('/', position);
    if (end == std::string_view::npos) end = cgroup_path.size();
    const std::string_view component = cgroup_path.substr(position, end - position);
    position = end + 1;
    if (component.empty()) continue;
    if (auto match = match_component(component, parent, under_kubepods)) innermost = match;
    ContainerRuntime runtime = ContainerRuntime::host;
    if (const std::string_view name = name_of_named_container(component, runtime); !name.empty()) {
      named = ContainerMatch{runtime, name, /*needs_own_namespaces=*/true};
    }
    if (is_kubepods(component)) under_kubepods = true;
    parent = component;
  }
  return innermost ? innermost : named;
}

}  // namespace vigil::state
