#include "web/access.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace vigil::web {

namespace {

bool valid_token_text(std::string_view token) {
  return token.size() >= 16 && std::ranges::all_of(token, [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

Result<std::string> load_or_create_token(const std::string& path, std::string* note) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) return fail("console token: no random bytes: " + openssl_errors());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string token;
    for (unsigned char byte : random) {
      token += kHex[byte >> 4];
      token += kHex[byte & 15];
    }
    const std::string temporary = path + ".new";
    ::unlink(temporary.c_str());
    int out = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) return fail_errno("console token " + temporary);
    const std::string text = token + "\n";
    const bool written = ::write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(out) == 0;
    ::close(out);
    // link() fails if another start created the file meanwhile: then that token wins.
    if (!written || (::link(temporary.c_str(), path.c_str()) != 0 && errno != EEXIST)) {
      ::unlink(temporary.c_str());
      return fail_errno("console token " + path);
    }
    ::unlink(temporary.c_str());
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return fail_errno("console token " + path);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("console token " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    if (::fchmod(fd, 0600) != 0) {
      ::close(fd);
      return fail_errno("console token " + path + ": readable by others and cannot be made 0600");
    }
    if (note) *note = "console token " + path + " was readable by others; now mode 0600";
  }
  char buffer[512];
  const ssize_t got = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  if (got < 0) return fail_errno("console token " + path);
  std::string token(buffer, static_cast<std::size_t>(got));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (!valid_token_text(token)) {
    return fail("console token " + path + ": expected one line of at least 16 printable characters");
  }
  return token;
}

bool is_loopback_address(std::string_view address) {
  std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

std::optional<std::string_view> offered_token(std::string_view authorization_header,
                                              std::optional<std::string_view> token_param) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization_header.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), authorization_header.begin(),
                 [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string_view token = authorization_header.substr(kBearer.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    return token;
  }
  if (token_param) return *token_param;
  return std::nullopt;
}

bool token_matches(std::string_view offered, std::string_view expected) {
  if (expected.empty() || offered.size() != expected.size()) return false;
  return CRYPTO_memcmp(offered.data(), expected.data(), expected.size()) == 0;
}

Access check_access(std::string_view peer_address, std::string_view authorization_header,
                    std::optional<std::string_view> token_param, std::string_view expected_token,
                    AccessOptions options) {
  if (is_loopback_address(peer_address) && !options.forwarded && !options.token_for_loopback) return Access::allowed;
  const auto offered = offered_token(authorization_header, token_param);
  if (!offered) return Access::missing_token;
  return token_matches(*offered, expected_token) ? Access::allowed : Access::wrong_token;
}

std::optional<std::string> host_header_name(std::string_view host_header) {
  while (!host_header.empty() && (host_header.front() == ' ' || host_header.front() == '\t')) host_header.remove_prefix(1);
  while (!host_header.empty() && (host_header.back() == ' ' || host_header.back() == '\t')) host_header.remove_suffix(1);
  std::string_view name = host_header;
  std::string_view port;
  if (!name.empty() && name.front() == '[') {
    const std::size_t close = name.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    port = name.substr(close + 1);
    name = name.substr(1, close - 1);
    if (!port.empty() && port.front() != ':') return std::nullopt;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, std::string(name).c_str(), &v6) != 1) return std::nullopt;
  } else {
    const std::size_t colon = name.find(':');
    if (colon != std::string_view::npos) {
      port = name.substr(colon);
      name = name.substr(0, colon);
    }
  }
  if (!port.empty()) {
    port.remove_prefix(1);  // ':'
    if (port.size() > 5 || !std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  }
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string lowered;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (!(std::isalnum(byte) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%')) return std::nullopt;
    lowered += static_cast<char>(std::tolower(byte));
  }
  while (lowered.size() > 1 && lowered.back() == '.') lowered.pop_back();  // "localhost." is localhost
  return lowered;
}

namespace {

// The address as inet_ntop writes it, so "::0001" and "::1" compare equal; nullopt for names.
std::optional<std::string> canonical_ip(std::string_view text) {
  const std::string copy(text);
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (::inet_pton(AF_INET, copy.c_str(), &v4) == 1) return std::string(::inet_ntop(AF_INET, &v4, out, sizeof out));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return std::string(::inet_ntop(AF_INET, &v6.s6_addr[12], out, sizeof out));
    return std::string(::inet_ntop(AF_INET6, &v6, out, sizeof out));
  }
  return std::nullopt;
}

}  // namespace

bool host_is_local(std::string_view host_header, std::string_view listen_address, std::string_view local_address,
                   std::span<const std::string> allowed_hosts) {
  const auto name = host_header_name(host_header);
  if (!name) return false;
  if (*name == "localhost") return true;
  for (const std::string& allowed : allowed_hosts) {
    if (host_header_name(allowed) == name) return true;
  }
  const auto ip = canonical_ip(*name);
  if (!ip) return false;
  if (is_loopback_address(*ip)) return true;
  return ip == canonical_ip(listen_address) || ip == canonical_ip(local_address);
}

}  // namespace vigil::web
