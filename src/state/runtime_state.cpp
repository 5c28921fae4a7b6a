#include "state/runtime_state.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>

namespace vigil::state {

namespace {

using nlohmann::json;

json parse(std::string_view text) { return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false); }

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

// The string at `key`, bounded; "" when absent or not a string.
std::string string_at(const json& object, std::string_view key) {
  const json* value = member(object, key);
  if (value == nullptr || !value->is_string()) return {};
  const auto& text = value->get_ref<const std::string&>();
  return text.size() > kMaxStateString ? std::string() : text;
}

std::uint64_t unsigned_at(const json& object, std::string_view key) {
  const json* value = member(object, key);
  if (value == nullptr) return 0;
  if (value->is_number_unsigned()) return value->get<std::uint64_t>();
  if (value->is_number_integer()) {
    const auto number = value->get<std::int64_t>();
    return number > 0 ? static_cast<std::uint64_t>(number) : 0;
  }
  return 0;
}

std::uint32_t pid_at(const json& object, std::string_view key) {
  const std::uint64_t pid = unsigned_at(object, key);
  return pid <= 0x3fffffff ? static_cast<std::uint32_t>(pid) : 0;  // above PID_MAX_LIMIT: not a pid
}

void sort_unique(KeyValues& values) {
  std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // A repeated key keeps its first value.
  values.erase(std::unique(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
               values.end());
}

void add_label(KeyValues& values, std::string key, std::string value) {
  if (values.size() >= kMaxStateLabels || key.empty() || key.size() > kMaxStateString ||
      value.size() > kMaxStateString) {
    return;
  }
  values.emplace_back(std::move(key), std::move(value));
}

KeyValues object_labels(const json* object) {
  KeyValues labels;
  if (object == nullptr || !object->is_object()) return labels;
  for (const auto& [key, value] : object->items()) {
    if (value.is_string()) add_label(labels, key, value.get<std::string>());
  }
  sort_unique(labels);
  return labels;
}

const std::set<std::string_view>& propagation_options() {
  static const std::set<std::string_view> options = {"private", "rprivate", "shared", "rshared", "slave", "rslave",
                                                     "unbindable", "runbindable"};
  return options;
}

void add_mount(std::vector<ContainerMount>& mounts, ContainerMount mount) {
  if (mounts.size() >= kMaxStateMounts || mount.destination.empty()) return;
  mount.mode = mount.read_write ? "rw" : "ro";
  mounts.push_back(std::move(mount));
}

// OCI config.json mounts: {destination, type, source, options: [...]}.
void oci_mounts(const json* list, std::vector<ContainerMount>& out) {
  if (list == nullptr || !list->is_array()) return;
  for (const json& entry : *list) {
    ContainerMount mount;
    mount.destination = string_at(entry, "destination");
    mount.source = string_at(entry, "source");
    mount.type = string_at(entry, "type");
    if (const json* options = member(entry, "options"); options != nullptr && options->is_array()) {
      for (const json& option : *options) {
        if (!option.is_string()) continue;
        const auto& text = option.get_ref<const std::string&>();
        if (text == "ro") mount.read_write = false;
        if (text == "rw") mount.read_write = true;
        if (propagation_options().contains(text)) mount.propagation = text;
        if (text == "bind" || text == "rbind") {
          if (mount.type.empty()) mount.type = "bind";
        }
      }
    }
    add_mount(out, std::move(mount));
  }
}

// libcontainer's mounts inside runc's state: {source, destination, device, flags, propagation_flags}.
void libcontainer_mounts(const json* list, std::vector<ContainerMount>& out) {
  if (list == nullptr || !list->is_array()) return;
  constexpr std::uint64_t kReadOnly = 0x1;  // MS_RDONLY
  constexpr std::uint64_t kBind = 0x1000;   // MS_BIND
  for (const json& entry : *list) {
    ContainerMount mount;
    mount.destination = string_at(entry, "destination");
    mount.source = string_at(entry, "source");
    mount.type = string_at(entry, "device");
    const std::uint64_t flags = unsigned_at(entry, "flags");
    mount.read_write = (flags & kReadOnly) == 0;
    if ((flags & kBind) != 0) mount.type = "bind";
    add_mount(out, std::move(mount));
  }
}

std::vector<std::string> string_list(const json* list, std::size_t limit) {
  std::vector<std::string> out;
  if (list == nullptr || !list->is_array()) return out;
  for (const json& item : *list) {
    if (out.size() >= limit) break;
    if (item.is_string() && item.get_ref<const std::string&>().size() <= kMaxStateString) out.push_back(item.get<std::string>());
  }
  return out;
}

bool covers_every_capability(const std::vector<std::string>& names, unsigned cap_last_cap) {
  std::set<std::string_view> distinct;
  for (const std::string& name : names) {
    if (name.starts_with("CAP_") && name.size() > 4) distinct.insert(name);
  }
  return distinct.size() >= static_cast<std::size_t>(cap_last_cap) + 1;
}

// Namespace types an OCI config gives the container of its own ("pid", "network", ...). A
// namespace entry with a path joins an existing one, which is not the host's as far as the
// config says.
void oci_namespaces(const json* list, ContainerMetadata& out) {
  if (list == nullptr || !list->is_array()) return;
  bool pid = false, network = false, ipc = false;
  for (const json& entry : *list) {
    const std::string type = string_at(entry, "type");
    pid = pid || type == "pid";
    network = network || type == "network";
    ipc = ipc || type == "ipc";
  }
  out.host_pid = !pid;
  out.host_network = !network;
  out.host_ipc = !ipc;
}

}  // namespace

const std::string* find_value(const KeyValues& values, std::string_view key) {
  const auto found = std::lower_bound(values.begin(), values.end(), key,
                                      [](const auto& entry, std::string_view wanted) { return entry.first < wanted; });
  return found != values.end() && found->first == key ? &found->second : nullptr;
}

void split_image_reference(std::string_view image, ContainerMetadata& out) {
  out.image_repository.clear();
  out.image_tag.clear();
  out.image_digest.clear();
  if (image.empty()) return;
  if (image.starts_with("sha256:")) {  // an image id, not a reference
    out.image_digest = std::string(image);
    return;
  }
  if (const auto at = image.find('@'); at != std::string_view::npos) {
    out.image_digest = std::string(image.substr(at + 1));
    image = image.substr(0, at);
  }
  // A tag follows the last ':' after the last '/' ("registry:5000/repo" has a port, not a tag).
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out.image_tag = std::string(image.substr(colon + 1));
    image = image.substr(0, colon);
  }
  out.image_repository = std::string(image);
}

void apply_annotations(const KeyValues& annotations, ContainerMetadata& out) {
  const auto first_of = [&](std::initializer_list<std::string_view> keys) -> const std::string* {
    for (std::string_view key : keys) {
      if (const std::string* value = find_value(annotations, key); value != nullptr && !value->empty()) return value;
    }
    return nullptr;
  };
  if (const auto* name = first_of({"io.kubernetes.cri.container-name", "io.kubernetes.container.name", "nerdctl/name"}))
    out.name = *name;
  if (const auto* image = first_of({"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName",
                                    "org.opencontainers.image.ref.name"})) {
    out.image = *image;
    split_image_reference(out.image, out);
  }
  if (const auto* id = first_of({"io.kubernetes.cri-o.Image"})) out.image_id = *id;
  if (const auto* pod = first_of({"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"})) out.k8s_pod_name = *pod;
  if (const auto* ns = first_of({"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"}))
    out.k8s_namespace = *ns;
  if (const auto* uid = first_of({"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"})) out.k8s_pod_uid = *uid;
  // CRI-O passes the labels kubelet set as one JSON object.
  if (const auto* labels = first_of({"io.kubernetes.cri-o.Labels"})) {
    const json parsed = parse(*labels);
    out.k8s_pod_labels = object_labels(&parsed);
  }
  out.labels = annotations;
}

std::optional<RuntimeState> parse_runtime_state(std::string_view text, RuntimeStateFormat format) {
  const json root = parse(text);
  if (!root.is_object()) return std::nullopt;
  RuntimeState state;
  switch (format) {
    case RuntimeStateFormat::runc: {
      state.id = string_at(root, "id");
      state.pid = pid_at(root, "init_process_pid");
      state.pid_start_ticks = unsigned_at(root, "init_process_start");
      if (auto created = parse_rfc3339_ns(string_at(root, "created"))) state.created_ns = *created;
      const json* config = member(root, "config");
      if (config != nullptr && config->is_object()) {
        // runc keeps the bundle's annotations as "key=value" labels, plus "bundle=<dir>".
        for (const std::string& label : string_list(member(*config, "labels"), kMaxStateLabels)) {
          const auto equals = label.find('=');
          if (equals == std::string::npos) continue;
          if (label.compare(0, equals, "bundle") == 0) {
            state.bundle = label.substr(equals + 1);
            continue;
          }
          add_label(state.annotations, label.substr(0, equals), label.substr(equals + 1));
        }
        if (const json* caps = member(*config, "capabilities"); caps != nullptr && caps->is_object()) {
          state.bounding_capabilities = string_list(member(*caps, "Bounding"), 128);
          state.capabilities_known = true;
        }
        libcontainer_mounts(member(*config, "mounts"), state.mounts);
        if (const json* namespaces = member(*config, "namespaces"); namespaces != nullptr && namespaces->is_array()) {
          state.namespaces_known = true;
          for (const json& entry : *namespaces) {
            const std::string type = string_at(entry, "type");  // NEWPID, NEWNET, NEWIPC, ...
            if (type == "NEWPID") state.namespaces.push_back("pid");
            if (type == "NEWNET") state.namespaces.push_back("network");
            if (type == "NEWIPC") state.namespaces.push_back("ipc");
            if (type == "NEWNS") state.namespaces.push_back("mount");
          }
        }
        if (const json* cgroups = member(*config, "cgroups"); cgroups != nullptr) state.cgroup_path = string_at(*cgroups, "path");
      }
      break;
    }
    case RuntimeStateFormat::crun:
      state.pid = pid_at(root, "pid");
      state.pid_start_ticks = unsigned_at(root, "process-start-time");
      state.bundle = string_at(root, "bundle");
      state.cgroup_path = string_at(root, "cgroup-path");
      if (auto created = parse_rfc3339_ns(string_at(root, "created"))) state.created_ns = *created;
      break;
    case RuntimeStateFormat::oci:
      state.id = string_at(root, "id");
      state.pid = pid_at(root, "pid");
      state.bundle = string_at(root, "bundle");
      if (auto created = parse_rfc3339_ns(string_at(root, "created"))) state.created_ns = *created;
      state.annotations = object_labels(member(root, "annotations"));
      break;
  }
  sort_unique(state.annotations);
  return state;
}

bool apply_oci_config(std::string_view text, unsigned cap_last_cap, ContainerMetadata& out) {
  const json root = parse(text);
  if (!root.is_object()) return false;
  apply_annotations(object_labels(member(root, "annotations")), out);
  oci_mounts(member(root, "mounts"), out.mounts);
  if (const json* process = member(root, "process"); process != nullptr) {
    if (const json* caps = member(*process, "capabilities"); caps != nullptr) {
      out.privileged = out.privileged || covers_every_capability(string_list(member(*caps, "bounding"), 128), cap_last_cap);
    }
  }
  if (const json* linux = member(root, "linux"); linux != nullptr) oci_namespaces(member(*linux, "namespaces"), out);
  return true;
}

void apply_runtime_state(const RuntimeState& state, unsigned cap_last_cap, ContainerMetadata& out) {
  if (out.labels.empty()) apply_annotations(state.annotations, out);
  if (out.mounts.empty()) out.mounts = state.mounts;
  if (state.capabilities_known) out.privileged = out.privileged || covers_every_capability(state.bounding_capabilities, cap_last_cap);
  if (state.namespaces_known) {
    const auto has = [&](std::string_view type) {
      return std::find(state.namespaces.begin(), state.namespaces.end(), type) != state.namespaces.end();
    };
    out.host_pid = !has("pid");
    out.host_network = !has("network");
    out.host_ipc = !has("ipc");
  }
  if (out.created_ns == 0) out.created_ns = state.created_ns;
}

bool apply_docker_config(std::string_view config_v2, std::string_view hostconfig, ContainerMetadata& out) {
  const json config = parse(config_v2);
  if (!config.is_object()) return false;
  std::string name = string_at(config, "Name");
  if (name.starts_with('/')) name.erase(0, 1);
  if (!name.empty()) out.name = std::move(name);
  if (const json* inner = member(config, "Config"); inner != nullptr) {
    if (std::string image = string_at(*inner, "Image"); !image.empty()) {
      out.image = std::move(image);
      split_image_reference(out.image, out);
    }
    if (KeyValues labels = object_labels(member(*inner, "Labels")); !labels.empty()) out.labels = std::move(labels);
  }
  if (std::string image_id = string_at(config, "Image"); !image_id.empty()) out.image_id = std::move(image_id);
  if (auto created = parse_rfc3339_ns(string_at(config, "Created"))) out.created_ns = *created;
  // MountPoints: {"/dest": {"Source": ..., "Destination": ..., "RW": bool, "Mode": "...", "Propagation": ...}}
  if (const json* points = member(config, "MountPoints"); points != nullptr && points->is_object()) {
    std::vector<ContainerMount> mounts;
    for (const auto& [destination, point] : points->items()) {
      ContainerMount mount;
      mount.destination = string_at(point, "Destination");
      if (mount.destination.empty()) mount.destination = destination.size() <= kMaxStateString ? destination : "";
      mount.source = string_at(point, "Source");
      mount.type = string_at(point, "Type");
      if (const json* rw = member(point, "RW"); rw != nullptr && rw->is_boolean()) mount.read_write = rw->get<bool>();
      mount.propagation = string_at(point, "Propagation");
      const std::string mode = string_at(point, "Mode");
      add_mount(mounts, mount);
      if (!mode.empty() && !mounts.empty() && mounts.back().destination == mount.destination) mounts.back().mode = mode;
    }
    if (!mounts.empty()) out.mounts = std::move(mounts);
  }
  const json host = parse(hostconfig);
  if (const json* privileged = member(host, "Privileged"); privileged != nullptr && privileged->is_boolean())
    out.privileged = out.privileged || privileged->get<bool>();
  return true;
}

}  // namespace vigil::state
