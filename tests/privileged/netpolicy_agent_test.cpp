// The agent's network policy: identity by signature (the integrity engine's exec decisions),
// flow records in the audit log, SIGHUP reload, and the CLI.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <sstream>
#include <thread>

#include "privileged/agent_fixture.h"
#include "probe/netpolicy_kernel.h"

using namespace vigil::test;

namespace {

std::string cgroup2_root() {
  for (const auto& mount : read_mountinfo())
    if (mount.fstype == "cgroup2" && mount.root == "/") return mount.mount_point;
  return "";
}

// A loopback listener that accepts and closes, on its own thread; stops with the object.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(fd_, 64);
    thread_ = std::thread([this] {
      for (;;) {
        const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;
        ::close(conn);
      }
    });
  }
  ~LoopbackListener() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

class NetPolicyAgent : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    VIGIL_REQUIRE(have_program("busybox") || ::access("/bin/busybox", X_OK) == 0, "needs a static busybox");
    root_ = cgroup2_root();
    VIGIL_REQUIRE(!root_.empty(), "no cgroup2 hierarchy");
    std::random_device device;
    tag_ = std::to_string(device() % 1000000);
    cgroup_ = "/vigil-np-agent-" + tag_;
    ASSERT_EQ(::mkdir((root_ + cgroup_).c_str(), 0755), 0);
    pin_dir_ = "/sys/fs/bpf/vigil-np-agent-" + tag_;
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    ::mkdir((dir_ / "keys").c_str(), 0755);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", dir_ / "keys/app"}).exit_code, 0);
    // The same program content twice; one copy signed.
    ASSERT_EQ(run({"cp", "/bin/busybox", *mnt_ / "busybox-signed"}).exit_code, 0);
    ASSERT_EQ(run({"cp", "/bin/busybox", *mnt_ / "busybox-unsigned"}).exit_code, 0);
    auto signed_file = run_vigil({"sign", "--key", dir_ / "keys/app.key", "--cert", dir_ / "keys/app.crt", *mnt_ / "busybox-signed"});
    ASSERT_EQ(signed_file.exit_code, 0) << signed_file.err;
  }

  void TearDown() override {
    agent_.reset();
    if (!pin_dir_.empty()) (void)vigil::probe::NetPolicyKernel::detach(pin_dir_);
    mnt_.reset();
    if (!cgroup_.empty()) ::rmdir((root_ + cgroup_).c_str());
  }

  void write_policy(int port, const std::string& signed_mode = "enforce") {
    write_text(dir_ / "np.yaml", "policies:\n  - name: signed-only\n    mode: " + signed_mode +
                                     "\n    subject: {signer: default}\n    default: {egress: deny}\n    egress:\n"
                                     "      - {id: service, action: allow, to: [127.0.0.1/32], ports: [" +
                                     std::to_string(port) + "], protocol: tcp}\n"
                                     "  - name: everyone-else\n    subject: {cgroup: " + cgroup_ +
                                     "}\n    default: {egress: deny}\n");
  }

  void start_agent() {
    write_text(dir_ / "agent.yaml", "mode: log\nstate_dir: " + (dir_ / "state") + "\nwatch:\n  - " + mnt_->path() +
                                        "\nkeyrings:\n  default: " + (dir_ / "keys") +
                                        "\npolicy_text: |\n  appraise func=BPRM_CHECK appraise_type=imasig\n"
                                        "netpolicy:\n  enabled: true\n  files: [" + (dir_ / "np.yaml") +
                                        "]\n  pin_dir: " + pin_dir_ + "\n  cgroup: " + root_ + cgroup_ + "\n");
    agent_ = std::make_unique<AgentProcess>(dir_ / "agent.yaml", dir_ / "state");
    ASSERT_TRUE(agent_->ready()) << agent_->output();
  }

  // Runs a copy of busybox as `nc` to the listener, inside the test's cgroup.
  CommandResult connect_with(const std::string& program, int port) {
    return run_shell("echo $$ > " + shell_quote(root_ + cgroup_ + "/cgroup.procs") + " && exec " +
                         shell_quote(*mnt_ / program) + " nc -w 2 127.0.0.1 " + std::to_string(port) + " </dev/null",
                     20);
  }

  std::vector<nlohmann::json> flows() {
    std::vector<nlohmann::json> found;
    for (auto& record : agent_->audit())
      if (record.is_object() && record.value("event", "") == "netflow") found.push_back(record);
    return found;
  }

  TempDir dir_;
  std::string root_, cgroup_, pin_dir_, tag_;
  std::unique_ptr<TmpfsMount> mnt_;
  std::unique_ptr<AgentProcess> agent_;
};

bool refused(const CommandResult& result) {
  return result.exit_code != 0 && (result.err + result.out).find("Operation not permitted") != std::string::npos;
}

// The same program content: the copy whose signature verifies with a key of the keyring gets
// the signer identity (it may connect), the unsigned copy falls to its cgroup's identity (EPERM).
TEST_F(NetPolicyAgent, SignedExecutableConnectsUnsignedGetsEperm) {
  LoopbackListener listener;
  write_policy(listener.port());
  start_agent();
  const auto unsigned_run = connect_with("busybox-unsigned", listener.port());
  EXPECT_TRUE(refused(unsigned_run)) << unsigned_run.exit_code << unsigned_run.err;
  for (int i = 0; i < 3; ++i) {  // later execs may skip user space (kernel verdict cache)
    const auto signed_run = connect_with("busybox-signed", listener.port());
    EXPECT_EQ(signed_run.exit_code, 0) << signed_run.err << agent_->output();
  }
  EXPECT_TRUE(refused(connect_with("busybox-unsigned", listener.port())));
  // The denial is in the audit log, with policy, rule, subject and process.
  nlohmann::json denial;
  for (int i = 0; i < 50 && denial.is_null(); ++i) {
    for (const auto& flow : flows())
      if (flow["verdict"] == "deny") denial = flow;
    if (denial.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(denial.is_null()) << agent_->output();
  EXPECT_EQ(denial["policy"], "everyone-else");
  EXPECT_EQ(denial["rule"], "default");
  EXPECT_EQ(denial["subject"], "cgroup=" + cgroup_);
  EXPECT_EQ(denial["remote_addr"], "127.0.0.1");
  EXPECT_EQ(denial["remote_port"], listener.port());
  EXPECT_EQ(denial["comm"], "busybox-unsigne");
  EXPECT_EQ(denial["direction"], "egress");
  // Counters per policy in the agent's status.
  const auto status = agent_->status()["netpolicy"];
  ASSERT_TRUE(status["policies"].is_array()) << status.dump();
  std::uint64_t denied = 0, allowed = 0;
  for (const auto& policy : status["policies"]) {
    if (policy["name"] == "everyone-else") denied = policy["denied"];
    if (policy["name"] == "signed-only") allowed = policy["allowed"];
  }
  EXPECT_GE(denied, 2u) << status.dump();
  EXPECT_GE(allowed, 3u) << status.dump();
}

// SIGHUP re-reads the policy files; a broken file is refused and the policy in force stays.
TEST_F(NetPolicyAgent, SighupSwitchesPolicyAndRefusesABrokenOne) {
  LoopbackListener listener;
  write_policy(listener.port());
  start_agent();
  EXPECT_TRUE(refused(connect_with("busybox-unsigned", listener.port())));
  write_text(dir_ / "np.yaml", "policies:\n  - name: everyone-else\n    mode: audit\n    subject: {cgroup: " + cgroup_ +
                                   "}\n    default: {egress: deny}\n");
  auto applied = run_vigil({"netpolicy", "apply", "--state-dir", dir_ / "state", "--json"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  auto shown = nlohmann::json::parse(applied.out, nullptr, false);
  ASSERT_TRUE(shown.is_object()) << applied.out;
  EXPECT_EQ(shown["policies"][0]["mode"], "audit") << applied.out;
  EXPECT_EQ(connect_with("busybox-unsigned", listener.port()).exit_code, 0) << "audit mode lets it through";
  write_text(dir_ / "np.yaml", "policies:\n  - name: broken\n    subject: {cgroup: " + cgroup_ +
                                   "}\n    egress: [{action: allow, to: [198.18.0.0/33]}]\n");
  // The CLI checks the agent's files first: file:line on stderr, nothing sent to the agent.
  const auto reloads_before = agent_->status()["reload"]["count"].get<int>();
  auto refused_apply = run_vigil({"netpolicy", "apply", "--state-dir", dir_ / "state"});
  EXPECT_NE(refused_apply.exit_code, 0);
  EXPECT_NE(refused_apply.err.find("np.yaml:4: error"), std::string::npos) << refused_apply.err;
  EXPECT_EQ(agent_->status()["reload"]["count"].get<int>(), reloads_before) << "the agent was not signalled";
  // A SIGHUP sent anyway: the agent refuses it the same way.
  agent_->signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(connect_with("busybox-unsigned", listener.port()).exit_code, 0) << "the audit policy stays in force";
  bool reload_failed = false;
  for (const auto& record : agent_->audit())
    if (record.is_object() && record.value("event", "") == "reload-failed" &&
        record.value("reason", "").find("np.yaml:4") != std::string::npos)
      reload_failed = true;
  EXPECT_TRUE(reload_failed) << agent_->output();
}

// `vigil netpolicy flows --state-dir --json` follows a running agent live: one JSON line per
// flow as it happens, naming policy, rule and verdict.
TEST_F(NetPolicyAgent, FlowsJsonFollowsARunningAgentLive) {
  LoopbackListener listener;
  write_policy(listener.port());
  start_agent();
  CommandResult live;
  std::thread follower([&] {
    live = run_vigil({"netpolicy", "flows", "--state-dir", dir_ / "state", "--json", "--seconds", "4"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_TRUE(refused(connect_with("busybox-unsigned", listener.port())));
  follower.join();
  ASSERT_EQ(live.exit_code, 0) << live.err;
  bool seen = false;
  std::istringstream lines(live.out);
  for (std::string line; std::getline(lines, line);) {
    const auto flow = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(flow.is_object()) << "not one JSON document per line: " << line;
    if (flow.value("verdict", "") == "deny" && flow.value("remote_port", 0) == listener.port()) {
      seen = true;
      EXPECT_EQ(flow["policy"], "everyone-else");
      EXPECT_EQ(flow["rule"], "default");
      EXPECT_EQ(flow["mode"], "enforce");
    }
  }
  EXPECT_TRUE(seen) << live.out;
}

// The console: the denied flow under /api/netpolicy/flows (filtered by verdict and policy, as
// the Flows page asks), the policies with counters under /api/netpolicy, and /metrics.
TEST_F(NetPolicyAgent, ConsoleShowsFlowsAndPerPolicyCounters) {
  LoopbackListener listener;
  write_policy(listener.port());
  start_agent();
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i, std::this_thread::sleep_for(std::chrono::milliseconds(50)))
    url = agent_->console_url();
  ASSERT_FALSE(url.empty()) << agent_->output();
  EXPECT_TRUE(refused(connect_with("busybox-unsigned", listener.port())));
  EXPECT_EQ(connect_with("busybox-signed", listener.port()).exit_code, 0);
  const auto get_json = [](const std::string& target) {
    return nlohmann::json::parse(run({"curl", "-s", "-m", "10", target}, 30).out, nullptr, false);
  };
  nlohmann::json flows;
  for (int i = 0; i < 60; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    flows = get_json(url + "api/netpolicy/flows?verdict=deny&policy=everyone-else");
    if (flows.is_object() && !flows["items"].empty()) break;
  }
  ASSERT_TRUE(flows.is_object() && !flows["items"].empty()) << flows.dump() << agent_->output();
  for (const auto& item : flows["items"]) {
    EXPECT_EQ(item["type"], "netflow");
    EXPECT_EQ(item["event"]["verdict"], "deny");
    EXPECT_EQ(item["event"]["policy"], "everyone-else");
  }
  EXPECT_EQ(flows["items"][0]["event"]["rule"], "default");
  EXPECT_EQ(flows["items"][0]["event"]["remote_port"], listener.port());
  const auto none = get_json(url + "api/netpolicy/flows?verdict=deny&policy=signed-only");
  EXPECT_TRUE(none.is_object() && none["items"].empty()) << none.dump();
  const auto status = get_json(url + "api/netpolicy");
  ASSERT_TRUE(status.is_object() && status["policies"].is_array()) << status.dump();
  EXPECT_EQ(status["enabled"], true);
  const std::string metrics = run({"curl", "-s", "-m", "10", url + "metrics"}, 30).out;
  EXPECT_NE(metrics.find("vigil_netpolicy_flows_total{policy=\"everyone-else\",verdict=\"deny\"} "), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vigil_netpolicy_flows_total{policy=\"signed-only\",verdict=\"allow\"} "), std::string::npos)
      << metrics;
}

// The dashboard's Flows page in a real browser (tests/e2e/flows_e2e.mjs): the policy with its
// counters, the denied flow, the verdict filter, who talks to whom, narrow screens.
TEST_F(NetPolicyAgent, FlowsPageShowsTheDeniedFlowInTheBrowser) {
  VIGIL_REQUIRE(VIGIL_DASHBOARD_BUILT, "the dashboard was not built (VIGIL_DASHBOARD=OFF)");
  VIGIL_REQUIRE(::access("/usr/bin/chromium", X_OK) == 0, "needs Debian's chromium (scripts/deps.txt)");
  LoopbackListener listener;
  write_policy(listener.port());
  start_agent();
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i, std::this_thread::sleep_for(std::chrono::milliseconds(50)))
    url = agent_->console_url();
  ASSERT_FALSE(url.empty()) << agent_->output();
  EXPECT_TRUE(refused(connect_with("busybox-unsigned", listener.port())));
  for (int i = 0; i < 60; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100)))
    if (run({"curl", "-s", "-m", "10", url + "api/netpolicy/flows?verdict=deny"}, 30).out.find("netflow") != std::string::npos)
      break;
  const CommandResult browser =
      run({"node", VIGIL_SOURCE_DIR "/tests/e2e/flows_e2e.mjs", "--url", url, "--out", VIGIL_CONSOLE_E2E_OUT, "--policy",
           "everyone-else", "--node-modules", VIGIL_DASHBOARD_NODE_MODULES},
          180);
  EXPECT_EQ(browser.exit_code, 0) << browser.out << browser.err;
  EXPECT_NE(browser.out.find("\"ok\":true"), std::string::npos) << browser.out << browser.err;
}

}  // namespace
