#pragma once
// Network policy (docs/netpolicy.md): YAML policies parsed with file:line diagnostics and
// compiled to the tables the kernel programs read (bpf/abi/netpolicy_maps.h). Pure: no kernel,
// no files but the ones named, so it is unit-tested and fuzzed as is. The loader is
// src/probe/netpolicy_kernel.h; the agent ties the two together.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil::netpolicy {

enum class Direction : std::uint8_t { egress = 0, ingress = 1 };
enum class Verdict : std::uint8_t { none = 0, allow = 1, deny = 2 };
enum class Mode : std::uint8_t { enforce, audit };
enum class Protocol : std::uint8_t { any = 0, icmp = 1, tcp = 6, udp = 17 };
// In precedence order: a process matched by several subjects gets the first kind's identity.
enum class SubjectKind : std::uint8_t { signer = 1, exe = 2, container = 3, cgroup = 4, uid = 5 };

std::string_view direction_name(Direction direction);
std::string_view verdict_name(Verdict verdict);
std::string_view mode_name(Mode mode);
std::string_view protocol_name(Protocol protocol);
std::string_view subject_kind_name(SubjectKind kind);

// One error, printed "file:line: error: message" as `vigil rules check` does.
struct Diagnostic {
  std::string file;
  int line = 0;
  std::string message;
  std::string to_string() const;
};

// An address prefix; IPv4 in the first 4 bytes of addr.
struct Cidr {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> addr{};
  std::uint8_t prefix_length = 0;
  bool operator==(const Cidr&) const = default;
  bool contains(const Cidr& other) const;  // same family, other is inside this
  std::string to_string() const;
};
// "198.18.0.0/15", "2001:db8::/32", "198.18.0.1" (a host), "any" is not a CIDR.
Result<Cidr> parse_cidr(std::string_view text);

struct SubjectSelector {
  SubjectKind kind = SubjectKind::uid;
  std::string value;  // keyring name, path glob, container id glob, cgroup path, uid in decimal
  bool operator==(const SubjectSelector&) const = default;
  std::string to_string() const;  // "container=3f2a*"
};

struct PortRange {
  std::uint16_t low = 0, high = 65535;
  bool operator==(const PortRange&) const = default;
};

struct Rule {
  std::string id;  // unique within its policy
  int line = 0;
  Direction direction = Direction::egress;
  Verdict verdict = Verdict::allow;
  Protocol protocol = Protocol::any;
  std::vector<PortRange> ports;                // empty: every port
  std::vector<Cidr> peers;                     // empty together with peer_subjects: any address
  std::vector<SubjectSelector> peer_subjects;  // workloads on this host, by identity
};

struct Policy {
  std::string name;
  std::string file;
  int line = 0;
  Mode mode = Mode::enforce;
  SubjectSelector subject;
  std::array<Verdict, 2> defaults{Verdict::none, Verdict::none};  // by Direction
  std::vector<Rule> rules;
};

// The host deny list (top-level `host_deny:`): source prefixes dropped on the host interfaces
// before the stack (XDP, TC fallback), whoever they were going to.
struct HostDenyRule {
  std::string id;
  std::string file;
  int line = 0;
  std::vector<Cidr> sources;
};

struct PolicySet {
  std::vector<Policy> policies;
  std::vector<HostDenyRule> host_deny;
  std::size_t rule_count() const;
};

struct ParseOptions {
  // Peer lists read from files (to_file:/from_file:) are resolved against the policy file's
  // directory; off (the fuzzer): such keys are errors.
  bool allow_peer_files = true;
};

// Parses one policy document. Diagnostics are appended; policies are appended only when the
// document has no error.
void parse_policy_text(std::string_view text, const std::string& file_name, PolicySet& out,
                       std::vector<Diagnostic>& diagnostics, const ParseOptions& options = {});
// Reads and parses files; then checks the whole set (policy names unique, defaults of one
// subject agree).
PolicySet load_policy_files(const std::vector<std::string>& files, std::vector<Diagnostic>& diagnostics,
                            const ParseOptions& options = {});
void check_policy_set(const PolicySet& set, std::vector<Diagnostic>& diagnostics);

// ---- Compilation to the kernel tables ----

// What the host knows of subjects at apply time (the agent's view; tests fake it).
struct SubjectResolver {
  // cgroup ids (cgroup v2 directory inodes) of the containers whose id matches the glob, and of
  // the cgroup at a path.
  std::function<std::vector<std::uint64_t>(const SubjectSelector&)> cgroup_ids;
  // The agent's stable ids of a keyring name and of executable paths matching a glob.
  std::function<std::uint32_t(std::string_view keyring)> signer_id;
  std::function<std::vector<std::uint32_t>(std::string_view glob)> exe_path_ids;
  // Addresses of a subject's workloads on this host (for peer subjects); may be empty.
  std::function<std::vector<Cidr>(const SubjectSelector&)> addresses;
};

struct CompiledPortRule {
  PortRange ports;
  Protocol protocol = Protocol::any;
  Verdict verdict = Verdict::allow;
  bool audit = false;
  std::uint32_t rule = 0;
  bool operator==(const CompiledPortRule&) const = default;
};

struct CompiledIdentity {
  SubjectSelector subject;
  std::array<Verdict, 2> defaults{Verdict::none, Verdict::none};
  std::array<bool, 2> default_audit{false, false};
  std::uint32_t policy = 0;  // the policy that set a default, else the first naming the subject
};

struct CompiledPrefix {
  std::uint32_t identity = 0;
  Direction direction = Direction::egress;
  Cidr cidr;
  std::uint32_t portset = 0;
};

struct CompiledSubjectKey {
  std::uint32_t kind = 0;  // VIGIL_NP_SUBJECT_*
  std::uint64_t value = 0;
  std::uint32_t identity = 0;
};

struct RuleName {
  std::uint32_t policy = 0;
  std::string id;
};

// The tables of one generation. Index 0 of identities, policies and rules is reserved ("none",
// "the default").
struct CompiledPolicy {
  std::vector<std::string> policies;            // policy id -> name
  std::vector<Mode> policy_modes;               // policy id -> mode
  std::vector<CompiledIdentity> identities;     // identity id -> subject
  std::vector<RuleName> rules;                  // rule id -> (policy, rule id text)
  std::vector<std::vector<CompiledPortRule>> portsets;
  std::vector<CompiledPrefix> prefixes;
  std::vector<CompiledSubjectKey> subject_keys;
  struct HostDeny {
    Cidr cidr;
    std::uint32_t rule = 0;
    std::uint32_t policy = 0;  // the "host" policy
  };
  std::vector<HostDeny> host_deny;
  std::vector<std::string> warnings;            // e.g. a container subject that matches nothing yet
};

struct Capacity {
  std::size_t identities = 4096 - 1;
  std::size_t policies = 256 - 1;
  std::size_t portsets = 16384;
  std::size_t port_rules_per_prefix = 16;
  std::size_t prefixes = std::size_t{1} << 20;  // free entries beside the policy in force
  std::size_t subject_keys = 32768;
};

// Compiles a checked set. Fails, naming the limit, when it does not fit `capacity`.
Result<CompiledPolicy> compile(const PolicySet& set, const SubjectResolver& resolver, const Capacity& capacity = {});

// How the kernel would judge one flow under a compiled policy (the same algorithm as
// bpf/netpolicy_common.bpf.h; used by tests and `vigil netpolicy check --explain`).
struct Decision {
  Verdict verdict = Verdict::none;  // none: no identity or no default, allowed and not logged
  bool audit = false;
  std::uint32_t rule = 0;
  std::uint32_t policy = 0;
};
Decision evaluate(const CompiledPolicy& compiled, std::uint32_t identity, Direction direction, const Cidr& peer,
                  Protocol protocol, std::uint16_t port);

}  // namespace vigil::netpolicy
