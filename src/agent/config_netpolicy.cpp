// netpolicy:
//   enabled: true
//   files: [/etc/vigil/netpolicy.yaml]
//   mode: enforce            # enforce: each policy's own mode; audit: every policy only audits
//   pin_dir: /sys/fs/bpf/vigil/netpolicy
//   cgroup: /sys/fs/cgroup   # the cgroup v2 directory whose processes are judged (default: root)
//   host_interfaces: [eth0]  # host deny list (XDP, TC fallback)
#include "agent/config_netpolicy.h"

namespace vigil::agent {
namespace {

std::string where(const std::string& source, const YAML::Node& node) {
  return source + ":" + std::to_string(node.Mark().line + 1);
}

Result<std::string> text_of(const std::string& source, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return fail(where(source, node) + ": netpolicy." + key + " must be a single value");
  return node.Scalar();
}

Result<std::vector<std::string>> list_of(const std::string& source, const YAML::Node& node, const std::string& key) {
  if (!node.IsSequence()) return fail(where(source, node) + ": netpolicy." + key + " must be a list");
  std::vector<std::string> out;
  for (const auto& entry : node) {
    auto text = text_of(source, entry, key);
    if (!text) return std::unexpected(text.error());
    if (text->empty()) return fail(where(source, entry) + ": netpolicy." + key + " entries must not be empty");
    out.push_back(*text);
  }
  return out;
}

}  // namespace

Result<void> parse_netpolicy_section(const YAML::Node& node, const std::string& source, NetPolicyConfig& out) {
  if (!node.IsMap()) return fail(where(source, node) + ": netpolicy must be a mapping");
  for (const auto& setting : node) {
    const std::string name = setting.first.Scalar();
    if (name == "enabled") {
      auto text = text_of(source, setting.second, name);
      if (!text) return std::unexpected(text.error());
      if (*text != "true" && *text != "false")
        return fail(where(source, setting.second) + ": netpolicy.enabled must be true or false, got '" + *text + "'");
      out.enabled = *text == "true";
    } else if (name == "files") {
      auto files = list_of(source, setting.second, name);
      if (!files) return std::unexpected(files.error());
      out.files = std::move(*files);
    } else if (name == "mode") {
      auto text = text_of(source, setting.second, name);
      if (!text) return std::unexpected(text.error());
      if (*text != "enforce" && *text != "audit")
        return fail(where(source, setting.second) + ": netpolicy.mode must be enforce or audit, got '" + *text + "'");
      out.audit_all = *text == "audit";
    } else if (name == "pin_dir" || name == "cgroup") {
      auto text = text_of(source, setting.second, name);
      if (!text) return std::unexpected(text.error());
      if (text->empty() || (*text)[0] != '/')
        return fail(where(source, setting.second) + ": netpolicy." + name + " must be an absolute path");
      (name == "pin_dir" ? out.pin_dir : out.cgroup) = *text;
    } else if (name == "host_interfaces") {
      auto interfaces = list_of(source, setting.second, name);
      if (!interfaces) return std::unexpected(interfaces.error());
      out.host_interfaces = std::move(*interfaces);
    } else if (name == "resolve_interval_ms") {
      auto text = text_of(source, setting.second, name);
      if (!text) return std::unexpected(text.error());
      char* end = nullptr;
      const unsigned long value = std::strtoul(text->c_str(), &end, 10);
      if (text->empty() || *end != '\0' || value < 100 || value > 60000)
        return fail(where(source, setting.second) + ": netpolicy.resolve_interval_ms must be 100..60000");
      out.resolve_interval_ms = static_cast<unsigned>(value);
    } else {
      return fail(where(source, setting.first) + ": unknown key 'netpolicy." + name + "'");
    }
  }
  if (out.enabled && out.files.empty())
    return fail(where(source, node) + ": netpolicy.enabled needs netpolicy.files");
  return {};
}

}  // namespace vigil::agent
