#include "agent/config.h"

#include "agent/config_console.h"
#include "agent/config_netpolicy.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace vigil::agent {
namespace {

std::string where(const std::string& source, const YAML::Node& node) {
  return source + ":" + std::to_string(node.Mark().line + 1);
}

Result<std::string> scalar(const std::string& source, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return fail(where(source, node) + ": " + key + " must be a single value");
  return node.as<std::string>();
}

Result<unsigned long> number(const std::string& source, const YAML::Node& node, const std::string& key,
                             unsigned long low, unsigned long high) {
  auto text = scalar(source, node, key);
  if (!text) return std::unexpected(text.error());
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno != 0 || value < low || value > high || (*text)[0] == '-') {
    return fail(where(source, node) + ": " + key + " must be a whole number from " + std::to_string(low) + " to " +
                std::to_string(high) + ", got '" + *text + "'");
  }
  return value;
}

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::enforce: return "enforce";
    case Mode::log: return "log";
    case Mode::fix: return "fix";
  }
  return "log";
}

bool on_timeout_allows(const AgentConfig& config) { return config.fail_open.value_or(config.mode != Mode::enforce); }

unsigned workers_per_uid(const AgentConfig& config) {
  const unsigned wanted = config.workers_per_uid != 0 ? config.workers_per_uid : (config.workers + 1) / 2;
  return std::clamp(wanted, 1u, std::max(1u, config.workers));
}

Result<AgentConfig> parse_config(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return fail(source + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  AgentConfig config;
  config.source = source;
  if (root.IsNull()) {
    config.audit_log = config.state_dir + "/audit.jsonl";
    config.runtime.state_dir = config.state_dir;
    default_console_paths(config.state_dir, config.console);
    return config;
  }
  if (!root.IsMap()) return fail(where(source, root) + ": the config must be a mapping of keys to values");

  static const std::set<std::string> kKnown = {"mode", "state_dir", "policy", "policy_text", "hash", "tpm",
                                                "keyrings", "watch", "watch_marks", "decision", "audit_log",
                                                "audit_log_max_size_mb", "audit_log_max_files", "runtime", "rules",
                                                "outputs", "console", "measurement", "netpolicy"};
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    if (!kKnown.contains(key)) return fail(where(source, item.first) + ": unknown key '" + key + "'");
    if (key == "mode") {
      auto text = scalar(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (*text == "enforce") config.mode = Mode::enforce;
      else if (*text == "log") config.mode = Mode::log;
      else if (*text == "fix") config.mode = Mode::fix;
      else return fail(where(source, value) + ": mode must be enforce, log or fix, got '" + *text + "'");
    } else if (key == "state_dir" || key == "policy" || key == "policy_text" || key == "tpm" || key == "audit_log") {
      auto text = scalar(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (key == "state_dir") config.state_dir = *text;
      if (key == "policy") config.policy_path = *text;
      if (key == "policy_text") config.policy_text = *text;
      if (key == "tpm") config.tpm = *text;
      if (key == "audit_log") config.audit_log = *text;
    } else if (key == "audit_log_max_size_mb") {
      auto n = number(source, value, key, 0, 1 << 20);
      if (!n) return std::unexpected(n.error());
      config.audit_log_max_bytes = static_cast<std::uint64_t>(*n) << 20;
    } else if (key == "audit_log_max_files") {
      auto n = number(source, value, key, 0, 1000);
      if (!n) return std::unexpected(n.error());
      config.audit_log_max_files = static_cast<unsigned>(*n);
    } else if (key == "hash") {
      auto text = scalar(source, value, key);
      if (!text) return std::unexpected(text.error());
      auto algo = crypto::hash_from_name(*text);
      if (!algo || (*algo != crypto::HashAlgo::sha256 && *algo != crypto::HashAlgo::sm3 &&
                    *algo != crypto::HashAlgo::sha384 && *algo != crypto::HashAlgo::sha512)) {
        return fail(where(source, value) + ": hash must be sha256, sm3, sha384 or sha512, got '" + *text + "'");
      }
      config.hash = *algo;
    } else if (key == "keyrings") {
      if (!value.IsMap()) return fail(where(source, value) + ": keyrings must map names to directories");
      for (const auto& ring : value) {
        auto dir = scalar(source, ring.second, "keyring " + ring.first.as<std::string>());
        if (!dir) return std::unexpected(dir.error());
        config.keyrings[ring.first.as<std::string>()] = *dir;
      }
    } else if (key == "watch") {
      if (!value.IsSequence()) return fail(where(source, value) + ": watch must be a list of paths (each marks its filesystem)");
      for (const auto& mount : value) {
        auto path = scalar(source, mount, "watch entry");
        if (!path) return std::unexpected(path.error());
        if (path->empty() || (*path)[0] != '/') return fail(where(source, mount) + ": watch entries must be absolute paths");
        config.watch.push_back(*path);
      }
    } else if (key == "watch_marks") {
      auto text = scalar(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (*text == "filesystem") config.watch_marks = WatchMarks::filesystem;
      else if (*text == "mount") config.watch_marks = WatchMarks::mount;
      else return fail(where(source, value) + ": watch_marks must be filesystem or mount, got '" + *text + "'");
    } else if (key == "runtime") {
      if (!value.IsMap()) return fail(where(source, value) + ": runtime must be a mapping");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        if (name == "enabled") {
          auto text = scalar(source, setting.second, "runtime.enabled");
          if (!text) return std::unexpected(text.error());
          if (*text != "true" && *text != "false") {
            return fail(where(source, setting.second) + ": runtime.enabled must be true or false, got '" + *text + "'");
          }
          config.runtime.enabled = *text == "true";
        } else if (name == "ring_buffer_mb") {
          auto n = number(source, setting.second, "runtime.ring_buffer_mb", 1, 1024);
          if (!n) return std::unexpected(n.error());
          if ((*n & (*n - 1)) != 0) {
            return fail(where(source, setting.second) + ": runtime.ring_buffer_mb must be a power of two");
          }
          config.runtime.ring_buffer_bytes = static_cast<size_t>(*n) << 20;
        } else if (name == "syscalls") {
          if (!setting.second.IsSequence()) {
            return fail(where(source, setting.second) + ": runtime.syscalls must be a list of syscall names (or [all])");
          }
          std::vector<events::EventType> types;
          bool all = false;
          for (const auto& entry : setting.second) {
            auto text = scalar(source, entry, "runtime.syscalls entry");
            if (!text) return std::unexpected(text.error());
            if (*text == "all") {
              all = true;
              continue;
            }
            const events::EventType type = events::event_type_from_name(*text);
            if (type == events::EventType::unknown) {
              return fail(where(source, entry) + ": runtime.syscalls: '" + *text + "' is not a syscall vigil captures");
            }
            types.push_back(type);
          }
          config.runtime.all_syscalls = all;
          if (all) config.runtime.syscalls.reset();
          else config.runtime.syscalls = std::move(types);
        } else {
          return fail(where(source, setting.first) + ": unknown key 'runtime." + name + "'");
        }
      }
    } else if (key == "rules") {
      if (!value.IsMap()) return fail(where(source, value) + ": rules must be a mapping");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        auto flag = [&](bool& out) -> Result<void> {
          auto text = scalar(source, setting.second, "rules." + name);
          if (!text) return std::unexpected(text.error());
          if (*text != "true" && *text != "false")
            return fail(where(source, setting.second) + ": rules." + name + " must be true or false, got '" + *text + "'");
          out = *text == "true";
          return {};
        };
        if (name == "enabled") {
          if (auto ok = flag(config.runtime.rules.enabled); !ok) return std::unexpected(ok.error());
        } else if (name == "kill") {
          if (auto ok = flag(config.runtime.rules.kill); !ok) return std::unexpected(ok.error());
        } else if (name == "kernel_path_filter") {
          if (auto ok = flag(config.runtime.rules.kernel_path_filter); !ok) return std::unexpected(ok.error());
        } else if (name == "files") {
          if (!setting.second.IsSequence()) return fail(where(source, setting.second) + ": rules.files must be a list of rule files");
          for (const auto& entry : setting.second) {
            auto path = scalar(source, entry, "rules.files entry");
            if (!path) return std::unexpected(path.error());
            if (path->empty()) return fail(where(source, entry) + ": rules.files entries must not be empty");
            config.runtime.rules.files.push_back(*path);
          }
        } else {
          return fail(where(source, setting.first) + ": unknown key 'rules." + name + "'");
        }
      }
    } else if (key == "console") {
      if (auto ok = parse_console_section(value, source, config.console); !ok) return std::unexpected(ok.error());
    } else if (key == "netpolicy") {
      if (auto ok = parse_netpolicy_section(value, source, config.netpolicy); !ok) return std::unexpected(ok.error());
    } else if (key == "outputs") {
      auto outputs = outputs::outputs_config_from_yaml(value, source);
      if (!outputs) return std::unexpected(outputs.error());
      config.runtime.outputs = std::move(*outputs);
      config.runtime.outputs_given = true;
    } else if (key == "measurement") {
      if (!value.IsMap()) return fail(where(source, value) + ": measurement must be a mapping");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        if (name == "pcr") {
          // 0-7 hold the firmware's measurements (boot_aggregate covers them); 24 PCRs in a TPM.
          auto n = number(source, setting.second, "measurement.pcr", 8, 23);
          if (!n) return std::unexpected(n.error());
          config.measurement.pcr = static_cast<std::uint32_t>(*n);
        } else if (name == "kernel_list") {
          auto text = scalar(source, setting.second, "measurement.kernel_list");
          if (!text) return std::unexpected(text.error());
          config.measurement.kernel_list = *text;
        } else {
          return fail(where(source, setting.first) + ": unknown key 'measurement." + name + "'");
        }
      }
    } else if (key == "decision") {
      if (!value.IsMap()) return fail(where(source, value) + ": decision must be a mapping");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        if (name == "workers") {
          auto n = number(source, setting.second, "decision.workers", 1, 64);
          if (!n) return std::unexpected(n.error());
          config.workers = static_cast<unsigned>(*n);
        } else if (name == "workers_per_uid") {
          auto n = number(source, setting.second, "decision.workers_per_uid", 1, 64);
          if (!n) return std::unexpected(n.error());
          config.workers_per_uid = static_cast<unsigned>(*n);
        } else if (name == "measured_versions") {
          auto n = number(source, setting.second, "decision.measured_versions", 1, 100000000);
          if (!n) return std::unexpected(n.error());
          config.measured_versions = *n;
        } else if (name == "deadline_ms") {
          auto n = number(source, setting.second, "decision.deadline_ms", 10, 60000);
          if (!n) return std::unexpected(n.error());
          config.deadline_ms = static_cast<unsigned>(*n);
        } else if (name == "on_timeout") {
          auto text = scalar(source, setting.second, name);
          if (!text) return std::unexpected(text.error());
          if (*text != "allow" && *text != "deny") {
            return fail(where(source, setting.second) + ": decision.on_timeout must be allow or deny, got '" + *text + "'");
          }
          config.fail_open = *text == "allow";
        } else if (name == "cache_entries") {
          auto n = number(source, setting.second, "decision.cache_entries", 0, 100000000);
          if (!n) return std::unexpected(n.error());
          config.cache_entries = *n;
        } else if (name == "kernel_cache") {
          auto text = scalar(source, setting.second, name);
          if (!text) return std::unexpected(text.error());
          if (*text == "auto") config.kernel_cache = KernelCache::automatic;
          else if (*text == "on") config.kernel_cache = KernelCache::on;
          else if (*text == "off") config.kernel_cache = KernelCache::off;
          else return fail(where(source, setting.second) + ": decision.kernel_cache must be auto, on or off, got '" + *text + "'");
        } else {
          return fail(where(source, setting.first) + ": unknown key 'decision." + name + "'");
        }
      }
    }
  }
  if (config.audit_log.empty()) config.audit_log = config.state_dir + "/audit.jsonl";
  config.runtime.state_dir = config.state_dir;
  default_console_paths(config.state_dir, config.console);
  return config;
}

Result<AgentConfig> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail_errno(path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace vigil::agent
