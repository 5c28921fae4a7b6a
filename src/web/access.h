#pragma once
// Who may use the console: requests that name it by a local Host, from loopback peers freely
// (unless configured otherwise), anyone else with the bearer token (docs/api.md, Access).
#include <optional>
#include <span>
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

struct AccessOptions {
  // The request names another client behind a proxy (Forwarded, X-Forwarded-For, X-Real-IP):
  // a loopback peer is then only the proxy, so the token is required.
  bool forwarded = false;
  bool token_for_loopback = false;  // console.token_for_loopback: no peer is trusted by address
};

enum class Access { allowed, missing_token, wrong_token };
Access check_access(std::string_view peer_address, std::string_view authorization_header,
                    std::optional<std::string_view> token_param, std::string_view expected_token,
                    AccessOptions options = {});

// The name in a Host header, lower-cased, without the port and without an IPv6 literal's
// brackets ("[::1]:7373" -> "::1", "LocalHost:80" -> "localhost"); nullopt when it is empty or
// malformed.
std::optional<std::string> host_header_name(std::string_view host_header);

// Whether a request's Host names this console, the defence against DNS rebinding (a page of
// attacker.example whose name now resolves to 127.0.0.1 sends "Host: attacker.example"):
// "localhost", a loopback IP literal, the listen address, the address the connection arrived on
// (`local_address`: any IP literal a client can reach this server by), or a name in
// `allowed_hosts` (console.allowed_hosts).
bool host_is_local(std::string_view host_header, std::string_view listen_address, std::string_view local_address,
                   std::span<const std::string> allowed_hosts);

}  // namespace vigil::web
