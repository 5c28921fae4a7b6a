// Remote attestation as a user runs it: `vigil verifier run` as its own process, `vigil attest`
// against a private swtpm, `vigil secret put/get`, `vigil verifier agents/log/agent reset`.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "privileged/attest_fixture.h"
#include "support/swtpm.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// `vigil verifier run` in the background; SIGTERM (then SIGKILL) by its PID at scope exit.
class VerifierProcess {
 public:
  VerifierProcess(const std::string& state_dir, const std::string& out_path) : out_path_(out_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out, 1);
      ::dup2(out, 2);
      const std::string binary = test::vigil_binary();
      ::execl(binary.c_str(), binary.c_str(), "verifier", "run", "--state", state_dir.c_str(), "--listen",
              "127.0.0.1:0", "--interval", "2000", nullptr);
      ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until && port_ == 0) {
      const std::string text = test::read_text(out_path_);
      if (const size_t at = text.find("(port "); at != std::string::npos) port_ = std::atoi(text.c_str() + at + 6);
      if (int status = 0; port_ == 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  ~VerifierProcess() { stop(); }

  // Exit status after SIGTERM (0 when it stopped cleanly).
  int stop() {
    if (pid_ <= 0 || exited_) return exit_status_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500 && !exited_; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exited_ = true;
    }
    return exit_status_;
  }
  int port() const { return port_; }
  std::string output() const { return test::read_text(out_path_); }

 private:
  std::string out_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  int exit_status_ = -1;
};

TEST(AttestCli, EnrolRoundsSecretsAndTamperingAsAUserRunsThem) {
  test::SwtpmOptions needs;
  needs.with_ek = true;
  VIGIL_REQUIRE(test::SwtpmProcess::available(needs), "needs swtpm and swtpm_setup");
  auto swtpm = start_swtpm();
  ASSERT_TRUE(swtpm);
  test::TempDir dir;
  const std::string state = dir / "verifier";
  const std::string vigil = test::vigil_binary();
  const std::string tpm = swtpm->tcti_spec();

  // The agent's list: what ran before the policy was made.
  test::TempDir measurements;
  AgentList list(measurements.path(), tpm);
  list.add(entry_for("/usr/bin/ls", "ls v1"));
  list.add(entry_for("/opt/app/server", "server v2"));
  test::write_text(dir / "policy.json",
                   json{{"vigil_runtime_policy", 1},
                        {"digests",
                         {{"/usr/bin/ls", {"sha256:" + sha256_of("ls v1").hex()}},
                          {"/opt/app/server", {"sha256:" + sha256_of("server v2").hex()}}}},
                        {"excludes", json::array()},
                        {"keys", json::array()}}
                       .dump());

  auto ek = test::run({vigil, "attest", "ek", "--tpm", tpm});
  ASSERT_EQ(ek.exit_code, 0) << ek.err;
  EXPECT_TRUE(ek.out.starts_with("-----BEGIN PUBLIC KEY-----")) << ek.out;
  test::write_text(dir / "ek.pem", ek.out);
  auto issued = test::run({vigil, "verifier", "issue", "--state", state, "--agent", "agent-1", "--out", dir / "agent"});
  ASSERT_EQ(issued.exit_code, 0) << issued.err;
  auto added = test::run({vigil, "verifier", "agent", "add", "agent-1", "--state", state, "--ek", dir / "ek.pem",
                          "--policy", dir / "policy.json"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  test::write_text(dir / "secret.txt", "luks passphrase 42");
  auto put = test::run({vigil, "secret", "put", "volume", dir / "secret.txt", "--policy", "agent-*", "--state", state});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_NE(put.out.find("sm4-ctr-hmac-sm3"), std::string::npos) << "SM4 is the default: " << put.out;

  VerifierProcess verifier(state, dir / "verifier.out");
  ASSERT_GT(verifier.port(), 0) << verifier.output();
  const std::string url = "https://127.0.0.1:" + std::to_string(verifier.port());
  const std::vector<std::string> tls = {"--verifier", url, "--cert", dir / "agent/agent.crt", "--key",
                                        dir / "agent/agent.key", "--ca", dir / "agent/ca.crt"};
  auto with_tls = [&tls](std::vector<std::string> argv) {
    argv.insert(argv.end(), tls.begin(), tls.end());
    return argv;
  };
  const auto attest_once = [&] {
    return test::run(with_tls({vigil, "attest", "--tpm", tpm, "--measurements", measurements.path(), "--once"}));
  };

  auto round = attest_once();
  EXPECT_EQ(round.exit_code, 0) << round.out << round.err;
  EXPECT_NE(round.out.find("round: trusted (2 entries sent)"), std::string::npos) << round.out;
  auto secret = test::run(with_tls({vigil, "secret", "get", "volume"}));
  EXPECT_EQ(secret.exit_code, 0) << secret.err;
  EXPECT_EQ(secret.out, "luks passphrase 42");

  // A binary replaced after the policy was made runs.
  list.add(entry_for("/opt/app/server", "server v2, patched by someone"));
  auto tampered = attest_once();
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
  EXPECT_NE(tampered.out.find("round: untrusted: policy: "), std::string::npos) << tampered.out;
  EXPECT_NE(tampered.out.find("/opt/app/server"), std::string::npos) << tampered.out;
  auto refused = test::run(with_tls({vigil, "secret", "get", "volume"}));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_TRUE(refused.out.empty()) << "secret printed: " << refused.out;
  EXPECT_NE(refused.err.find("agent is untrusted"), std::string::npos) << refused.err;

  auto agents = test::run({vigil, "verifier", "agents", "--state", state, "--json"});
  ASSERT_EQ(agents.exit_code, 0) << agents.err;
  auto listed = json::parse(agents.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << agents.out;
  ASSERT_EQ(listed["agents"].size(), 1u);
  EXPECT_EQ(listed["agents"][0]["state"], "untrusted");
  EXPECT_EQ(listed["agents"][0]["entries_verified"], 2);
  auto log = test::run({vigil, "verifier", "log", "--state", state, "--json"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  auto entries = json::parse(log.out, nullptr, false)["secret_log"];
  ASSERT_EQ(entries.size(), 2u) << log.out;
  EXPECT_EQ(entries[0]["released"], true);
  EXPECT_EQ(entries[1]["released"], false);
  EXPECT_NE(entries[1]["reason"].get<std::string>().find("untrusted"), std::string::npos);

  // Reset while the verifier runs: registered again, the whole list judged afresh (and the
  // replaced binary is still in it).
  auto reset = test::run({vigil, "verifier", "agent", "reset", "agent-1", "--state", state});
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  auto after_reset = attest_once();
  EXPECT_EQ(after_reset.exit_code, 1);
  EXPECT_NE(after_reset.out.find("round: untrusted: policy: entry 2 "), std::string::npos) << after_reset.out;

  EXPECT_EQ(verifier.stop(), 0) << verifier.output();
}

TEST(AttestCli, UnregisteredAgentIsRefusedAtEnrolment) {
  test::SwtpmOptions needs;
  needs.with_ek = true;
  VIGIL_REQUIRE(test::SwtpmProcess::available(needs), "needs swtpm and swtpm_setup");
  auto swtpm = start_swtpm();
  ASSERT_TRUE(swtpm);
  test::TempDir dir;
  test::TempDir measurements;
  test::write_text(measurements / "binary_runtime_measurements", "");
  const std::string state = dir / "verifier";
  const std::string vigil = test::vigil_binary();
  ASSERT_EQ(test::run({vigil, "verifier", "issue", "--state", state, "--agent", "stranger", "--out", dir / "agent"})
                .exit_code,
            0);
  VerifierProcess verifier(state, dir / "verifier.out");
  ASSERT_GT(verifier.port(), 0) << verifier.output();
  auto round = test::run({vigil, "attest", "--tpm", swtpm->tcti_spec(), "--measurements", measurements.path(),
                          "--once", "--verifier", "https://127.0.0.1:" + std::to_string(verifier.port()), "--cert",
                          dir / "agent/agent.crt", "--key", dir / "agent/agent.key", "--ca", dir / "agent/ca.crt"});
  EXPECT_EQ(round.exit_code, 2) << round.out << round.err;
  EXPECT_NE(round.err.find("agent ID is not registered"), std::string::npos) << round.err;
}

}  // namespace
}  // namespace vigil::attest
