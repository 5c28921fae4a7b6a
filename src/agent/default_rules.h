#pragma once
// The default ruleset (rules/default.yaml), built into the binary so the agent runs with it on
// a host where nothing is installed.
#include <string_view>

namespace vigil::agent {

std::string_view embedded_default_rules();
inline constexpr std::string_view kEmbeddedDefaultRulesName = "<embedded>/rules/default.yaml";

}  // namespace vigil::agent
