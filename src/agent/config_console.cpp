#include "agent/config_console.h"

#include <arpa/inet.h>

#include <charconv>

#include "web/access.h"

namespace vigil::agent {

namespace {

std::string where(const std::string& source, const YAML::Node& node) {
  return source + ":" + std::to_string(node.Mark().line + 1);
}

Result<std::string> scalar_of(const std::string& source, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return fail(where(source, node) + ": " + key + " must be a single value");
  return node.as<std::string>();
}

Result<std::uint64_t> whole_number(const std::string& source, const YAML::Node& node, const std::string& key,
                                   std::uint64_t low, std::uint64_t high) {
  auto text = scalar_of(source, node, key);
  if (!text) return std::unexpected(text.error());
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || error != std::errc{} || end != text->data() + text->size() || value < low || value > high) {
    return fail(where(source, node) + ": " + key + " must be a whole number from " + std::to_string(low) + " to " +
                std::to_string(high) + ", got '" + *text + "'");
  }
  return value;
}

}  // namespace

Result<void> parse_listen(const std::string& text, ConsoleConfig& out) {
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("expected [IPv6]:port, got '" + text + "'");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return fail("expected address:port, got '" + text + "'");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) != 1 && ::inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
    return fail("'" + host + "' is not an IP address (use 127.0.0.1 for this host only, 0.0.0.0 for every interface)");
  }
  int port = -1;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return fail("port must be 0..65535, got '" + port_text + "'");
  }
  out.address = host;
  out.port = port;
  return {};
}

Result<void> parse_console_section(const YAML::Node& node, const std::string& source, ConsoleConfig& out) {
  if (!node.IsMap()) return fail(where(source, node) + ": console must be a mapping");
  for (const auto& setting : node) {
    const std::string name = setting.first.as<std::string>();
    const YAML::Node& value = setting.second;
    const std::string key = "console." + name;
    if (name == "enabled") {
      auto text = scalar_of(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (*text != "true" && *text != "false") return fail(where(source, value) + ": " + key + " must be true or false, got '" + *text + "'");
      out.enabled = *text == "true";
    } else if (name == "listen") {
      auto text = scalar_of(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (auto ok = parse_listen(*text, out); !ok) return fail(where(source, value) + ": " + key + ": " + ok.error().message);
    } else if (name == "tls_cert" || name == "tls_key" || name == "token_file") {
      auto text = scalar_of(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (text->empty()) return fail(where(source, value) + ": " + key + " must not be empty");
      (name == "tls_cert" ? out.tls_cert : name == "tls_key" ? out.tls_key : out.token_file) = *text;
    } else if (name == "token_for_loopback") {
      auto text = scalar_of(source, value, key);
      if (!text) return std::unexpected(text.error());
      if (*text != "true" && *text != "false") return fail(where(source, value) + ": " + key + " must be true or false, got '" + *text + "'");
      out.token_for_loopback = *text == "true";
    } else if (name == "allowed_hosts") {
      if (!value.IsSequence()) return fail(where(source, value) + ": " + key + " must be a list of host names");
      out.allowed_hosts.clear();
      for (const auto& item : value) {
        auto host = scalar_of(source, item, key);
        if (!host) return std::unexpected(host.error());
        if (!web::host_header_name(*host)) {
          return fail(where(source, item) + ": " + key + ": '" + *host + "' is not a host name or address");
        }
        out.allowed_hosts.push_back(*host);
      }
    } else if (name == "max_connections" || name == "max_connections_per_peer") {
      auto n = whole_number(source, value, key, 1, 4096);
      if (!n) return std::unexpected(n.error());
      (name == "max_connections" ? out.max_connections : out.max_connections_per_peer) = static_cast<int>(*n);
    } else if (name == "events_sampled_per_bucket") {
      auto n = whole_number(source, value, key, 0, 10000);
      if (!n) return std::unexpected(n.error());
      out.events_sampled_per_bucket = static_cast<unsigned>(*n);
    } else if (name == "store") {
      if (!value.IsMap()) return fail(where(source, value) + ": console.store must be a mapping");
      for (const auto& store_setting : value) {
        const std::string store_name = store_setting.first.as<std::string>();
        const std::string store_key = "console.store." + store_name;
        if (store_name == "path") {
          auto text = scalar_of(source, store_setting.second, store_key);
          if (!text) return std::unexpected(text.error());
          if (text->empty()) return fail(where(source, store_setting.second) + ": " + store_key + " must not be empty");
          out.store_path = *text;
        } else if (store_name == "max_age_hours") {
          auto n = whole_number(source, store_setting.second, store_key, 1, 24 * 3650);
          if (!n) return std::unexpected(n.error());
          out.max_age_hours = static_cast<unsigned>(*n);
        } else if (store_name == "max_size_mb") {
          auto n = whole_number(source, store_setting.second, store_key, 1, 1 << 20);
          if (!n) return std::unexpected(n.error());
          out.max_size_bytes = *n << 20;
        } else {
          return fail(where(source, store_setting.first) + ": unknown key '" + store_key + "'");
        }
      }
    } else {
      return fail(where(source, setting.first) + ": unknown key '" + key + "'");
    }
  }
  if (out.tls_cert.empty() != out.tls_key.empty()) {
    return fail(where(source, node) + ": console.tls_cert and console.tls_key go together");
  }
  return {};
}

void default_console_paths(const std::string& state_dir, ConsoleConfig& out) {
  if (out.token_file.empty()) out.token_file = state_dir + "/console.token";
  if (out.store_path.empty()) out.store_path = state_dir + "/console.db";
}

}  // namespace vigil::agent
