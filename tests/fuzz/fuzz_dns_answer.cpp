// DNS responses come from the network (any host can answer a lookup, or send a datagram from
// port 53): DnsNames must take any bytes without crashing and keep within its bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "state/dns_names.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vigil::state::DnsNames names;
  names.learn_response(std::span<const std::uint8_t>(data, size));
  if (names.size() > vigil::state::kMaxDnsNames) std::abort();
  vigil::state::DnsAddress address;
  address.family = 4;
  if (names.name_of(address).size() > vigil::state::kMaxDnsNameLength) std::abort();
  return 0;
}
