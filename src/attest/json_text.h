#pragma once
// Untrusted JSON read without exceptions: the syntax error says at which byte, and typed field
// accessors say which field is missing or of the wrong type. Shared by the runtime policy and
// the protocol bodies.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::attest::json_text {

// Parses a whole document; errors read "WHAT: JSON syntax error at byte N: ...".
Result<nlohmann::json> parse(std::string_view text, std::string_view what);

// Field accessors on an object; `what` names the document for the message.
Result<const nlohmann::json*> field(const nlohmann::json& object, std::string_view name, std::string_view what);
Result<std::string> string_field(const nlohmann::json& object, std::string_view name, std::string_view what);
Result<uint64_t> unsigned_field(const nlohmann::json& object, std::string_view name, std::string_view what,
                                uint64_t max_value);

}  // namespace vigil::attest::json_text
