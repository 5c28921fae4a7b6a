#include "rules/values.h"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace vigil::rules {

bool IpNetwork::contains(const IpAddress& ip) const {
  if (ip.family != address.family) return false;
  int remaining = prefix;
  for (std::size_t i = 0; remaining > 0 && i < ip.bytes.size(); ++i, remaining -= 8) {
    const std::uint8_t mask = remaining >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - remaining));
    if ((ip.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

bool parse_ip_network(std::string_view text, IpNetwork& out) {
  std::string_view address = text;
  int prefix = -1;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    const std::string_view digits = text.substr(slash + 1);
    const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (result.ec != std::errc() || result.ptr != digits.data() + digits.size() || prefix < 0) return false;
  }
  if (address.empty() || address.size() >= INET6_ADDRSTRLEN) return false;
  const std::string copy(address);  // inet_pton needs a NUL-terminated string (load time only)
  out = IpNetwork{};
  if (::inet_pton(AF_INET, copy.c_str(), out.address.bytes.data()) == 1) {
    out.address.family = 4;
    if (prefix > 32) return false;
    out.prefix = prefix < 0 ? 32 : prefix;
    return true;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), out.address.bytes.data()) == 1) {
    out.address.family = 6;
    if (prefix > 128) return false;
    out.prefix = prefix < 0 ? 128 : prefix;
    return true;
  }
  return false;
}

}  // namespace vigil::rules
