#pragma once
// Names of addresses as the host's own DNS lookups answered them: fd.sip.name, fd.cip.name,
// fd.lip.name and fd.rip.name of rules. Fed with the first bytes of datagrams received from
// port 53 (the probe's recvfrom/recvmsg records carry VIGIL_IO_DATA_MAX of them): every A/AAAA
// answer of a response names its address by the question's name. An address no observed answer
// named has no name (the fields are missing); docs/rules.md says how this differs from Falco,
// which resolves the names a rule lists itself.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vigil::state {

struct DnsAddress {
  std::uint8_t family = 0;  // 4 or 6
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const DnsAddress&) const = default;
};

struct DnsAddressHash {
  std::size_t operator()(const DnsAddress& address) const noexcept;
};

// At most this many addresses are remembered; a full cache forgets the oldest half.
inline constexpr std::size_t kMaxDnsNames = 4096;
// Names longer than this (DNS allows 253 characters) are not kept.
inline constexpr std::size_t kMaxDnsNameLength = 253;

class DnsNames {
 public:
  // Parses one DNS response (untrusted bytes, possibly cut short) and remembers the addresses
  // of its A/AAAA answers under the question's name (lower case, no trailing dot). Returns the
  // number of addresses learnt; anything malformed stops the parse without harm.
  std::size_t learn_response(std::span<const std::uint8_t> message);
  // The name last seen for the address; "" when none.
  std::string_view name_of(const DnsAddress& address) const;
  std::size_t size() const { return names_.size(); }

 private:
  struct Entry {
    std::string name;
    std::uint64_t sequence = 0;
  };
  std::unordered_map<DnsAddress, Entry, DnsAddressHash> names_;
  std::uint64_t sequence_ = 0;
};

}  // namespace vigil::state
