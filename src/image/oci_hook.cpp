// What `vigil oci-hook` needs from the runtime: the state on stdin, the bundle's config.json, and
// the rule that picks a container's manifest.
#include <nlohmann/json.hpp>

#include "image/image.h"

namespace vigil::image {
namespace {

constexpr size_t kMaxConfigSize = 16 << 20;

// A name used as a file name in the manifest directory: no way out of it.
bool plain_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

std::optional<std::string> annotation(const std::vector<std::pair<std::string, std::string>>& annotations,
                                      std::string_view key) {
  for (const auto& [name, value] : annotations) {
    if (name == key) return value;
  }
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, std::string>>> annotations_of(const nlohmann::json& object,
                                                                        const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!object.contains("annotations") || object["annotations"].is_null()) return out;
  const auto& annotations = object["annotations"];
  if (!annotations.is_object()) return fail(where + ": \"annotations\" is not an object");
  for (const auto& [key, value] : annotations.items()) {
    if (!value.is_string()) return fail(where + ": annotation " + key + " is not a string");
    out.emplace_back(key, value.get<std::string>());
  }
  return out;
}

}  // namespace

Result<HookState> parse_hook_state(std::span<const uint8_t> bytes) {
  const auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return fail("stdin is not the OCI state JSON (run vigil oci-hook as a createRuntime hook in config.json)");
  }
  HookState state;
  for (const char* field : {"id", "bundle"}) {
    if (!json.contains(field) || !json[field].is_string() || json[field].get<std::string>().empty()) {
      return fail(std::string("the OCI state has no \"") + field + "\" string");
    }
  }
  state.id = json["id"].get<std::string>();
  state.bundle = json["bundle"].get<std::string>();
  if (state.bundle.front() != '/') return fail("the OCI state's bundle is not an absolute path: " + state.bundle);
  auto annotations = annotations_of(json, "the OCI state");
  if (!annotations) return std::unexpected(annotations.error());
  state.annotations = std::move(*annotations);
  return state;
}

Result<HookTarget> locate_hook_target(const HookState& state, const std::string& manifest_dir) {
  const std::string config_path = state.bundle + "/config.json";
  auto config_bytes = crypto::read_file(config_path, kMaxConfigSize);
  if (!config_bytes) return fail("cannot read the bundle's config: " + config_bytes.error().message);
  const auto config = nlohmann::json::parse(config_bytes->begin(), config_bytes->end(), nullptr, false);
  if (config.is_discarded() || !config.is_object()) return fail(config_path + ": not JSON");
  if (!config.contains("root") || !config["root"].is_object() || !config["root"].contains("path") ||
      !config["root"]["path"].is_string() || config["root"]["path"].get<std::string>().empty()) {
    return fail(config_path + ": no root.path");
  }
  HookTarget target;
  const std::string root_path = config["root"]["path"].get<std::string>();
  target.rootfs = root_path.front() == '/' ? root_path : state.bundle + "/" + root_path;

  auto annotations = state.annotations;
  auto config_annotations = annotations_of(config, config_path);
  if (!config_annotations) return std::unexpected(config_annotations.error());
  for (auto& pair : *config_annotations) {
    if (!annotation(annotations, pair.first)) annotations.push_back(std::move(pair));
  }

  if (const auto path = annotation(annotations, kManifestAnnotation)) {
    if (path->empty() || path->front() != '/') {
      return fail("annotation " + std::string(kManifestAnnotation) + " must be an absolute path, not '" + *path + "'");
    }
    target.manifest = *path;
    target.found_by = "annotation " + std::string(kManifestAnnotation);
    return target;
  }
  if (manifest_dir.empty()) {
    return fail("no manifest for container " + state.id + ": no annotation " + std::string(kManifestAnnotation) +
                " and no --manifest-dir");
  }
  const std::string dir = manifest_dir.ends_with('/') ? manifest_dir : manifest_dir + "/";
  if (const auto name = annotation(annotations, kImageNameAnnotation)) {
    if (!plain_name(*name)) {
      return fail("annotation " + std::string(kImageNameAnnotation) + " '" + *name +
                  "' is not a plain name (letters, digits, '.', '_', '-'; not starting with '.')");
    }
    target.manifest = dir + *name + ".manifest";
    target.found_by = "annotation " + std::string(kImageNameAnnotation);
    return target;
  }
  if (!plain_name(state.id)) return fail("container id '" + state.id + "' cannot name a manifest file");
  target.manifest = dir + state.id + ".manifest";
  target.found_by = "container id in --manifest-dir";
  return target;
}

}  // namespace vigil::image
