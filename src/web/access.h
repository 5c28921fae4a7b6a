#pragma once
// Who may use the console: loopback peers freely, anyone else with the bearer token.
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::web {

// Reads the token from `path`, or creates it (32 random bytes, hex) with mode 0600 when the
// file does not exist. A token file others can read is tightened to 0600 (and said so in
// *note); an empty or unreadable one is an error naming the file.
Result<std::string> load_or_create_token(const std::string& path, std::string* note = nullptr);

// 127.0.0.0/8, ::1 and IPv4-mapped 127.x (::ffff:127.0.0.1), as the server reports peers.
bool is_loopback_address(std::string_view address);

// The token a request offers: "Authorization: Bearer <token>" first, else ?token=.
std::optional<std::string_view> offered_token(std::string_view authorization_header,
                                              std::optional<std::string_view> token_param);

// Constant-time comparison, so response times do not leak how much of a guess was right.
bool token_matches(std::string_view offered, std::string_view expected);

enum class Access { allowed, missing_token, wrong_token };
Access check_access(std::string_view peer_address, std::string_view authorization_header,
                    std::optional<std::string_view> token_param, std::string_view expected_token);

}  // namespace vigil::web
