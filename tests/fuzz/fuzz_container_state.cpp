// What container runtimes write about their containers (runc's and youki's state.json, crun's
// status, an OCI bundle's config.json, docker's config.v2.json/hostconfig.json) is parsed by
// the agent from files a container's creator influences: every reader must answer every input
// without crashing, throwing or keeping more than its bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "state/runtime_state.h"

namespace {

using namespace vigil::state;

void check_bounds(const ContainerMetadata& metadata) {
  if (metadata.mounts.size() > kMaxStateMounts || metadata.labels.size() > kMaxStateLabels ||
      metadata.k8s_pod_labels.size() > kMaxStateLabels) {
    std::abort();
  }
  // Labels are sorted with unique keys (find_value relies on it).
  for (std::size_t i = 1; i < metadata.labels.size(); ++i) {
    if (!(metadata.labels[i - 1].first < metadata.labels[i].first)) std::abort();
  }
  for (const auto& [key, value] : metadata.labels) {
    if (find_value(metadata.labels, key) == nullptr) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (RuntimeStateFormat format : {RuntimeStateFormat::runc, RuntimeStateFormat::crun, RuntimeStateFormat::oci}) {
    if (auto state = parse_runtime_state(text, format)) {
      if (state->mounts.size() > kMaxStateMounts || state->annotations.size() > kMaxStateLabels) std::abort();
      ContainerMetadata metadata;
      apply_runtime_state(*state, 40, metadata);
      check_bounds(metadata);
    }
  }
  ContainerMetadata metadata;
  (void)apply_oci_config(text, 40, metadata);
  check_bounds(metadata);
  // Docker's two files: the input split at its first NUL.
  const auto split = text.find('\0');
  ContainerMetadata docker;
  (void)apply_docker_config(text.substr(0, split), split == std::string_view::npos ? std::string_view() : text.substr(split + 1),
                            docker);
  check_bounds(docker);
  (void)parse_rfc3339_ns(text);
  ContainerMetadata image;
  split_image_reference(text, image);
  if (image.image_repository.size() + image.image_tag.size() + image.image_digest.size() > text.size()) std::abort();
  return 0;
}
