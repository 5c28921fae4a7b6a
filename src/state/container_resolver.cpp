#include "state/container_resolver.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <utility>

namespace vigil::state {

namespace {

// State files and configs are a few KiB; refuse to slurp anything much bigger.
constexpr std::size_t kMaxStateFileBytes = 4u << 20;

std::string read_bounded(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string text;
  text.resize(kMaxStateFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxStateFileBytes) return {};
  return text;
}

std::string_view state_file_name(RuntimeStateFormat format) {
  return format == RuntimeStateFormat::crun ? "status" : "state.json";
}

bool is_full_hex_id(std::string_view id) {
  if (id.size() != kFullContainerIdLength) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// container.id: docker's 12-digit short form of a 64-hex id; any other id whole.
std::string short_id(std::string_view full_id) {
  return std::string(is_full_hex_id(full_id) ? full_id.substr(0, kShortContainerIdLength) : full_id);
}

// A runtime id names a directory: nothing that could climb out of the state root.
bool is_safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 1024 && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> names;
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return names;
  while (const dirent* entry = ::readdir(handle)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN)) continue;
    names.emplace_back(name);
    if (names.size() >= 65536) break;  // bounds a hostile or huge directory
  }
  ::closedir(handle);
  return names;
}

std::int64_t mtime_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::uint32_t namespace_inode(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint32_t>(st.st_ino);
}

unsigned read_cap_last_cap(const std::string& proc_root) {
  std::ifstream in(proc_root + "/sys/kernel/cap_last_cap");
  unsigned value = 0;
  if (in >> value && value > 0 && value < 64) return value;
  return 40;
}

// Field 22 of /proc/PID/stat (starttime, clock ticks), counted from the last ')'; 0 when the
// process is gone or a zombie (it has exited: its namespaces are released, their inodes free
// for the next ones).
std::uint64_t start_ticks_of(const std::string& proc_root, std::uint32_t pid) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  if (stat[close + 2] == 'Z' || stat[close + 2] == 'X') return 0;
  std::size_t at = close + 2;
  for (int field = 3; field < 22 && at < stat.size(); ++field) {
    at = stat.find(' ', at);
    if (at == std::string::npos) return 0;
    ++at;
  }
  std::uint64_t value = 0;
  for (; at < stat.size() && stat[at] >= '0' && stat[at] <= '9'; ++at) value = value * 10 + (stat[at] - '0');
  return value;
}

// What the runtime managing a state root says beyond runc's own: /run/docker -> docker, ...
ContainerRuntime refine_runtime(ContainerRuntime from_pattern, const RuntimeStateRoot& root) {
  if (from_pattern == ContainerRuntime::runc || from_pattern == ContainerRuntime::unknown) return root.runtime;
  return from_pattern;
}

}  // namespace

std::string_view to_string(ContainerSource source) {
  switch (source) {
    case ContainerSource::host: return "host";
    case ContainerSource::cgroup: return "cgroup";
    case ContainerSource::runtime_state: return "runtime-state";
    case ContainerSource::namespaces: return "namespaces";
  }
  return "unknown";
}

std::vector<RuntimeStateRoot> default_runtime_state_roots() {
  return {
      {"/run/runc", RuntimeStateFormat::runc, ContainerRuntime::runc, false},
      {"/run/docker/runtime-runc/moby", RuntimeStateFormat::runc, ContainerRuntime::docker, false},
      {"/run/containerd/runc", RuntimeStateFormat::runc, ContainerRuntime::containerd, true},
      {"/run/crun", RuntimeStateFormat::crun, ContainerRuntime::crun, false},
      {"/run/containerd/crun", RuntimeStateFormat::crun, ContainerRuntime::containerd, true},
      {"/run/youki", RuntimeStateFormat::oci, ContainerRuntime::youki, false},
  };
}

Result<std::unique_ptr<ContainerResolver>> ContainerResolver::for_host(ContainerResolverOptions options) {
  auto mount = CgroupPaths::find_cgroup2_mount();
  if (!mount) return std::unexpected(mount.error());
  return std::make_unique<ContainerResolver>(std::make_unique<CgroupPaths>(*mount), std::move(options));
}

ContainerResolver::ContainerResolver(std::unique_ptr<CgroupPaths> paths, ContainerResolverOptions options)
    : paths_(std::move(paths)), options_(std::move(options)) {
  host_ = options_.host_namespaces ? *options_.host_namespaces : HostNamespaces::detect(options_.proc_root);
  cap_last_cap_ = options_.cap_last_cap != 0 ? options_.cap_last_cap : read_cap_last_cap(options_.proc_root);
}

const ContainerRef& ContainerResolver::host() {
  static const ContainerRef info = [] {
    auto host = std::make_shared<ContainerInfo>();
    host->id = "host";
    host->name = "host";
    return ContainerRef(std::move(host));
  }();
  return info;
}

const ContainerRef& ContainerResolver::provisional_host() {
  static const ContainerRef info = [] {
    auto host = std::make_shared<ContainerInfo>(*ContainerResolver::host());
    host->provisional = true;
    return ContainerRef(std::move(host));
  }();
  return info;
}

bool ContainerResolver::init_alive(std::uint32_t pid, std::uint64_t start_ticks) const {
  if (pid == 0) return false;
  // A state left behind (the runtime died, the host rebooted) may name a pid now used by
  // something else: the runtime's recorded start time tells them apart where it keeps one.
  const std::uint64_t running_since = start_ticks_of(options_.proc_root, pid);
  return running_since != 0 && (start_ticks == 0 || running_since == start_ticks);
}

void ContainerResolver::scan_state_roots(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && scanned_once_ && now - last_scan_ < options_.min_rescan_interval) return;
  scanned_once_ = true;
  last_scan_ = now;
  ++counters_.state_scans;
  std::vector<IndexedState> next;
  for (const RuntimeStateRoot& root : options_.state_roots) {
    std::vector<std::string> dirs;
    if (root.per_namespace) {
      for (const std::string& ns : subdirectories(root.dir)) {
        for (const std::string& id : subdirectories(root.dir + "/" + ns)) dirs.push_back(root.dir + "/" + ns + "/" + id);
      }
    } else {
      for (const std::string& id : subdirectories(root.dir)) dirs.push_back(root.dir + "/" + id);
    }
    for (const std::string& dir : dirs) {
      IndexedState entry;
      entry.file = dir + "/" + std::string(state_file_name(root.format));
      entry.mtime_ns = mtime_of(entry.file);
      if (entry.mtime_ns < 0) continue;
      entry.root = &root;
      // Unchanged since the last scan: keep what was parsed (and the namespaces of a live init).
      bool reused = false;
      for (IndexedState& old : index_) {
        if (old.file == entry.file && old.mtime_ns == entry.mtime_ns && old.root == &root) {
          entry = std::move(old);
          reused = true;
          break;
        }
      }
      if (!reused) {
        auto parsed = parse_runtime_state(read_bounded(entry.file), root.format);
        if (!parsed) continue;
        entry.state = std::move(*parsed);
        // crun's status does not repeat the id: it is the directory's name.
        if (root.format == RuntimeStateFormat::crun) entry.state.id = dir.substr(dir.rfind('/') + 1);
      }
      if (!init_alive(entry.state.pid, entry.state.pid_start_ticks)) continue;
      const std::string ns_dir = options_.proc_root + "/" + std::to_string(entry.state.pid) + "/ns/";
      entry.mnt_ns = namespace_inode(ns_dir + "mnt");
      entry.pid_ns = namespace_inode(ns_dir + "pid");
      next.push_back(std::move(entry));
    }
  }
  index_ = std::move(next);
}

std::optional<ContainerResolver::IndexedState> ContainerResolver::read_state_by_id(std::string_view id) {
  // Runtimes keep one directory per container, named by its id: read it directly (whether or
  // not its init still runs: late records of a container that just stopped still get a name).
  for (const RuntimeStateRoot& root : options_.state_roots) {
    std::vector<std::string> dirs;
    if (root.per_namespace) {
      for (const std::string& ns : subdirectories(root.dir)) dirs.push_back(root.dir + "/" + ns + "/" + std::string(id));
    } else {
      dirs.push_back(root.dir + "/" + std::string(id));
    }
    for (const std::string& dir : dirs) {
      IndexedState entry;
      entry.file = dir + "/" + std::string(state_file_name(root.format));
      entry.mtime_ns = mtime_of(entry.file);
      if (entry.mtime_ns < 0) continue;
      entry.root = &root;
      if (auto parsed = parse_runtime_state(read_bounded(entry.file), root.format)) entry.state = std::move(*parsed);
      // crun's status does not repeat the id: it is the directory's name.
      if (root.format == RuntimeStateFormat::crun) entry.state.id = std::string(id);
      return entry;
    }
  }
  return std::nullopt;
}

const ContainerResolver::IndexedState* ContainerResolver::find_state_by_namespaces(const ContainerKey& key,
                                                                                  bool& listing_skipped) {
  const auto lookup = [&]() -> const IndexedState* {
    // The mount namespace is what makes a container's filesystem; the pid namespace catches a
    // process in it that made a mount namespace of its own (but not the host's pid namespace).
    for (const IndexedState& entry : index_) {
      if (key.mnt_ns != 0 && entry.mnt_ns == key.mnt_ns && key.mnt_ns != host_.mnt_ns) return &entry;
    }
    for (const IndexedState& entry : index_) {
      if (key.pid_ns != 0 && entry.pid_ns == key.pid_ns && key.pid_ns != host_.pid_ns) return &entry;
    }
    return nullptr;
  };
  // Namespace inodes are reused once a namespace is gone: an entry counts only while its init
  // still runs, else the directories are listed again.
  if (const IndexedState* found = lookup(); found != nullptr && scanned_once_) {
    if (init_alive(found->state.pid, found->state.pid_start_ticks)) return found;
    scan_state_roots(true);
    return lookup();
  }
  // A new container's init has its own pid and mount namespaces: list the state directories
  // again (rate-limited). A process with only a mount namespace of its own is almost always a
  // host service (systemd's PrivateTmp=, ProtectSystem=): the listing may be up to a second old.
  const bool own_namespaces = key.pid_ns != host_.pid_ns && key.mnt_ns != host_.mnt_ns;
  if (!own_namespaces && scanned_once_ &&
      std::chrono::steady_clock::now() - last_scan_ < options_.min_rescan_interval_one_namespace) {
    listing_skipped = true;
    return nullptr;
  }
  scan_state_roots(false);
  return lookup();
}

void ContainerResolver::fill_metadata(ContainerInfo& info, const IndexedState* entry) {
  ContainerMetadata& metadata = info.metadata;
  if (entry != nullptr) {
    const RuntimeState& state = entry->state;
    info.init_pid = state.pid;
    info.init_start_ticks = state.pid_start_ticks;
    bool config_read = false;
    // crun keeps a copy of the config next to its status; others only point at the bundle.
    if (entry->root->format == RuntimeStateFormat::crun) {
      const std::string dir = entry->file.substr(0, entry->file.rfind('/'));
      config_read = apply_oci_config(read_bounded(dir + "/config.json"), cap_last_cap_, metadata);
    }
    if (!config_read && !state.bundle.empty() && state.bundle.starts_with('/')) {
      config_read = apply_oci_config(read_bounded(state.bundle + "/config.json"), cap_last_cap_, metadata);
    }
    apply_runtime_state(state, cap_last_cap_, metadata);
    info.metadata_known = true;
  }
  if (info.runtime == ContainerRuntime::docker && is_safe_name(info.full_id)) {
    const std::string dir = options_.docker_containers_dir + "/" + info.full_id;
    if (apply_docker_config(read_bounded(dir + "/config.v2.json"), read_bounded(dir + "/hostconfig.json"), metadata)) {
      info.metadata_known = true;
    }
  }
  // The runtime's name; runc and crun have none: the id the container was created with. No
  // runtime state at all: unknown ("").
  if (!metadata.name.empty()) {
    info.name = metadata.name;
  } else if (entry != nullptr) {
    info.name = entry->state.id;
  }
}

ContainerRef ContainerResolver::remember_container(const std::string& cache_key, ContainerInfo info) {
  auto ref = std::make_shared<const ContainerInfo>(std::move(info));
  containers_.insert_or_assign(cache_key, CachedContainer{ref, 0});
  return ref;
}

ContainerRef ContainerResolver::container_by_id(ContainerRuntime runtime, std::string_view full_id,
                                                std::string_view cgroup_path, bool from_pattern,
                                                const IndexedState* found_by) {
  const std::string cache_key(full_id);
  if (auto found = containers_.find(cache_key); found != containers_.end() && !found->second.ref->provisional) {
    const ContainerInfo& cached = *found->second.ref;
    if (found_by == nullptr ||
        (cached.init_pid == found_by->state.pid && cached.init_start_ticks == found_by->state.pid_start_ticks)) {
      return found->second.ref;
    }
  }
  ContainerInfo info;
  info.full_id = std::string(full_id);
  info.id = short_id(full_id);
  info.runtime = runtime;
  info.source = from_pattern ? ContainerSource::cgroup : ContainerSource::runtime_state;
  info.cgroup_path = std::string(cgroup_path);
  std::optional<IndexedState> entry;
  if (is_safe_name(full_id)) entry = read_state_by_id(full_id);
  if (entry) info.runtime = refine_runtime(runtime, *entry->root);
  fill_metadata(info, entry ? &*entry : nullptr);
  // Without the runtime's state the id is right but the metadata may still come (the runtime
  // writes its state after the container's first process runs).
  info.provisional = !info.metadata_known;
  return remember_container(cache_key, std::move(info));
}

ContainerRef ContainerResolver::container_from_state(const IndexedState& entry, std::string_view cgroup_path) {
  // The directory names the container (the id inside may be missing or different).
  const std::string dir = entry.file.substr(0, entry.file.rfind('/'));
  return container_by_id(entry.root->runtime, dir.substr(dir.rfind('/') + 1), cgroup_path, /*from_pattern=*/false,
                         &entry);
}

ContainerRef ContainerResolver::namespace_container(const ContainerKey& key, std::string_view cgroup_path) {
  const std::string id = "pidns-" + std::to_string(key.pid_ns);
  ContainerInfo info;
  info.id = id;
  info.full_id = id;
  info.runtime = ContainerRuntime::unknown;
  info.source = ContainerSource::namespaces;
  info.cgroup_path = std::string(cgroup_path);
  info.provisional = true;  // a runtime's state may still show up for it
  const std::string cache_key = "ns:" + id;
  if (auto found = containers_.find(cache_key); found != containers_.end()) return found->second.ref;
  return remember_container(cache_key, std::move(info));
}

ContainerRef ContainerResolver::identify(const ContainerKey& key, std::uint32_t /*pid*/, std::string_view cgroup_path) {
  ++counters_.resolutions;
  std::string path_storage;
  bool path_known = !cgroup_path.empty();
  if (!path_known && key.cgroup_id != 0) {
    if (auto path = paths_->path_of(key.cgroup_id)) {
      path_storage = std::move(*path);
      cgroup_path = path_storage;
      path_known = true;
    }
  }
  const bool namespaces_known = host_.known() && key.pid_ns != 0 && key.mnt_ns != 0;
  const bool own_namespaces = namespaces_known && key.pid_ns != host_.pid_ns && key.mnt_ns != host_.mnt_ns;
  // 1. A runtime's cgroup naming.
  if (path_known) {
    if (const auto match = match_container_cgroup(cgroup_path);
        match && (!match->needs_own_namespaces || own_namespaces)) {
      return container_by_id(match->runtime, match->full_id, cgroup_path, /*from_pattern=*/true);
    }
  }
  // 2. A runtime's state listing a container in these namespaces.
  bool listing_skipped = false;
  if (namespaces_known && (key.mnt_ns != host_.mnt_ns || key.pid_ns != host_.pid_ns)) {
    if (const IndexedState* entry = find_state_by_namespaces(key, listing_skipped)) {
      ++counters_.by_runtime_state;
      return container_from_state(*entry, cgroup_path);
    }
  }
  // 3. Namespaces of its own: a container whatever made it.
  if (own_namespaces) {
    ++counters_.by_namespaces;
    return namespace_container(key, cgroup_path);
  }
  if (!path_known && !namespaces_known) {
    ++counters_.unresolved;
    auto unresolved = std::make_shared<ContainerInfo>();
    unresolved->resolved = false;
    return unresolved;
  }
  // Not listed again for this key: a container started since the last listing would not show
  // (`nsenter --mount` into it). Cached for good, that would be the host for the key's life.
  return listing_skipped ? provisional_host() : host();
}

void ContainerResolver::remember_key(const ContainerKey& key, ContainerRef ref) {
  if (by_key_.size() >= options_.max_cached) {
    by_key_.clear();
    ++counters_.cache_resets;
  }
  CachedKey cached;
  cached.ref = std::move(ref);
  cached.next_retry = std::chrono::steady_clock::now() + options_.first_retry;
  by_key_.insert_or_assign(key, std::move(cached));
}

ContainerRef ContainerResolver::resolve(const ContainerKey& key, std::uint32_t pid, std::string_view cgroup_path) {
  ++counters_.lookups;
  if (auto found = by_key_.find(key); found != by_key_.end()) {
    CachedKey& cached = found->second;
    // Namespace inodes are reused: a key of a container found through its runtime's state holds
    // only while that container's init runs (checked on hits, which happen when a process's
    // key changes, not per record).
    const bool stale = cached.ref->source == ContainerSource::runtime_state && cached.ref->init_pid != 0 &&
                       !init_alive(cached.ref->init_pid, cached.ref->init_start_ticks);
    if (stale) {
      scan_state_roots(true);
      cached.ref = identify(key, pid, cgroup_path);
      cached.retries = 0;
      return cached.ref;
    }
    if (!cached.ref->provisional || cached.retries >= options_.max_retries) return cached.ref;
    const auto now = std::chrono::steady_clock::now();
    if (now < cached.next_retry) return cached.ref;
    ++counters_.retries;
    ++cached.retries;
    cached.next_retry = now + options_.first_retry * (1 << std::min(cached.retries, 20));
    // A key identified by namespaces alone is asked again whether a runtime has it now.
    if (cached.ref->source == ContainerSource::namespaces) scan_state_roots(false);
    ContainerRef again = identify(key, pid, cgroup_path);
    cached.ref = again;
    return again;
  }
  ContainerRef ref = identify(key, pid, cgroup_path);
  remember_key(key, ref);
  return ref;
}

ContainerInfo ContainerResolver::describe(std::string_view cgroup_path) {
  const auto match = match_container_cgroup(cgroup_path);
  if (!match || match->needs_own_namespaces) {
    ContainerInfo info = *host();
    info.cgroup_path = std::string(cgroup_path);
    return info;
  }
  return *container_by_id(match->runtime, match->full_id, cgroup_path, /*from_pattern=*/true);
}

void ContainerResolver::expire(std::uint64_t now_ns) {
  // References the resolver holds itself: one in containers_, one per key.
  std::unordered_map<const ContainerInfo*, long> own_references;
  for (const auto& [key, cached] : by_key_) ++own_references[cached.ref.get()];
  for (auto it = containers_.begin(); it != containers_.end();) {
    CachedContainer& cached = it->second;
    const long held = 1 + own_references[cached.ref.get()];
    if (cached.ref.use_count() > held) {
      cached.idle_since_ns = 0;
      ++it;
      continue;
    }
    if (cached.idle_since_ns == 0) cached.idle_since_ns = now_ns == 0 ? 1 : now_ns;
    if (now_ns - cached.idle_since_ns < options_.forget_after_ns) {
      ++it;
      continue;
    }
    const ContainerInfo* gone = cached.ref.get();
    std::erase_if(by_key_, [gone](const auto& entry) { return entry.second.ref.get() == gone; });
    it = containers_.erase(it);
    ++counters_.forgotten;
  }
}

}  // namespace vigil::state
