// PolicySet -> the kernel's tables (CompiledPolicy). The kernel does one longest-prefix lookup
// per decision, so each prefix carries its own port rules and those of every prefix enclosing
// it (of the same identity and direction): "deny 0.0.0.0/0 port 22" still applies to a flow
// that matches a longer "allow 198.18.0.0/16" prefix. Port rule lists are deduplicated: a
// million prefixes with the same rules share one portset.
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "netpolicy/netpolicy.h"
#include "netpolicy_maps.h"

namespace vigil::netpolicy {
namespace {

struct PrefixRules {
  std::uint32_t identity;
  Direction direction;
  Cidr cidr;
  std::vector<CompiledPortRule> rules;
};

bool prefix_order(const PrefixRules& a, const PrefixRules& b) {
  return std::tie(a.identity, a.direction, a.cidr.ipv6, a.cidr.addr, a.cidr.prefix_length) <
         std::tie(b.identity, b.direction, b.cidr.ipv6, b.cidr.addr, b.cidr.prefix_length);
}

std::string portset_key(const std::vector<CompiledPortRule>& rules) {
  std::string key;
  key.reserve(rules.size() * 12);
  for (const auto& r : rules) {
    const std::uint8_t bytes[12] = {static_cast<std::uint8_t>(r.ports.low), static_cast<std::uint8_t>(r.ports.low >> 8),
                                    static_cast<std::uint8_t>(r.ports.high),
                                    static_cast<std::uint8_t>(r.ports.high >> 8), static_cast<std::uint8_t>(r.protocol),
                                    static_cast<std::uint8_t>(r.verdict), static_cast<std::uint8_t>(r.audit),
                                    0, static_cast<std::uint8_t>(r.rule), static_cast<std::uint8_t>(r.rule >> 8),
                                    static_cast<std::uint8_t>(r.rule >> 16), static_cast<std::uint8_t>(r.rule >> 24)};
    key.append(reinterpret_cast<const char*>(bytes), sizeof(bytes));
  }
  return key;
}

std::uint32_t subject_kernel_kind(SubjectKind kind) {
  switch (kind) {
    case SubjectKind::signer: return VIGIL_NP_SUBJECT_SIGNER;
    case SubjectKind::exe: return VIGIL_NP_SUBJECT_EXE;
    case SubjectKind::container:
    case SubjectKind::cgroup: return VIGIL_NP_SUBJECT_CGROUP;
    case SubjectKind::uid: return VIGIL_NP_SUBJECT_UID;
  }
  return 0;
}

}  // namespace

Result<CompiledPolicy> compile(const PolicySet& set, const SubjectResolver& resolver, const Capacity& capacity) {
  CompiledPolicy out;
  out.policies.push_back("");
  out.policy_modes.push_back(Mode::enforce);
  out.identities.push_back({});
  out.rules.push_back({0, "default"});
  out.portsets.push_back({});  // portset 0: no rules (never referenced by a prefix)

  if (set.policies.size() > capacity.policies)
    return fail("too many policies: " + std::to_string(set.policies.size()) + ", at most " +
                std::to_string(capacity.policies));

  // Identities: one per distinct subject, in precedence order of kinds, then order of appearance.
  std::vector<const Policy*> ordered;
  for (const auto& policy : set.policies) ordered.push_back(&policy);
  std::map<std::tuple<SubjectKind, std::string>, std::uint32_t> identity_of;
  std::vector<PrefixRules> prefixes;
  for (std::size_t p = 0; p < set.policies.size(); ++p) {
    const Policy& policy = set.policies[p];
    const std::uint32_t policy_id = static_cast<std::uint32_t>(out.policies.size());
    out.policies.push_back(policy.name);
    out.policy_modes.push_back(policy.mode);
    auto [it, inserted] = identity_of.try_emplace({policy.subject.kind, policy.subject.value},
                                                  static_cast<std::uint32_t>(out.identities.size()));
    if (inserted) {
      if (out.identities.size() > capacity.identities)
        return fail("too many subjects: at most " + std::to_string(capacity.identities));
      CompiledIdentity identity;
      identity.subject = policy.subject;
      identity.policy = policy_id;
      out.identities.push_back(identity);
    }
    const std::uint32_t identity_id = it->second;
    CompiledIdentity& identity = out.identities[identity_id];
    for (std::size_t d = 0; d < 2; ++d) {
      if (policy.defaults[d] == Verdict::none) continue;
      if (identity.defaults[d] != Verdict::none && identity.defaults[d] != policy.defaults[d])
        return fail("policies disagree on the " + std::string(direction_name(Direction(d))) + " default of " +
                    policy.subject.to_string());
      identity.defaults[d] = policy.defaults[d];
      identity.default_audit[d] = policy.mode == Mode::audit;
      identity.policy = policy_id;
    }
    for (const Rule& rule : policy.rules) {
      const std::uint32_t rule_id = static_cast<std::uint32_t>(out.rules.size());
      out.rules.push_back({policy_id, rule.id});
      std::vector<CompiledPortRule> entries;
      const std::vector<PortRange> ranges = rule.ports.empty() ? std::vector<PortRange>{PortRange{0, 65535}} : rule.ports;
      for (const PortRange& range : ranges)
        entries.push_back({range, rule.protocol, rule.verdict, policy.mode == Mode::audit, rule_id});
      std::vector<Cidr> peers = rule.peers;
      for (const auto& peer : rule.peer_subjects) {
        std::vector<Cidr> addresses = resolver.addresses ? resolver.addresses(peer) : std::vector<Cidr>{};
        if (addresses.empty())
          out.warnings.push_back("policy '" + policy.name + "' rule '" + rule.id + "': peer " + peer.to_string() +
                                 " has no known address now");
        peers.insert(peers.end(), addresses.begin(), addresses.end());
      }
      if (rule.peers.empty() && rule.peer_subjects.empty()) {
        Cidr v6;
        v6.ipv6 = true;
        peers = {Cidr{}, v6};
      }
      for (const Cidr& cidr : peers) prefixes.push_back({identity_id, rule.direction, cidr, entries});
    }
  }

  // Merge the rules of equal prefixes, then give each prefix the rules of its enclosing ones.
  std::stable_sort(prefixes.begin(), prefixes.end(), prefix_order);
  std::vector<PrefixRules> merged;
  for (auto& prefix : prefixes) {
    if (!merged.empty() && merged.back().identity == prefix.identity && merged.back().direction == prefix.direction &&
        merged.back().cidr == prefix.cidr) {
      auto& rules = merged.back().rules;
      rules.insert(rules.end(), prefix.rules.begin(), prefix.rules.end());
    } else {
      merged.push_back(std::move(prefix));
    }
  }
  prefixes.clear();
  prefixes.shrink_to_fit();
  if (merged.size() > capacity.prefixes)
    return fail("the policy needs " + std::to_string(merged.size()) + " address prefixes, " +
                std::to_string(capacity.prefixes) + " are free beside the policy in force");

  // In (address, length) order enclosing prefixes come first; a stack holds the chain of
  // prefixes enclosing the current one.
  std::vector<std::size_t> chain;
  std::map<std::string, std::uint32_t> portset_ids;
  out.prefixes.reserve(merged.size());
  for (std::size_t i = 0; i < merged.size(); ++i) {
    PrefixRules& prefix = merged[i];
    while (!chain.empty()) {
      const PrefixRules& top = merged[chain.back()];
      if (top.identity == prefix.identity && top.direction == prefix.direction && top.cidr.contains(prefix.cidr)) break;
      chain.pop_back();
    }
    std::vector<CompiledPortRule> rules = prefix.rules;
    if (!chain.empty()) {
      // The enclosing prefix's list already includes its own ancestors'.
      const auto& inherited = out.portsets[out.prefixes[chain.back()].portset];
      rules.insert(rules.end(), inherited.begin(), inherited.end());
    }
    std::sort(rules.begin(), rules.end(), [](const CompiledPortRule& a, const CompiledPortRule& b) {
      return std::tie(a.rule, a.protocol, a.ports.low, a.ports.high) < std::tie(b.rule, b.protocol, b.ports.low, b.ports.high);
    });
    rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
    if (rules.size() > capacity.port_rules_per_prefix)
      return fail(out.identities[prefix.identity].subject.to_string() + " " +
                  std::string(direction_name(prefix.direction)) + " " + prefix.cidr.to_string() + ": " +
                  std::to_string(rules.size()) + " port rules apply (those of enclosing prefixes included), at most " +
                  std::to_string(capacity.port_rules_per_prefix) + "; merge ports into ranges or rules");
    auto [it, inserted] = portset_ids.try_emplace(portset_key(rules), static_cast<std::uint32_t>(out.portsets.size()));
    if (inserted) {
      if (out.portsets.size() >= capacity.portsets)
        return fail("too many distinct port rule sets: at most " + std::to_string(capacity.portsets));
      out.portsets.push_back(std::move(rules));
    }
    out.prefixes.push_back({prefix.identity, prefix.direction, prefix.cidr, it->second});
    chain.push_back(i);
  }

  // Subject keys, in identity order; a key two subjects resolve to keeps the first (kinds are in
  // precedence order within the kernel's lookup, not here: container and cgroup share keys).
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t> seen_keys;
  auto add_key = [&](std::uint32_t kind, std::uint64_t value, std::uint32_t identity) {
    auto [it, inserted] = seen_keys.try_emplace({kind, value}, identity);
    if (!inserted) {
      out.warnings.push_back(out.identities[identity].subject.to_string() + " and " +
                             out.identities[it->second].subject.to_string() +
                             " select the same workload; the first one applies");
      return;
    }
    out.subject_keys.push_back({kind, value, identity});
  };
  for (std::uint32_t id = 1; id < out.identities.size(); ++id) {
    const SubjectSelector& subject = out.identities[id].subject;
    const std::uint32_t kind = subject_kernel_kind(subject.kind);
    switch (subject.kind) {
      case SubjectKind::uid: add_key(kind, std::stoull(subject.value), id); break;
      case SubjectKind::signer:
        if (resolver.signer_id) add_key(kind, resolver.signer_id(subject.value), id);
        break;
      case SubjectKind::exe: {
        const auto ids = resolver.exe_path_ids ? resolver.exe_path_ids(subject.value) : std::vector<std::uint32_t>{};
        for (auto value : ids) add_key(kind, value, id);
        break;
      }
      case SubjectKind::container:
      case SubjectKind::cgroup: {
        const auto ids = resolver.cgroup_ids ? resolver.cgroup_ids(subject) : std::vector<std::uint64_t>{};
        if (ids.empty()) out.warnings.push_back(subject.to_string() + " matches no running workload now");
        for (auto value : ids) add_key(kind, value, id);
        break;
      }
    }
  }
  if (!set.host_deny.empty()) {
    const std::uint32_t host_policy = static_cast<std::uint32_t>(out.policies.size());
    out.policies.push_back("host");
    out.policy_modes.push_back(Mode::enforce);
    for (const auto& rule : set.host_deny) {
      const std::uint32_t rule_id = static_cast<std::uint32_t>(out.rules.size());
      out.rules.push_back({host_policy, rule.id});
      for (const auto& cidr : rule.sources) out.host_deny.push_back({cidr, rule_id, host_policy});
    }
    if (out.host_deny.size() > capacity.prefixes)
      return fail("the host deny list needs " + std::to_string(out.host_deny.size()) + " prefixes, " +
                  std::to_string(capacity.prefixes) + " are free");
  }
  if (out.subject_keys.size() > capacity.subject_keys)
    return fail("too many workloads selected: " + std::to_string(out.subject_keys.size()) + ", at most " +
                std::to_string(capacity.subject_keys));
  return out;
}

Decision evaluate(const CompiledPolicy& compiled, std::uint32_t identity, Direction direction, const Cidr& peer,
                  Protocol protocol, std::uint16_t port) {
  Decision decision;
  if (identity == 0 || identity >= compiled.identities.size()) return decision;
  const CompiledPrefix* best = nullptr;
  for (const auto& prefix : compiled.prefixes) {
    if (prefix.identity != identity || prefix.direction != direction || !prefix.cidr.contains(peer)) continue;
    if (!best || prefix.cidr.prefix_length > best->cidr.prefix_length) best = &prefix;
  }
  if (best) {
    const CompiledPortRule* allow = nullptr;
    for (const auto& rule : compiled.portsets[best->portset]) {
      if (rule.protocol != Protocol::any && rule.protocol != protocol) continue;
      if (port < rule.ports.low || port > rule.ports.high) continue;
      if (rule.verdict == Verdict::deny) {
        return {Verdict::deny, rule.audit, rule.rule, compiled.rules[rule.rule].policy};
      }
      if (!allow) allow = &rule;
    }
    if (allow) return {Verdict::allow, allow->audit, allow->rule, compiled.rules[allow->rule].policy};
  }
  const CompiledIdentity& id = compiled.identities[identity];
  const auto d = static_cast<std::size_t>(direction);
  return {id.defaults[d], id.default_audit[d], 0, id.policy};
}

}  // namespace vigil::netpolicy
