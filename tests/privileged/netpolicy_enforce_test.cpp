// Network policy enforced in the kernel between real runc containers (tests/privileged/
// netpolicy_lab.h): egress at connect/sendmsg, ingress at the receiving socket, ICMP, IPv6,
// audit mode, flow records naming policy and rule, atomic swaps, refusals, and the pinned
// programs outliving the process that loaded them.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <cerrno>
#include <thread>

#include "privileged/netpolicy_lab.h"

using namespace vigil;
using namespace vigil::test;
using namespace std::chrono_literals;

namespace {

class NetPolicyEnforce : public ::testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE(lab_.unavailable().empty(), lab_.unavailable());
    a_ = &lab_.add_workload();
    b_ = &lab_.add_workload();
    c_ = &lab_.add_workload();
    lab_.serve(*b_, {8080, 8081, 5353, 5354});
    auto kernel = lab_.open_kernel();
    ASSERT_TRUE(kernel) << kernel.error().message;
    kernel_.emplace(std::move(*kernel));
  }

  std::string glob(const LabWorkload& w) const { return w.container->id().substr(0, 16) + "*"; }

  void apply(const std::string& text) {
    auto report = kernel_->apply(lab_.compile(text));
    ASSERT_TRUE(report) << report.error().message;
    compiled_ = lab_.compile(text);
  }

  std::vector<vigil_np_flow> drain_flows() {
    std::vector<vigil_np_flow> flows;
    for (int i = 0; i < 5; ++i) {
      auto n = kernel_->poll_flows(20ms, [&](const vigil_np_flow& flow) { flows.push_back(flow); });
      if (!n || *n == 0) break;
    }
    return flows;
  }

  std::string rule_name(const vigil_np_flow& flow) const {
    if (flow.rule >= compiled_.rules.size() || flow.policy >= compiled_.policies.size()) return "?";
    return compiled_.policies[flow.policy] + "/" + compiled_.rules[flow.rule].id;
  }

  NetLab lab_;
  LabWorkload* a_ = nullptr;
  LabWorkload* b_ = nullptr;
  LabWorkload* c_ = nullptr;
  std::optional<probe::NetPolicyKernel> kernel_;
  netpolicy::CompiledPolicy compiled_;
};

TEST_F(NetPolicyEnforce, DefaultDenyWithOneAllowedPort) {
  const std::string b = b_->ipv4;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, 0) << "no policy yet: open";
  apply("policies:\n  - name: web\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: {egress: deny}\n    egress:\n      - {id: app, action: allow, to: [198.18.0.0/15], ports: [8080], "
        "protocol: tcp}\n");
  drain_flows();
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  const ProbeResult denied = lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); });
  EXPECT_EQ(denied.error, EPERM) << "a denied connect fails with EPERM in the caller";
  // Another workload is not the subject: unaffected.
  EXPECT_EQ(lab_.run_in(*c_, [&] { return tcp_connect(b, 8081); }).error, 0);
  // The denied flow is recorded with the policy, the rule (here the default) and the 5-tuple.
  bool found = false;
  for (const auto& flow : drain_flows()) {
    if (flow.verdict != VIGIL_NP_VERDICT_DENY) continue;
    found = true;
    EXPECT_EQ(flow.pid, static_cast<std::uint32_t>(denied.pid));
    EXPECT_EQ(flow.remote_port, 8081);
    EXPECT_EQ(flow.protocol, VIGIL_NP_PROTO_TCP);
    EXPECT_EQ(flow.direction, VIGIL_NP_DIR_EGRESS);
    EXPECT_EQ(flow.hook, VIGIL_NP_HOOK_CONNECT);
    EXPECT_EQ(flow.cgroup_id, a_->cgroup_id);
    EXPECT_EQ(rule_name(flow), "web/default");
    EXPECT_EQ(flow.flags & VIGIL_NP_FLAG_AUDIT, 0);
  }
  EXPECT_TRUE(found) << "no deny record";
  const auto counters = kernel_->counters(1);
  EXPECT_GE(counters.denied, 1u);
  EXPECT_GE(counters.allowed, 1u);
}

TEST_F(NetPolicyEnforce, DeniedFlowNamesPolicyAndRule) {
  const std::string b = b_->ipv4;
  apply("policies:\n  - name: lockdown\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    egress:\n      - {id: no-8081, action: deny, to: [" + b + "/32], ports: [8081]}\n"
        "      - {id: lan, action: allow, to: [198.18.0.0/15]}\n");
  drain_flows();
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, EPERM) << "deny before allow";
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  std::vector<std::string> denied;
  for (const auto& flow : drain_flows())
    if (flow.verdict == VIGIL_NP_VERDICT_DENY) denied.push_back(rule_name(flow));
  EXPECT_EQ(denied, std::vector<std::string>{"lockdown/no-8081"});
}

TEST_F(NetPolicyEnforce, IngressToBOnlyFromA) {
  const std::string b = b_->ipv4;
  apply("policies:\n  - name: b-in\n    subject: {container: \"" + glob(*b_) +
        "\"}\n    default: {ingress: deny}\n    ingress:\n      - {id: from-a, action: allow, from: [{subject: {container: \"" +
        glob(*a_) + "\"}}], ports: [8080], protocol: tcp}\n");
  drain_flows();
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  EXPECT_EQ(lab_.run_in(*c_, [&] { return tcp_connect(b, 8080); }).error, ETIMEDOUT) << "C's SYN is dropped at B";
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, ETIMEDOUT) << "only port 8080";
  bool found = false;
  for (const auto& flow : drain_flows()) {
    if (flow.verdict != VIGIL_NP_VERDICT_DENY) continue;
    if (flow.direction != VIGIL_NP_DIR_INGRESS || flow.local_port != 8080) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, flow.remote_addr, text, sizeof(text));
    EXPECT_EQ(std::string(text), c_->ipv4);
    EXPECT_EQ(flow.hook, VIGIL_NP_HOOK_SKB);
    EXPECT_EQ(rule_name(flow), "b-in/default");
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST_F(NetPolicyEnforce, UdpEgressAndReplies) {
  const std::string b = b_->ipv4;
  // A denies everything by default, both ways; its DNS-like exchange with B:5353 is allowed and
  // the reply gets in (a reply to a datagram A sent, not a new ingress flow).
  apply("policies:\n  - name: udp\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: deny\n    egress:\n      - {id: dns, action: allow, to: [" + b +
        "/32], ports: [5353], protocol: udp}\n");
  EXPECT_EQ(lab_.run_in(*a_, [&] { return udp_exchange(b, 5353); }).error, 0);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return udp_exchange(b, 5354); }).error, EPERM) << "sendto is refused";
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 5353); }).error, EPERM) << "tcp is not udp";
}

TEST_F(NetPolicyEnforce, Ipv6) {
  const std::string b = b_->ipv6;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, 0);
  apply("policies:\n  - name: v6\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: {egress: deny}\n    egress:\n      - {id: app, action: allow, to: [\"2001:2::/48\"], ports: [8080]}\n");
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, EPERM);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return udp_exchange(b, 8080); }).error, 0) << "ports without protocol: tcp and udp";
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b_->ipv4, 8080); }).error, EPERM) << "IPv4 is not in 2001:2::/48";
}

TEST_F(NetPolicyEnforce, Icmp) {
  const std::string b = b_->ipv4;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return icmp_echo(b); }).error, 0);
  apply("policies:\n  - name: icmp\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: {egress: deny}\n    egress:\n      - {id: ping6, action: allow, to: [\"2001:2::/48\"], protocol: icmp}\n");
  const int blocked = lab_.run_in(*a_, [&] { return icmp_echo(b); }).error;
  EXPECT_TRUE(blocked == EPERM || blocked == ETIMEDOUT) << blocked;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return icmp_echo(b_->ipv6); }).error, 0);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b_->ipv6, 8080); }).error, EPERM) << "icmp only";
}

TEST_F(NetPolicyEnforce, AuditModeLogsWouldDenyAndLetsThrough) {
  const std::string b = b_->ipv4;
  apply("policies:\n  - name: trial\n    mode: audit\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: deny\n    egress:\n      - {id: no-8081, action: deny, to: [any], ports: [8081]}\n");
  drain_flows();
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, 0);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  std::vector<std::string> audited;
  for (const auto& flow : drain_flows()) {
    EXPECT_EQ(flow.verdict, VIGIL_NP_VERDICT_DENY);
    EXPECT_TRUE(flow.flags & VIGIL_NP_FLAG_AUDIT);
    audited.push_back(rule_name(flow) + ":" + std::to_string(flow.remote_port));
  }
  EXPECT_EQ(audited, (std::vector<std::string>{"trial/no-8081:8081", "trial/default:8080"}));
  EXPECT_EQ(kernel_->counters(1).audited, 2u);
  EXPECT_EQ(kernel_->counters(1).denied, 0u);
}

// Every connection of a storm is judged by the old or the new policy, never by neither: policy
// P1 audits port 8080 (the connect passes, a "would deny" record names p1), P2 denies it (EPERM,
// a record names p2). A half-loaded policy would show as a connect without a record (no
// identity) or a record naming the default.
TEST_F(NetPolicyEnforce, PolicySwapUnderConnectStorm) {
  const std::string b = b_->ipv4;
  const std::string p1 = "policies:\n  - name: storm\n    mode: audit\n    subject: {container: \"" + glob(*a_) +
                         "\"}\n    default: {egress: allow}\n    egress:\n      - {id: p1, action: deny, to: [" + b +
                         "/32], ports: [8080]}\n";
  const std::string p2 = "policies:\n  - name: storm\n    subject: {container: \"" + glob(*a_) +
                         "\"}\n    default: {egress: allow}\n    egress:\n      - {id: p2, action: deny, to: [198.18.0.0/16], "
                         "ports: [8080]}\n      - {id: filler, action: deny, to: [198.19.0.0/16]}\n";
  apply(p1);
  drain_flows();
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  constexpr int kConnects = 1500;
  std::atomic<bool> done{false};
  std::thread storm([&] {
    lab_.run_in(
        *a_,
        [&] {
          for (int i = 0; i < kConnects; ++i) {
            const char outcome = tcp_connect(b, 8080) == 0 ? 'o' : 'e';
            (void)!::write(pipefd[1], &outcome, 1);
          }
          return 0;
        },
        120s);
    done = true;
  });
  int swaps = 0;
  std::vector<vigil_np_flow> flows;
  std::map<std::uint32_t, std::string> rule_of_gen[2];
  while (!done) {
    const bool to_p2 = swaps % 2 == 0;
    auto compiled = lab_.compile(to_p2 ? p2 : p1);
    auto report = kernel_->apply(compiled);
    ASSERT_TRUE(report) << report.error().message;
    for (std::uint32_t r = 0; r < compiled.rules.size(); ++r) rule_of_gen[report->generation][r] = compiled.rules[r].id;
    ++swaps;
    kernel_->poll_flows(5ms, [&](const vigil_np_flow& flow) { flows.push_back(flow); }).value();
  }
  storm.join();
  ::close(pipefd[1]);
  std::string outcomes;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buffer, sizeof(buffer))) > 0;) outcomes.append(buffer, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  for (int i = 0; i < 20; ++i) kernel_->poll_flows(10ms, [&](const vigil_np_flow& flow) { flows.push_back(flow); }).value();
  ASSERT_EQ(outcomes.size(), static_cast<std::size_t>(kConnects));
  EXPECT_GE(swaps, 4);
  std::size_t passed = std::count(outcomes.begin(), outcomes.end(), 'o');
  std::size_t audited = 0, denied = 0, other = 0;
  for (const auto& flow : flows) {
    if (flow.remote_port != 8080) continue;
    const std::string rule = rule_of_gen[flow.gen & 1][flow.rule];
    if (rule == "p1" && (flow.flags & VIGIL_NP_FLAG_AUDIT)) ++audited;
    else if (rule == "p2" && !(flow.flags & VIGIL_NP_FLAG_AUDIT)) ++denied;
    else ++other;
  }
  EXPECT_EQ(other, 0u);
  EXPECT_EQ(audited, passed) << "every passed connect was judged (and audited) by P1";
  EXPECT_EQ(denied, kConnects - passed) << "every refused connect was denied by P2";
  EXPECT_GT(audited, 0u);
  EXPECT_GT(denied, 0u);
  RecordProperty("swaps", swaps);
}

TEST_F(NetPolicyEnforce, PolicyTooLargeIsRefusedWholeOldStays) {
  const std::string b = b_->ipv4;
  apply("policies:\n  - name: web\n    subject: {container: \"" + glob(*a_) +
        "\"}\n    default: {egress: deny}\n    egress:\n      - {id: app, action: allow, to: [any], ports: [8080]}\n");
  auto big = lab_.compile("policies:\n  - name: other\n    subject: {container: \"" + glob(*a_) + "\"}\n    default: allow\n");
  big.prefixes.resize(kernel_->free_prefixes() + 1, big.prefixes.empty() ? netpolicy::CompiledPrefix{} : big.prefixes[0]);
  auto refused = kernel_->apply(big);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("address prefixes"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("nothing was changed"), std::string::npos) << refused.error().message;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, EPERM) << "the old policy is in force";
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
}

// The programs and maps are pinned: a loader that dies (SIGKILL) leaves its policy enforcing;
// the next one takes over the same maps; detach() opens everything again.
TEST_F(NetPolicyEnforce, PinnedPolicyOutlivesTheLoaderAndIsTakenOver) {
  const std::string b = b_->ipv4;
  kernel_.reset();
  const std::string text = "policies:\n  - name: web\n    subject: {container: \"" + glob(*a_) +
                           "\"}\n    default: {egress: deny}\n";
  const auto compiled = lab_.compile(text);
  const pid_t loader = ::fork();
  ASSERT_GE(loader, 0);
  if (loader == 0) {
    auto kernel = lab_.open_kernel();
    if (!kernel || !kernel->apply(compiled)) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  bool enforcing = false;
  for (int i = 0; i < 100 && !enforcing; ++i) {
    std::this_thread::sleep_for(100ms);
    enforcing = lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error == EPERM;
  }
  ASSERT_TRUE(enforcing);
  ::kill(loader, SIGKILL);
  ::waitpid(loader, nullptr, 0);
  EXPECT_TRUE(probe::NetPolicyKernel::pinned(lab_.pin_dir()));
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, EPERM) << "still enforced after the crash";
  // Takeover: the same maps (the policy stays until the new one is applied), new programs.
  auto kernel = lab_.open_kernel();
  ASSERT_TRUE(kernel) << kernel.error().message;
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, EPERM) << "no gap at takeover";
  ASSERT_TRUE(kernel->apply(lab_.compile("policies:\n  - name: web\n    subject: {container: \"" + glob(*a_) +
                                         "\"}\n    default: {egress: deny}\n    egress:\n      - {action: allow, ports: [8080]}\n")));
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8080); }).error, 0);
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, EPERM);
  ASSERT_TRUE(probe::NetPolicyKernel::detach(lab_.pin_dir()));
  EXPECT_FALSE(probe::NetPolicyKernel::pinned(lab_.pin_dir()));
  EXPECT_EQ(lab_.run_in(*a_, [&] { return tcp_connect(b, 8081); }).error, 0) << "detached: open again";
}

}  // namespace

namespace {

// The host deny list drops a source before the stack on a host interface: XDP, or TC where XDP
// is not used. Here the interface is the bridge side of A's veth: A's packets are dropped there.
void host_deny_case(NetLab& lab, LabWorkload& a, LabWorkload& b, LabWorkload& c, bool force_tc) {
  auto kernel = lab.open_kernel({a.host_veth}, force_tc);
  ASSERT_TRUE(kernel) << kernel.error().message;
  ASSERT_EQ(kernel->host_attachments().size(), 1u);
  EXPECT_EQ(kernel->host_attachments()[0].mode, force_tc ? "tc" : "xdp");
  const auto compiled = lab.compile("host_deny:\n  - {id: quarantine, from: [" + a.ipv4 + "/32, \"2001:2::/120\"]}\n");
  ASSERT_TRUE(kernel->apply(compiled));
  const std::string target = b.ipv4;
  EXPECT_EQ(lab.run_in(a, [&] { return tcp_connect(target, 8080); }).error, ETIMEDOUT) << "dropped at the interface";
  EXPECT_EQ(lab.run_in(c, [&] { return tcp_connect(target, 8080); }).error, 0) << "C is not on the list";
  std::vector<vigil_np_flow> flows;
  for (int i = 0; i < 5; ++i) (void)kernel->poll_flows(20ms, [&](const vigil_np_flow& flow) { flows.push_back(flow); });
  ASSERT_FALSE(flows.empty());
  EXPECT_EQ(flows[0].hook, force_tc ? VIGIL_NP_HOOK_TC : VIGIL_NP_HOOK_XDP);
  EXPECT_EQ(compiled.rules[flows[0].rule].id, "quarantine");
  EXPECT_EQ(compiled.policies[flows[0].policy], "host");
  EXPECT_GE(kernel->counters(flows[0].policy).denied, 1u);
  // An empty list lets A through again (atomic swap of the deny list too).
  ASSERT_TRUE(kernel->apply(lab.compile("policies: []\n")));
  EXPECT_EQ(lab.run_in(a, [&] { return tcp_connect(target, 8080); }).error, 0);
}

}  // namespace

TEST_F(NetPolicyEnforce, HostDenyListAtXdp) {
  kernel_.reset();
  host_deny_case(lab_, *a_, *b_, *c_, /*force_tc=*/false);
}

TEST_F(NetPolicyEnforce, HostDenyListTcFallback) {
  kernel_.reset();
  host_deny_case(lab_, *a_, *b_, *c_, /*force_tc=*/true);
}
