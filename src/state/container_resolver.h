#pragma once
// Which container a process is in, found by what containers are, not by how they are named
// (docs/state.md, "Containers"): its cgroup when a runtime's naming says so, else a runtime's
// own state (runc, crun, youki state directories) that has a container in the process's mount
// or pid namespace, else its own pid and mount namespaces (a container no runtime admits to).
// Answers are cached per (cgroup id, mount namespace, pid namespace) and each container's
// metadata (name, image, mounts, Kubernetes pod) is read once per container; a container no
// process refers to any more is forgotten after a grace period.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "state/cgroup_paths.h"
#include "state/container_pattern.h"
#include "state/host_namespaces.h"
#include "state/runtime_state.h"

namespace vigil::state {

// How an attribution was made.
enum class ContainerSource : std::uint8_t {
  host,           // neither a runtime nor the namespaces say container
  cgroup,         // a runtime's cgroup naming (docker-<id>.scope, /kubepods/..., lxc.payload.<name>)
  runtime_state,  // a runtime's state directory lists a container in these namespaces
  namespaces,     // no runtime says so, but the pid and mount namespaces are not the host's
};
std::string_view to_string(ContainerSource source);

struct ContainerInfo {
  std::string id;           // container.id: 12 hex digits of a 64-hex id, else the runtime's whole id;
                            // "host" outside containers; "" unknown (unresolved)
  std::string full_id;      // the runtime's whole id; "" for host and unknown
  std::string name;         // container.name: "host" for host; the runtime's name (runc, crun: the
                            // id it was created with); "" when no runtime state was found
  ContainerRuntime runtime = ContainerRuntime::host;  // container.type
  ContainerSource source = ContainerSource::host;
  std::string cgroup_path;  // cgroup v2 path of the process it was resolved for; "" when gone
  std::uint32_t init_pid = 0;  // host pid of its init, when a runtime's state says
  std::uint64_t init_start_ticks = 0;  // and its start time (clock ticks), when the state records it
  bool resolved = true;     // false: the cgroup was gone and the namespaces said nothing
  // Found by namespaces alone, or without the runtime's metadata: looked up again a few times
  // (the runtime writes its state after the container's first processes run).
  bool provisional = false;
  bool metadata_known = false;  // `metadata` came from the runtime (state, bundle, docker)
  ContainerMetadata metadata;

  bool is_host() const { return resolved && runtime == ContainerRuntime::host; }
  bool is_container() const { return runtime != ContainerRuntime::host; }
};

using ContainerRef = std::shared_ptr<const ContainerInfo>;

// What the probe's header says about where a task lives.
struct ContainerKey {
  std::uint64_t cgroup_id = 0;  // 0: unknown
  std::uint32_t mnt_ns = 0;     // namespace inodes; 0: unknown
  std::uint32_t pid_ns = 0;
  bool operator==(const ContainerKey&) const = default;
};

// A directory where a runtime keeps one subdirectory per container.
struct RuntimeStateRoot {
  std::string dir;
  RuntimeStateFormat format = RuntimeStateFormat::runc;
  ContainerRuntime runtime = ContainerRuntime::runc;  // container.type of what is found there
  bool per_namespace = false;  // one more level: <dir>/<namespace>/<id> (containerd)
};

std::vector<RuntimeStateRoot> default_runtime_state_roots();

struct ContainerResolverOptions {
  std::vector<RuntimeStateRoot> state_roots = default_runtime_state_roots();
  std::string docker_containers_dir = "/var/lib/docker/containers";
  std::string proc_root = "/proc";
  std::optional<HostNamespaces> host_namespaces;  // nullopt: HostNamespaces::detect(proc_root)
  unsigned cap_last_cap = 0;  // 0: /proc/sys/kernel/cap_last_cap (40 when unreadable)
  // Cached keys; when full the key cache is emptied and refilled (entries already handed out
  // stay valid: they are shared).
  std::size_t max_cached = 1 << 16;
  // Provisional answers are looked up again after first_retry, then twice as long each time,
  // at most max_retries times.
  std::chrono::steady_clock::duration first_retry = std::chrono::milliseconds(50);
  int max_retries = 8;
  // The state directories are listed again at most this often (on a miss).
  std::chrono::steady_clock::duration min_rescan_interval = std::chrono::milliseconds(50);
  // ... and at most this often for a process with only one namespace of its own (nearly always
  // a host service: PrivateTmp=, a sandbox). A host answer given from an older listing than a
  // fresh one would be is provisional: a container's mount namespace joined with setns right
  // after the container started is found on a later look.
  std::chrono::steady_clock::duration min_rescan_interval_one_namespace = std::chrono::seconds(1);
  // A container no process refers to is forgotten after this long (event time, ns).
  std::uint64_t forget_after_ns = 30'000'000'000ull;
};

struct ContainerCounters {
  std::uint64_t lookups = 0;          // resolve calls
  std::uint64_t resolutions = 0;      // keys identified (first time or again)
  std::uint64_t unresolved = 0;       // keys whose cgroup was gone and namespaces said nothing
  std::uint64_t by_runtime_state = 0; // keys attributed through a runtime's state by namespace
  std::uint64_t by_namespaces = 0;    // keys attributed by their namespaces alone
  std::uint64_t retries = 0;          // provisional answers looked up again
  std::uint64_t state_scans = 0;      // listings of the state directories
  std::uint64_t forgotten = 0;        // containers dropped after their grace
  std::uint64_t cache_resets = 0;
};

class ContainerResolver {
 public:
  ContainerResolver(std::unique_ptr<CgroupPaths> paths, ContainerResolverOptions options = {});
  // A resolver for this host: the cgroup v2 hierarchy found in /proc/self/mountinfo.
  static Result<std::unique_ptr<ContainerResolver>> for_host(ContainerResolverOptions options = {});

  // The container of a task with this key. `pid`: a live process with it (0: none known);
  // `cgroup_path`: its cgroup path when the caller has it (from /proc), else looked up by id.
  // Never null. Returned by value: a cache reset must not leave a dangling reference.
  ContainerRef resolve(const ContainerKey& key, std::uint32_t pid = 0, std::string_view cgroup_path = {});
  // The cgroup alone (namespaces unknown).
  ContainerRef by_cgroup_id(std::uint64_t cgroup_id) { return resolve(ContainerKey{cgroup_id, 0, 0}); }

  // The one shared host record: id "host", name "host".
  static const ContainerRef& host();
  // The same, provisional: the host as far as a listing up to
  // min_rescan_interval_one_namespace old shows.
  static const ContainerRef& provisional_host();

  // The attribution a cgroup path alone gives (runtime naming plus the runtime's metadata for
  // that id), without the cache or namespaces.
  ContainerInfo describe(std::string_view cgroup_path);

  // Forgets containers no process has referred to for forget_after_ns (now_ns: event time).
  void expire(std::uint64_t now_ns);

  const HostNamespaces& host_namespaces() const { return host_; }
  CgroupPaths& paths() { return *paths_; }
  const ContainerCounters& counters() const { return counters_; }
  std::size_t cached_containers() const { return containers_.size(); }

 private:
  struct KeyHash {
    std::size_t operator()(const ContainerKey& key) const noexcept {
      return std::hash<std::uint64_t>()(key.cgroup_id * 0x9e3779b97f4a7c15ull ^
                                        (static_cast<std::uint64_t>(key.mnt_ns) << 32 | key.pid_ns));
    }
  };
  struct CachedKey {
    ContainerRef ref;
    std::chrono::steady_clock::time_point next_retry{};
    int retries = 0;
  };
  struct CachedContainer {
    ContainerRef ref;
    std::uint64_t idle_since_ns = 0;  // event time it was first seen unused; 0: in use
  };
  struct IndexedState {
    std::string file;        // the state file
    std::int64_t mtime_ns = 0;
    const RuntimeStateRoot* root = nullptr;
    RuntimeState state;
    std::uint32_t mnt_ns = 0, pid_ns = 0;  // of its init, 0 when it is gone
  };

  ContainerRef identify(const ContainerKey& key, std::uint32_t pid, std::string_view cgroup_path);
  // `entry`: the runtime state that found it by namespaces (a cached record of another init
  // with the same id, a container re-created under its name, is replaced).
  ContainerRef container_by_id(ContainerRuntime runtime, std::string_view full_id, std::string_view cgroup_path,
                               bool from_pattern, const IndexedState* entry = nullptr);
  ContainerRef container_from_state(const IndexedState& entry, std::string_view cgroup_path);
  ContainerRef namespace_container(const ContainerKey& key, std::string_view cgroup_path);
  std::optional<IndexedState> read_state_by_id(std::string_view id);
  // `listing_skipped`: set when nothing was found and the directories were not listed again
  // (rate limit): the answer may still change.
  const IndexedState* find_state_by_namespaces(const ContainerKey& key, bool& listing_skipped);
  void scan_state_roots(bool force);
  void fill_metadata(ContainerInfo& info, const IndexedState* entry);
  ContainerRef remember_container(const std::string& cache_key, ContainerInfo info);
  void remember_key(const ContainerKey& key, ContainerRef ref);
  // Whether the init a runtime's state names still runs (its start time, where recorded,
  // tells a reused pid apart).
  bool init_alive(std::uint32_t pid, std::uint64_t start_ticks) const;

  std::unique_ptr<CgroupPaths> paths_;
  ContainerResolverOptions options_;
  HostNamespaces host_;
  unsigned cap_last_cap_ = 40;
  std::unordered_map<ContainerKey, CachedKey, KeyHash> by_key_;
  std::unordered_map<std::string, CachedContainer> containers_;
  std::vector<IndexedState> index_;
  std::chrono::steady_clock::time_point last_scan_{};
  bool scanned_once_ = false;
  ContainerCounters counters_;
};

}  // namespace vigil::state
