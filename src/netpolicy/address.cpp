// CIDR text <-> Cidr, and the names of the enums.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "netpolicy/netpolicy.h"

namespace vigil::netpolicy {

std::string_view direction_name(Direction direction) {
  return direction == Direction::egress ? "egress" : "ingress";
}

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::allow: return "allow";
    case Verdict::deny: return "deny";
    case Verdict::none: break;
  }
  return "none";
}

std::string_view mode_name(Mode mode) { return mode == Mode::audit ? "audit" : "enforce"; }

std::string_view protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::icmp: return "icmp";
    case Protocol::tcp: return "tcp";
    case Protocol::udp: return "udp";
    case Protocol::any: break;
  }
  return "any";
}

std::string_view subject_kind_name(SubjectKind kind) {
  switch (kind) {
    case SubjectKind::signer: return "signer";
    case SubjectKind::exe: return "exe";
    case SubjectKind::container: return "container";
    case SubjectKind::cgroup: return "cgroup";
    case SubjectKind::uid: return "uid";
  }
  return "?";
}

std::string SubjectSelector::to_string() const { return std::string(subject_kind_name(kind)) + "=" + value; }

std::string Diagnostic::to_string() const {
  std::string location = file;
  if (line > 0) location += ":" + std::to_string(line);
  return location + ": error: " + message;
}

bool Cidr::contains(const Cidr& other) const {
  if (ipv6 != other.ipv6 || other.prefix_length < prefix_length) return false;
  const std::size_t full = prefix_length / 8;
  if (std::memcmp(addr.data(), other.addr.data(), full) != 0) return false;
  const unsigned rest = prefix_length % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (addr[full] & mask) == (other.addr[full] & mask);
}

std::string Cidr::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, addr.data(), text, sizeof(text));
  return std::string(text) + "/" + std::to_string(prefix_length);
}

Result<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  if (address.empty() || address.size() >= INET6_ADDRSTRLEN)
    return fail("'" + std::string(text) + "' is not an IPv4 or IPv6 address or CIDR");
  Cidr cidr;
  const std::string address_text(address);
  if (inet_pton(AF_INET, address_text.c_str(), cidr.addr.data()) == 1) {
    cidr.ipv6 = false;
  } else if (inet_pton(AF_INET6, address_text.c_str(), cidr.addr.data()) == 1) {
    cidr.ipv6 = true;
  } else {
    return fail("'" + std::string(text) + "' is not an IPv4 or IPv6 address or CIDR");
  }
  const unsigned max_length = cidr.ipv6 ? 128 : 32;
  unsigned length = max_length;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() || length > max_length)
      return fail("'" + std::string(text) + "': prefix length must be 0.." + std::to_string(max_length));
  }
  cidr.prefix_length = static_cast<std::uint8_t>(length);
  // Host bits set ("198.18.0.1/16") are almost always a typo for another prefix: refuse them.
  for (unsigned bit = length; bit < max_length; ++bit) {
    if (cidr.addr[bit / 8] & (0x80u >> (bit % 8)))
      return fail("'" + std::string(text) + "': host bits set beyond the /" + std::to_string(length) +
                  " prefix");
  }
  return cidr;
}

}  // namespace vigil::netpolicy
