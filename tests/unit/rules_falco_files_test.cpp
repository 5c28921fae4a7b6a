// Falco's three rule files (tests/data/falco, falcosecurity/rules as of 2026-06) load whole:
// every rule compiles, none is skipped for a field vigil lacks, none can never match, and every
// event type they name is one vigil captures. Then the fields that made them load are checked
// on hand-built records: fd.name_changed, proc.env, evt.buffer, fd.sip.name from DNS answers.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "rules_test_support.h"
#include "state/dns_names.h"

namespace vigil::test {
namespace {

const std::vector<std::string> kFalcoFiles = {
    std::string(VIGIL_SOURCE_DIR) + "/tests/data/falco/falco_rules.yaml",
    std::string(VIGIL_SOURCE_DIR) + "/tests/data/falco/falco-incubating_rules.yaml",
    std::string(VIGIL_SOURCE_DIR) + "/tests/data/falco/falco-sandbox_rules.yaml",
};

TEST(RulesFalcoFiles, AllThreeLoadWholeWithoutSkipsOrNeverMatch) {
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(kFalcoFiles, report);  // default options: no as-missing
  const std::string diagnostics = all_diagnostics(report);
  EXPECT_TRUE(report.ok()) << diagnostics;
  EXPECT_EQ(report.failed, 0u) << diagnostics;
  EXPECT_EQ(report.skipped, 0u) << diagnostics;
  EXPECT_EQ(report.loaded, 25u + 31u + 37u) << diagnostics;
  for (const auto& warning : report.warnings) {
    EXPECT_EQ(warning.message.find("never match"), std::string::npos) << warning.to_string();
    EXPECT_EQ(warning.message.find("always missing"), std::string::npos) << warning.to_string();
    // Only outputs may name a field vigil lacks (printed <NA>): proc.sname, the session
    // leader's name (docs/rules.md). Conditions use none.
    const std::string output_only = "output field(s) vigil does not support print <NA>: proc.sname";
    if (warning.message != output_only) {
      EXPECT_EQ(warning.message.find("does not support"), std::string::npos) << warning.to_string();
    }
  }
  // What the agent would ask the kernel for: among it the calls the new rules need.
  const rules::Interest interest = set.interest();
  (void)interest;
  std::vector<std::string> names;
  for (const auto& rule : set.rules()) names.push_back(rule.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "Create Symlink Over Sensitive Files"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "Create Hardlink Over Sensitive Files"), names.end());
}

TEST(RulesFalcoFiles, UncapturedEventTypeIsWarned) {
  rules::LoadReport report;
  auto set = load_rules(one_rule("evt.type in (openat, pluginevent)"), report);
  ASSERT_TRUE(report.ok()) << all_diagnostics(report);
  ASSERT_EQ(report.warnings.size(), 1u) << all_diagnostics(report);
  EXPECT_NE(report.warnings[0].message.find("pluginevent"), std::string::npos);
}

vigil_syscall_io_event io_record(std::uint32_t nr, std::uint32_t pid, std::int32_t fd, std::int64_t ret,
                                 std::string_view data = {}, std::string_view comm = "dig") {
  vigil_syscall_io_event io{};
  fill_header(io.header, VIGIL_EVENT_SYSCALL_IO, sizeof io, pid, comm);
  io.sc.syscall_nr = nr;
  io.sc.ret = ret;
  io.fd = fd;
  io.domain = AF_INET;
  io.type = SOCK_DGRAM;
  io.protocol = 17;
  io.len = data.size();
  io.data_size = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), VIGIL_IO_DATA_MAX));
  std::memcpy(io.data, data.data(), io.data_size);
  set_v4(io.local, 10, 0, 0, 5, 40000);
  return io;
}

void pass_address(vigil_syscall_io_event& io, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                  std::uint16_t port) {
  set_v4(io.remote, a, b, c, d, port);
  io.sc.flags |= VIGIL_SYSCALL_ADDR_PASSED;
}

std::string first_value(const std::vector<Hit>& hits, const std::string& field) {
  for (const auto& hit : hits)
    for (const auto& [name, value] : hit.fields)
      if (name == field) return value;
  return "(no hit)";
}

// Falco's `outbound` macro: a datagram sent on an unconnected socket is a connection when it
// names a new peer (fd.name_changed), not every time it is sent again to the same one.
TEST(RulesFalcoFields, NameChangedWhenADatagramNamesANewPeer) {
  RulesWorld world;
  rules::LoadReport report;
  auto set = load_rules(one_rule("evt.type=sendto and fd.l4proto=udp and fd.connected=false and fd.name_changed=true",
                                 "%fd.rip %fd.rport"),
                        report);
  ASSERT_TRUE(report.ok()) << all_diagnostics(report);
  auto first = io_record(VIGIL_NR_sendto, 100, 5, 12, "hello");
  pass_address(first, 8, 8, 8, 8, 53);
  auto again = first;
  auto other = first;
  pass_address(other, 1, 1, 1, 1, 53);

  auto first_event = decoded(first);
  EXPECT_EQ(first_value(evaluate(set, *first_event, world.table.get()), "fd.rip"), "8.8.8.8");
  world.table->apply(*first_event);
  auto again_event = decoded(again);
  EXPECT_TRUE(evaluate(set, *again_event, world.table.get()).empty());
  world.table->apply(*again_event);
  auto other_event = decoded(other);
  EXPECT_EQ(first_value(evaluate(set, *other_event, world.table.get()), "fd.rip"), "1.1.1.1");
  // A send on a connected socket (no address passed: the kernel's peer) is not a new name.
  auto connected = io_record(VIGIL_NR_sendto, 100, 6, 12, "hello");
  set_v4(connected.remote, 9, 9, 9, 9, 53);
  auto connected_event = decoded(connected);
  EXPECT_TRUE(evaluate(set, *connected_event, world.table.get()).empty());
}

TEST(RulesFalcoFields, EnvironmentAtExecIsProcEnv) {
  RulesWorld world;
  rules::LoadReport report;
  auto set = load_rules(one_rule("evt.type in (procexec, execve) and proc.env icontains GLIBC_TUNABLES", "%proc.env"),
                        report);
  ASSERT_TRUE(report.ok()) << all_diagnostics(report);
  auto exec = make_exec(100, "/usr/bin/su", {"su"});
  exec.flags |= VIGIL_EXEC_KERNEL_FACTS;
  const std::string env = arg_area({"PATH=/usr/bin", "GLIBC_TUNABLES=glibc.tune.x=1"});
  exec.env_size = static_cast<std::uint32_t>(env.size());
  exec.env_captured = static_cast<std::uint32_t>(env.size());
  std::memcpy(exec.env, env.data(), env.size());
  auto exec_event = decoded(exec);
  EXPECT_EQ(first_value(evaluate(set, *exec_event, world.table.get()), "proc.env"),
            "PATH=/usr/bin GLIBC_TUNABLES=glibc.tune.x=1");
  world.table->apply(*exec_event);
  // The execve syscall record that follows sees what the table kept.
  auto execve = make_execve_syscall(100, "/usr/bin/su", 0, {"su"});
  auto execve_event = decoded(execve);
  EXPECT_EQ(first_value(evaluate(set, *execve_event, world.table.get()), "proc.env"),
            "PATH=/usr/bin GLIBC_TUNABLES=glibc.tune.x=1");
  // A clean environment does not match; a process seeded from /proc has no proc.env at all.
  auto clean = make_exec(200, "/usr/bin/su", {"su"});
  clean.flags |= VIGIL_EXEC_KERNEL_FACTS;
  const std::string plain = arg_area({"PATH=/usr/bin"});
  clean.env_size = clean.env_captured = static_cast<std::uint32_t>(plain.size());
  std::memcpy(clean.env, plain.data(), plain.size());
  EXPECT_TRUE(evaluate(set, *decoded(clean), world.table.get()).empty());
}

TEST(RulesFalcoFields, BufferHoldsTheFirstBytesReceived) {
  RulesWorld world;
  rules::LoadReport report;
  auto set = load_rules(one_rule("evt.type=recvfrom and fd.type in (ipv4, ipv6) and evt.buffer bcontains cafebabe",
                                 "%evt.buflen"),
                        report);
  ASSERT_TRUE(report.ok()) << all_diagnostics(report);
  auto classfile = io_record(VIGIL_NR_recvfrom, 100, 7, 6, std::string_view("\xca\xfe\xba\xbe\x00\x34", 6), "java");
  classfile.type = SOCK_STREAM;
  set_v4(classfile.remote, 203, 0, 113, 9, 80);
  EXPECT_EQ(first_value(evaluate(set, *decoded(classfile), world.table.get()), "evt.buflen"), "6");
  auto html = io_record(VIGIL_NR_recvfrom, 100, 7, 6, "<html>", "java");
  set_v4(html.remote, 203, 0, 113, 9, 80);
  EXPECT_TRUE(evaluate(set, *decoded(html), world.table.get()).empty());
}

std::string dns_name(const std::string& name) {
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - start));
    out.append(name, start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

// A DNS response with one question and one A answer (a compression pointer to the question).
std::string dns_answer(const std::string& name, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  std::string message("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00", 12);
  message += dns_name(name);
  message += std::string("\x00\x01\x00\x01", 4);
  message += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04", 12);
  message += std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
  return message;
}

// Falco's k8s_api_server macro: fd.sip.name names the server by the DNS answer the host saw.
TEST(RulesFalcoFields, ServerNameFromAnObservedDnsAnswer) {
  RulesWorld world;
  rules::LoadReport report;
  auto set = load_rules(one_rule("evt.type=connect and fd.sip.name=\"kubernetes.default.svc.cluster.local\"",
                                 "%fd.sip.name"),
                        report);
  ASSERT_TRUE(report.ok()) << all_diagnostics(report);
  // The rule needs the answers: recvfrom/recvmsg are in its interest.
  EXPECT_TRUE(set.interest().event_types.test(static_cast<std::size_t>(events::EventType::recvfrom)));
  auto connect = net_record(VIGIL_NR_connect, 100, 3, 0);
  set_v4(connect.remote, 10, 96, 0, 1, 443);
  EXPECT_TRUE(evaluate(set, *decoded(connect), world.table.get()).empty());  // no answer seen yet

  auto answer = io_record(VIGIL_NR_recvfrom, 100, 4, 0,
                          dns_answer("Kubernetes.default.svc.cluster.local", 10, 96, 0, 1));
  answer.sc.ret = answer.data_size;
  pass_address(answer, 10, 96, 0, 10, 53);
  world.table->apply(*decoded(answer));
  EXPECT_EQ(first_value(evaluate(set, *decoded(connect), world.table.get()), "fd.sip.name"),
            "kubernetes.default.svc.cluster.local");
  // The same answer from another port is not a DNS answer.
  RulesWorld other;
  auto fake = answer;
  fake.remote.port = 5353;
  other.table->apply(*decoded(fake));
  EXPECT_TRUE(evaluate(set, *decoded(connect), other.table.get()).empty());
}

TEST(DnsNames, MalformedAndCutResponsesTeachNothing) {
  state::DnsNames names;
  const std::string good = dns_answer("example.org", 192, 0, 2, 7);
  const auto bytes = [](const std::string& text) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  };
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_EQ(names.learn_response(bytes(good.substr(0, cut))), 0u) << cut;
  }
  // A pointer to itself (a loop) and a query (not a response).
  std::string loop = good;
  loop[good.size() - 16] = '\xc0';
  loop[good.size() - 15] = static_cast<char>(good.size() - 16);
  EXPECT_EQ(names.learn_response(bytes(loop)), 0u);
  std::string query = good;
  query[2] = '\x01';
  EXPECT_EQ(names.learn_response(bytes(query)), 0u);
  EXPECT_EQ(names.size(), 0u);
  EXPECT_EQ(names.learn_response(bytes(good)), 1u);
  state::DnsAddress address;
  address.family = 4;
  address.bytes[0] = 192;
  address.bytes[2] = 2;
  address.bytes[3] = 7;
  EXPECT_EQ(names.name_of(address), "example.org");
}

TEST(DnsNames, StaysWithinItsBound) {
  state::DnsNames names;
  for (std::uint32_t i = 0; i < state::kMaxDnsNames + 100; ++i) {
    const std::string answer = dns_answer("h" + std::to_string(i) + ".example", 10, static_cast<std::uint8_t>(i >> 16),
                                          static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
    names.learn_response(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(answer.data()),
                                                       answer.size()));
    ASSERT_LE(names.size(), state::kMaxDnsNames);
  }
  state::DnsAddress newest;
  newest.family = 4;
  const std::uint32_t last = state::kMaxDnsNames + 99;
  newest.bytes = {10, static_cast<std::uint8_t>(last >> 16), static_cast<std::uint8_t>(last >> 8),
                  static_cast<std::uint8_t>(last)};
  EXPECT_EQ(names.name_of(newest), "h" + std::to_string(last) + ".example");
}

}  // namespace
}  // namespace vigil::test
