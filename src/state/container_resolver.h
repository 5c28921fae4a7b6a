#pragma once
// cgroup v2 id -> container attribution, cached per cgroup id: each cgroup is resolved (path,
// pattern, name) once, after which a lookup is one hash probe. cgroup ids are never reused
// (64-bit kernfs ids), so a cached answer stays right for as long as the id exists.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "state/cgroup_paths.h"
#include "state/container_pattern.h"

namespace vigil::state {

struct ContainerInfo {
  std::string id;           // container.id: first 12 hex digits; "host" outside containers; "" unknown
  std::string full_id;      // 64 hex digits; "" for host and unknown
  std::string name;         // container.name: "host" for host; runtime's name where known, else ""
  ContainerRuntime runtime = ContainerRuntime::host;
  std::string cgroup_path;  // cgroup v2 path ("/docker/<id>"); "" when it could not be resolved
  bool resolved = true;     // false: the cgroup was gone (or unreadable) before it was looked up

  bool is_host() const { return resolved && runtime == ContainerRuntime::host; }
  bool is_container() const { return runtime != ContainerRuntime::host; }
};

using ContainerRef = std::shared_ptr<const ContainerInfo>;

struct ContainerResolverOptions {
  // Directories holding runc's per-container state (<root>/<id>/state.json), searched in
  // order for container names: runc's default, docker's and containerd's (by namespace).
  std::vector<std::string> runc_state_roots = {"/run/runc", "/run/docker/runtime-runc/moby",
                                               "/run/containerd/runc/k8s.io",
                                               "/run/containerd/runc/default", "/run/containerd/runc/moby"};
  // Cached cgroups; when full the cache is emptied and refilled (entries already handed out
  // stay valid: they are shared).
  std::size_t max_cached = 1 << 16;
};

struct ContainerCounters {
  std::uint64_t lookups = 0;     // by_cgroup_id / by_cgroup_path calls
  std::uint64_t resolutions = 0; // cache misses that resolved a cgroup
  std::uint64_t unresolved = 0;  // cgroup ids whose path could not be found
  std::uint64_t cache_resets = 0;
};

class ContainerResolver {
 public:
  ContainerResolver(std::unique_ptr<CgroupPaths> paths, ContainerResolverOptions options = {});
  // A resolver for this host: the cgroup v2 hierarchy found in /proc/self/mountinfo.
  static Result<std::unique_ptr<ContainerResolver>> for_host(ContainerResolverOptions options = {});

  // Attribution of the cgroup with this id (bpf_get_current_cgroup_id). Never null. Returned
  // by value: a cache reset must not leave the caller with a dangling reference.
  ContainerRef by_cgroup_id(std::uint64_t cgroup_id);
  // Attribution of a cgroup v2 path (from /proc/PID/cgroup); also caches it by id.
  ContainerRef by_cgroup_path(std::string_view cgroup_path);

  // The one shared host record: id "host", name "host".
  static const ContainerRef& host();

  // Builds the attribution of a path without touching the cache or the id (for tests and
  // for callers that only have a path).
  ContainerInfo describe(std::string_view cgroup_path) const;

  CgroupPaths& paths() { return *paths_; }
  const ContainerCounters& counters() const { return counters_; }

 private:
  std::string name_from_runc_state(std::string_view full_id) const;
  const ContainerRef& remember(std::uint64_t cgroup_id, ContainerRef info);

  std::unique_ptr<CgroupPaths> paths_;
  ContainerResolverOptions options_;
  std::unordered_map<std::uint64_t, ContainerRef> by_id_;
  ContainerCounters counters_;
};

}  // namespace vigil::state
