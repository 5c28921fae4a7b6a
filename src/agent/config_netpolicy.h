#pragma once
// The `netpolicy` section of the agent config (agent/config.h NetPolicyConfig).
#include <string>

#include <yaml-cpp/yaml.h>

#include "agent/config.h"
#include "common/error.h"

namespace vigil::agent {

Result<void> parse_netpolicy_section(const YAML::Node& node, const std::string& source, NetPolicyConfig& out);

}  // namespace vigil::agent
