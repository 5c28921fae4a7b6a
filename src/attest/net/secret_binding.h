#pragma once
// What a stored secret is bound to: its name and its selector (comma-separated agent-id globs).
// Both are sealed in as associated data, so a sealed value moved to another name, or given a
// wider selector in the database, no longer opens.
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil::attest {

// Names are 1-128 of [A-Za-z0-9._:@+-]: they travel in the URL path /v1/secrets/NAME.
Result<void> check_secret_name(const std::string& name);
std::vector<uint8_t> secret_associated_data(const std::string& name, const std::string& selector);
// True when one of the selector's globs (fnmatch, whitespace around commas ignored) matches id.
bool selector_matches(const std::string& selector, const std::string& agent_id);

}  // namespace vigil::attest
