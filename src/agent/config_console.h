#pragma once
// The `console` section of the agent config (agent/config.h ConsoleConfig).
#include <string>

#include <yaml-cpp/yaml.h>

#include "agent/config.h"
#include "common/error.h"

namespace vigil::agent {

Result<void> parse_console_section(const YAML::Node& node, const std::string& source, ConsoleConfig& out);
// "127.0.0.1:7373", "[::1]:7373", "0.0.0.0:0" -> address and port.
Result<void> parse_listen(const std::string& text, ConsoleConfig& out);
// Paths left empty default below the state directory.
void default_console_paths(const std::string& state_dir, ConsoleConfig& out);

}  // namespace vigil::agent
