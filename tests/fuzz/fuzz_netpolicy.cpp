// Arbitrary bytes as a network policy file: parsing (YAML, subjects, CIDRs, ports), the set
// checks, compilation to the kernel's tables under small capacities, and a few evaluations.
// Nothing may crash, hang or leak, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "netpolicy/netpolicy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vigil::netpolicy;
  PolicySet set;
  std::vector<Diagnostic> diagnostics;
  ParseOptions options;
  options.allow_peer_files = false;  // no file reads from fuzz input
  parse_policy_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml", set, diagnostics, options);
  check_policy_set(set, diagnostics);
  for (const auto& d : diagnostics) (void)d.to_string();
  if (!diagnostics.empty()) return 0;
  SubjectResolver resolver;
  resolver.cgroup_ids = [](const SubjectSelector&) { return std::vector<std::uint64_t>{42}; };
  resolver.signer_id = [](std::string_view) { return 1u; };
  resolver.exe_path_ids = [](std::string_view) { return std::vector<std::uint32_t>{1, 2}; };
  Capacity capacity;
  capacity.prefixes = 4096;
  auto compiled = compile(set, resolver, capacity);
  if (!compiled) return 0;
  const Cidr v4 = parse_cidr("198.18.0.1").value();
  const Cidr v6 = parse_cidr("2001:db8::1").value();
  for (std::uint32_t identity = 0; identity < compiled->identities.size() && identity < 8; ++identity) {
    (void)evaluate(*compiled, identity, Direction::egress, v4, Protocol::tcp, 80);
    (void)evaluate(*compiled, identity, Direction::ingress, v6, Protocol::icmp, 0);
  }
  return 0;
}
