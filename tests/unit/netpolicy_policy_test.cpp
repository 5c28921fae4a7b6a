// Network policy language: parsing with file:line diagnostics, compilation to the kernel's
// tables, and the evaluation order (explicit deny, then allow, then the subject's default).
#include <gtest/gtest.h>

#include <fstream>

#include "netpolicy/netpolicy.h"
#include "support/test_support.h"

namespace vigil::netpolicy {
namespace {

PolicySet parse_ok(std::string_view text) {
  PolicySet set;
  std::vector<Diagnostic> diagnostics;
  parse_policy_text(text, "p.yaml", set, diagnostics);
  check_policy_set(set, diagnostics);
  EXPECT_TRUE(diagnostics.empty()) << (diagnostics.empty() ? "" : diagnostics.front().to_string());
  return set;
}

std::vector<Diagnostic> parse_errors(std::string_view text) {
  PolicySet set;
  std::vector<Diagnostic> diagnostics;
  parse_policy_text(text, "p.yaml", set, diagnostics);
  EXPECT_TRUE(set.policies.empty()) << "a document with errors must add no policy";
  return diagnostics;
}

SubjectResolver fake_resolver() {
  SubjectResolver resolver;
  resolver.cgroup_ids = [](const SubjectSelector& s) {
    return s.value == "web*" ? std::vector<std::uint64_t>{1001, 1002} : std::vector<std::uint64_t>{2001};
  };
  resolver.signer_id = [](std::string_view) { return 7u; };
  resolver.exe_path_ids = [](std::string_view) { return std::vector<std::uint32_t>{3}; };
  return resolver;
}

Cidr ip(std::string_view text) { return parse_cidr(text).value(); }

constexpr std::string_view kWebPolicy = R"(policies:
  - name: web
    subject: {container: "web*"}
    default: deny
    egress:
      - id: no-ssh
        action: deny
        to: [0.0.0.0/0]
        ports: [22]
        protocol: tcp
      - id: lan
        action: allow
        to: [198.18.0.0/15]
        protocol: tcp
      - id: dns
        action: allow
        to: [198.18.0.53/32]
        ports: [53]
        protocol: udp
      - id: v6
        action: allow
        to: ["2001:db8::/32"]
        ports: ["8000-8080"]
)";

TEST(NetpolicyLanguage, ParsesSubjectsRulesAndDefaults) {
  const PolicySet set = parse_ok(kWebPolicy);
  ASSERT_EQ(set.policies.size(), 1u);
  const Policy& policy = set.policies[0];
  EXPECT_EQ(policy.name, "web");
  EXPECT_EQ(policy.subject.kind, SubjectKind::container);
  EXPECT_EQ(policy.defaults[0], Verdict::deny);
  EXPECT_EQ(policy.defaults[1], Verdict::deny);
  ASSERT_EQ(policy.rules.size(), 4u);
  EXPECT_EQ(policy.rules[0].id, "no-ssh");
  EXPECT_EQ(policy.rules[0].line, 6);
  EXPECT_EQ(policy.rules[3].ports[0], (PortRange{8000, 8080}));
  EXPECT_TRUE(policy.rules[3].peers[0].ipv6);
}

// The documented evaluation order: an explicit deny wins over an allow, an allow over the
// default; the longest prefix carries the rules of the prefixes enclosing it.
TEST(NetpolicyLanguage, EvaluationOrderDenyThenAllowThenDefault) {
  const auto compiled = compile(parse_ok(kWebPolicy), fake_resolver()).value();
  const std::uint32_t web = 1;
  // allow lan (tcp 198.18/15) but deny ssh everywhere: deny wins, names its rule.
  Decision ssh = evaluate(compiled, web, Direction::egress, ip("198.18.3.4"), Protocol::tcp, 22);
  EXPECT_EQ(ssh.verdict, Verdict::deny);
  EXPECT_EQ(compiled.rules[ssh.rule].id, "no-ssh");
  Decision http = evaluate(compiled, web, Direction::egress, ip("198.18.3.4"), Protocol::tcp, 80);
  EXPECT_EQ(http.verdict, Verdict::allow);
  EXPECT_EQ(compiled.rules[http.rule].id, "lan");
  // The /32 dns prefix inherits the /15 and /0 rules.
  EXPECT_EQ(evaluate(compiled, web, Direction::egress, ip("198.18.0.53"), Protocol::udp, 53).verdict, Verdict::allow);
  EXPECT_EQ(evaluate(compiled, web, Direction::egress, ip("198.18.0.53"), Protocol::tcp, 80).verdict, Verdict::allow);
  EXPECT_EQ(evaluate(compiled, web, Direction::egress, ip("198.18.0.53"), Protocol::tcp, 22).verdict, Verdict::deny);
  // UDP elsewhere: no rule, the default.
  Decision other = evaluate(compiled, web, Direction::egress, ip("198.18.0.54"), Protocol::udp, 53);
  EXPECT_EQ(other.verdict, Verdict::deny);
  EXPECT_EQ(other.rule, 0u);
  EXPECT_EQ(compiled.policies[other.policy], "web");
  // Port ranges, IPv6.
  EXPECT_EQ(evaluate(compiled, web, Direction::egress, ip("2001:db8::1"), Protocol::tcp, 8080).verdict, Verdict::allow);
  EXPECT_EQ(evaluate(compiled, web, Direction::egress, ip("2001:db8::1"), Protocol::tcp, 8081).verdict, Verdict::deny);
  // Ingress has no rules: the default.
  EXPECT_EQ(evaluate(compiled, web, Direction::ingress, ip("198.18.3.4"), Protocol::tcp, 80).verdict, Verdict::deny);
  // No identity: nothing applies.
  EXPECT_EQ(evaluate(compiled, 0, Direction::egress, ip("198.18.3.4"), Protocol::tcp, 22).verdict, Verdict::none);
}

TEST(NetpolicyLanguage, IcmpMatchesOnlyRulesWithoutPorts) {
  const auto compiled = compile(parse_ok(R"(policies:
  - name: p
    subject: {uid: 1000}
    default: {egress: deny}
    egress:
      - {action: allow, to: [198.18.0.0/16], protocol: icmp}
      - {action: allow, to: [198.19.0.0/16], ports: [80]}
)"),
                                fake_resolver())
                            .value();
  EXPECT_EQ(evaluate(compiled, 1, Direction::egress, ip("198.18.1.1"), Protocol::icmp, 0).verdict, Verdict::allow);
  EXPECT_EQ(evaluate(compiled, 1, Direction::egress, ip("198.19.1.1"), Protocol::icmp, 0).verdict, Verdict::deny);
  EXPECT_EQ(evaluate(compiled, 1, Direction::egress, ip("198.19.1.1"), Protocol::udp, 80).verdict, Verdict::allow);
  EXPECT_EQ(compiled.rules[1].id, "egress-1");
}

TEST(NetpolicyLanguage, AuditModeMarksDenies) {
  const auto compiled = compile(parse_ok(R"(policies:
  - name: trial
    mode: audit
    subject: {cgroup: /system.slice/x.service}
    default: deny
)"),
                                fake_resolver())
                            .value();
  Decision d = evaluate(compiled, 1, Direction::egress, ip("198.18.1.1"), Protocol::tcp, 80);
  EXPECT_EQ(d.verdict, Verdict::deny);
  EXPECT_TRUE(d.audit);
  ASSERT_EQ(compiled.subject_keys.size(), 1u);
  EXPECT_EQ(compiled.subject_keys[0].value, 2001u);
}

TEST(NetpolicyLanguage, SubjectsResolveToKernelKeys) {
  const auto compiled = compile(parse_ok(R"(policies:
  - {name: a, subject: {signer: payment}}
  - {name: b, subject: {exe: "/usr/bin/*"}}
  - {name: c, subject: {container: "web*"}}
  - {name: d, subject: {uid: 33}}
  - {name: e, subject: {uid: 33}, default: allow}
)"),
                                fake_resolver())
                            .value();
  ASSERT_EQ(compiled.identities.size(), 5u);  // d and e share one subject
  std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint32_t>> keys;
  for (const auto& k : compiled.subject_keys) keys.emplace_back(k.kind, k.value, k.identity);
  EXPECT_EQ(keys, (std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint32_t>>{
                      {1, 7, 1}, {2, 3, 2}, {3, 1001, 3}, {3, 1002, 3}, {4, 33, 4}}));
  EXPECT_EQ(compiled.identities[4].defaults[0], Verdict::allow);
  EXPECT_EQ(compiled.policies[compiled.identities[4].policy], "e");
}

TEST(NetpolicyLanguage, PortSetsAreSharedAcrossPrefixes) {
  std::string text = "policies:\n  - name: big\n    subject: {uid: 1}\n    egress:\n      - action: deny\n        ports: [443]\n        to: [";
  for (int i = 0; i < 1000; ++i) text += (i ? "," : "") + std::string("198.18.") + std::to_string(i / 250) + "." + std::to_string(i % 250) + "/32";
  text += "]\n";
  const auto compiled = compile(parse_ok(text), fake_resolver()).value();
  EXPECT_EQ(compiled.prefixes.size(), 1000u);
  EXPECT_EQ(compiled.portsets.size(), 2u);  // the reserved empty one + one shared
}

TEST(NetpolicyLanguage, ErrorsNameFileAndLine) {
  auto errors = parse_errors(R"(policies:
  - name: bad
    subjekt: {uid: 1}
    egress:
      - action: allow
        to: [198.18.0.0/33, 10.0.0.1/8, not-an-address]
        ports: [0, 70000, "90-80", 22]
        protocol: sctp
        colour: red
)");
  std::vector<std::string> texts;
  for (const auto& d : errors) texts.push_back(d.to_string());
  auto has = [&](std::string_view needle) {
    for (const auto& t : texts)
      if (t.find(needle) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("p.yaml:3: error: unknown policy key 'subjekt'")) << testing::PrintToString(texts);
  EXPECT_TRUE(has("p.yaml:6: error: '198.18.0.0/33': prefix length must be 0..32"));
  EXPECT_TRUE(has("p.yaml:6: error: '10.0.0.1/8': host bits set"));
  EXPECT_TRUE(has("p.yaml:6: error: 'not-an-address' is not an IPv4 or IPv6 address"));
  EXPECT_TRUE(has("p.yaml:7: error: port '0' is out of range"));
  EXPECT_TRUE(has("p.yaml:7: error: port '70000' is out of range"));
  EXPECT_TRUE(has("p.yaml:7: error: port range '90-80'"));
  EXPECT_TRUE(has("p.yaml:8: error: protocol must be tcp, udp, icmp or any"));
  EXPECT_TRUE(has("p.yaml:9: error: unknown rule key 'colour'"));
  EXPECT_TRUE(has("policy 'bad' has no subject"));
}

TEST(NetpolicyLanguage, MoreErrors) {
  EXPECT_FALSE(parse_errors("policies: {a: 1}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: -1}}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {image: nginx}}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: 1}, mode: loud}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: 1}, egress: [{action: allow, protocol: icmp, ports: [1]}]}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: 1}, egress: [{to: [any]}]}\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: 1}, egress: [{action: allow, to: []}]}\n").empty());
  EXPECT_FALSE(parse_errors("policies: [\n").empty());
  EXPECT_FALSE(parse_errors("policies:\n  - {name: x, subject: {uid: 1}, egress: [{id: a, action: allow}, {id: a, action: deny}]}\n").empty());
  std::vector<Diagnostic> diagnostics;
  PolicySet set;
  parse_policy_text("policies:\n  - {name: x, subject: {uid: 1}, default: allow}\n  - {name: y, subject: {uid: 1}, default: deny}\n",
                    "p.yaml", set, diagnostics);
  check_policy_set(set, diagnostics);
  ASSERT_EQ(diagnostics.size(), 2u);  // egress and ingress
  EXPECT_EQ(diagnostics[0].line, 3);
  EXPECT_NE(diagnostics[0].message.find("policy 'x' sets it to allow"), std::string::npos) << diagnostics[0].message;
}

TEST(NetpolicyLanguage, TooLargeForTheMapsIsRefusedWhole) {
  const PolicySet set = parse_ok(R"(policies:
  - name: p
    subject: {uid: 1}
    egress:
      - {action: allow, to: [198.18.0.0/16, 198.18.1.0/24, 198.18.2.0/24]}
)");
  Capacity small;
  small.prefixes = 2;
  auto result = compile(set, fake_resolver(), small);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("3 address prefixes, 2 are free"), std::string::npos) << result.error().message;

  std::string many = "policies:\n  - name: p\n    subject: {uid: 1}\n    egress:\n";
  for (int i = 0; i < 17; ++i) many += "      - {action: allow, to: [198.18.0.0/16], ports: [" + std::to_string(i + 1) + "]}\n";
  auto too_many_ports = compile(parse_ok(many), fake_resolver());
  ASSERT_FALSE(too_many_ports);
  EXPECT_NE(too_many_ports.error().message.find("17 port rules apply"), std::string::npos);
}

TEST(NetpolicyLanguage, PeerFilesAreReadBesideThePolicy) {
  test::TempDir dir;
  {
    std::ofstream peers(dir.path() + "/deny.txt");
    peers << "# a deny list\n198.18.5.0/24\n\n  2001:db8::1  # host\n";
    std::ofstream policy(dir.path() + "/p.yaml");
    policy << "policies:\n  - name: p\n    subject: {uid: 1}\n    egress:\n      - {action: deny, to_file: deny.txt}\n";
  }
  std::vector<Diagnostic> diagnostics;
  const PolicySet set = load_policy_files({dir.path() + "/p.yaml"}, diagnostics);
  ASSERT_TRUE(diagnostics.empty()) << diagnostics[0].to_string();
  ASSERT_EQ(set.policies[0].rules[0].peers.size(), 2u);
  EXPECT_EQ(set.policies[0].rules[0].peers[1].to_string(), "2001:db8::1/128");
  {
    std::ofstream peers(dir.path() + "/deny.txt");
    peers << "198.18.5.0/24\n300.1.1.1\n";
  }
  diagnostics.clear();
  const PolicySet bad = load_policy_files({dir.path() + "/p.yaml"}, diagnostics);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].line, 2);
  EXPECT_EQ(diagnostics[0].file, dir.path() + "/deny.txt");
  EXPECT_TRUE(bad.policies.empty());
}

}  // namespace
}  // namespace vigil::netpolicy

namespace vigil::netpolicy {
namespace {

TEST(NetpolicyLanguage, HostDenyList) {
  const PolicySet set = parse_ok("host_deny:\n  - {id: quarantine, from: [198.18.9.0/24, \"2001:2::1\"]}\n  - {from: [198.19.0.1]}\n");
  ASSERT_EQ(set.host_deny.size(), 2u);
  EXPECT_EQ(set.host_deny[1].id, "host-deny-2");
  const auto compiled = compile(set, fake_resolver()).value();
  ASSERT_EQ(compiled.host_deny.size(), 3u);
  EXPECT_EQ(compiled.policies[compiled.host_deny[0].policy], "host");
  EXPECT_EQ(compiled.rules[compiled.host_deny[2].rule].id, "host-deny-2");
  EXPECT_FALSE(parse_errors("host_deny:\n  - {id: x}\n").empty());
  EXPECT_FALSE(parse_errors("host_deny:\n  - {from: [{subject: {uid: 1}}]}\n").empty());
  EXPECT_FALSE(parse_errors("host_deny:\n  - {to: [198.18.0.1]}\n").empty());
}

}  // namespace
}  // namespace vigil::netpolicy
