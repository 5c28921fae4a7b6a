#pragma once
// `vigil agent --check-config FILE`: everything the agent would reject at start, found without
// starting anything: the YAML and its keys, the IMA policy and keyrings it names, the detection
// rules (the files, or the built-in set), the console's TLS files. Nothing is created, opened for
// writing, marked or loaded into the kernel.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::agent {

struct ConfigCheck {
  // "file:line: error: what" (the location as precise as the source allows), as `rules check`.
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  nlohmann::json summary = nlohmann::json::object();  // what the config amounts to, when it parsed
  bool ok() const { return errors.empty(); }
};

ConfigCheck check_config(const std::string& path);

// "a.yaml:3: bad" -> "a.yaml:3: error: bad"; a message without a location gets `fallback`'s.
std::string diagnostic_line(const std::string& message, const std::string& kind, const std::string& fallback);

}  // namespace vigil::agent
