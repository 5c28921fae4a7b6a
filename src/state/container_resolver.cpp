#include "state/container_resolver.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <utility>

namespace vigil::state {

namespace {

// state.json of a running container is a few KiB; refuse to slurp anything much bigger.
constexpr std::size_t kMaxStateFileBytes = 4u << 20;

// OCI annotations that carry a human name, most specific first. runc copies annotations into
// its state as "key=value" labels.
constexpr std::string_view kNameAnnotations[] = {
    "io.kubernetes.cri.container-name",  // containerd CRI
    "io.kubernetes.container.name",      // cri-o
    "nerdctl/name",                      // nerdctl
};

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

ContainerRef make_unresolved() {
  auto info = std::make_shared<ContainerInfo>();
  info->resolved = false;
  return info;
}

}  // namespace

Result<std::unique_ptr<ContainerResolver>> ContainerResolver::for_host(ContainerResolverOptions options) {
  auto mount = CgroupPaths::find_cgroup2_mount();
  if (!mount) return std::unexpected(mount.error());
  return std::make_unique<ContainerResolver>(std::make_unique<CgroupPaths>(*mount), std::move(options));
}

ContainerResolver::ContainerResolver(std::unique_ptr<CgroupPaths> paths, ContainerResolverOptions options)
    : paths_(std::move(paths)), options_(std::move(options)) {}

const ContainerRef& ContainerResolver::host() {
  static const ContainerRef info = [] {
    auto host = std::make_shared<ContainerInfo>();
    host->id = "host";
    host->name = "host";
    return ContainerRef(std::move(host));
  }();
  return info;
}

std::string ContainerResolver::name_from_runc_state(std::string_view full_id) const {
  for (const std::string& root : options_.runc_state_roots) {
    const std::string text = read_bounded(root + "/" + std::string(full_id) + "/state.json");
    if (text.empty()) continue;
    const auto state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!state.is_object()) continue;
    if (const auto config = state.find("config"); config != state.end() && config->is_object()) {
      if (const auto labels = config->find("labels"); labels != config->end() && labels->is_array()) {
        for (std::string_view wanted : kNameAnnotations) {
          for (const auto& label : *labels) {
            if (!label.is_string()) continue;
            const std::string& text_label = label.get_ref<const std::string&>();
            if (text_label.size() > wanted.size() && text_label.starts_with(wanted) && text_label[wanted.size()] == '=') {
              return text_label.substr(wanted.size() + 1);
            }
          }
        }
      }
    }
    // runc itself has no names: the id the container was created with is the name.
    if (const auto id = state.find("id"); id != state.end() && id->is_string()) return id->get<std::string>();
  }
  return {};
}

ContainerInfo ContainerResolver::describe(std::string_view cgroup_path) const {
  ContainerInfo info;
  info.cgroup_path = std::string(cgroup_path);
  const auto match = match_container_cgroup(cgroup_path);
  if (!match) {
    info.id = "host";
    info.name = "host";
    return info;
  }
  info.runtime = match->runtime;
  info.full_id = std::string(match->full_id);
  info.id = info.full_id.substr(0, kShortContainerIdLength);
  info.name = name_from_runc_state(match->full_id);
  return info;
}

const ContainerRef& ContainerResolver::remember(std::uint64_t cgroup_id, ContainerRef info) {
  if (by_id_.size() >= options_.max_cached) {
    by_id_.clear();
    ++counters_.cache_resets;
  }
  return by_id_.insert_or_assign(cgroup_id, std::move(info)).first->second;
}

ContainerRef ContainerResolver::by_cgroup_id(std::uint64_t cgroup_id) {
  ++counters_.lookups;
  if (auto found = by_id_.find(cgroup_id); found != by_id_.end()) return found->second;
  auto path = paths_->path_of(cgroup_id);
  if (!path) {
    ++counters_.unresolved;
    return remember(cgroup_id, make_unresolved());
  }
  ++counters_.resolutions;
  ContainerInfo info = describe(*path);
  if (!info.is_container()) {
    // Share the one host record, but keep nothing path-specific in it.
    return remember(cgroup_id, host());
  }
  return remember(cgroup_id, std::make_shared<const ContainerInfo>(std::move(info)));
}

ContainerRef ContainerResolver::by_cgroup_path(std::string_view cgroup_path) {
  auto id = paths_->id_of(cgroup_path);
  if (id) {
    if (auto found = by_id_.find(*id); found != by_id_.end()) {
      ++counters_.lookups;
      return found->second;
    }
  }
  ++counters_.lookups;
  ++counters_.resolutions;
  ContainerInfo info = describe(cgroup_path);
  ContainerRef ref = info.is_container() ? std::make_shared<const ContainerInfo>(std::move(info)) : host();
  if (id) remember(*id, ref);
  return ref;
}

}  // namespace vigil::state
