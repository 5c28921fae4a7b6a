// Finding 4 of issue 16, end to end: the real agent (`vigil agent`, log mode, a private tmpfs)
// measures into a private swtpm, is killed with SIGKILL, starts again, and the host is still
// trusted by the verifier (in-process on 127.0.0.1, the real attestation client) — the list
// goes on where it was, no second boot_aggregate, and the client's next round sends only the new
// entries. Also: a record torn by the crash is cut and the host stays trusted; a PCR extended
// while the agent was down makes the list unreplayable, which is reported and set aside (and the
// verifier rightly refuses the host); a kernel with IMA makes the agent refuse PCR 10.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include <nlohmann/json.hpp>

#include "attest/net/attest_client.h"
#include "attest/net/verifier.h"
#include "ima/measurement_list.h"
#include "privileged/agent_fixture.h"
#include "privileged/attest_fixture.h"
#include "support/swtpm.h"
#include "tpm/attestation.h"
#include "tpm/tpm.h"

namespace vigil::attest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAgentId = "restarting-agent";
const char* const kPrograms[] = {"one", "two", "three", "four"};

class AttestAgentRestart : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    test::SwtpmOptions needs;
    needs.with_ek = true;
    VIGIL_REQUIRE(test::SwtpmProcess::available(needs), "needs swtpm and swtpm_setup");
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<test::TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    swtpm_ = start_swtpm();
    ASSERT_TRUE(swtpm_);
    // Each program a different content, so each is its own entry.
    for (const char* name : kPrograms) {
      ASSERT_EQ(test::run({"cp", "/usr/bin/true", *mnt_ / name}).exit_code, 0);
      ASSERT_EQ(test::run_shell("printf '%s' '" + std::string(name) + "' >> '" + (*mnt_ / name) + "'").exit_code, 0);
    }
    state_ = dir_ / "state";
    config_ = dir_ / "agent.yaml";
  }
  void TearDown() override {
    agent_.reset();
    if (verifier_) verifier_->stop();
    mnt_.reset();
  }

  void write_config(const std::string& extra = {}) {
    test::write_text(config_, "mode: log\nstate_dir: " + state_ + "\ntpm: " + swtpm_->tcti_spec() +
                                  "\nwatch:\n  - " + mnt_->path() + "\nruntime:\n  enabled: false\n" + extra);
  }
  void start_agent() {
    // A killed agent leaves its ready file: remove it, or the fixture takes it for the new one.
    ::unlink((state_ + "/agent.ready").c_str());
    agent_ = std::make_unique<test::AgentProcess>(config_, state_);
    ASSERT_TRUE(agent_->ready()) << agent_->output();
  }
  void kill_agent() {
    ::kill(agent_->pid(), SIGKILL);
    agent_->stop();  // reaps it
    agent_.reset();
  }
  void run_program(const char* name) { EXPECT_EQ(test::run({*mnt_ / name}).exit_code, 0) << name; }

  std::vector<ima::MeasurementEntry> list() {
    const std::string text = test::read_text(state_ + "/binary_runtime_measurements");
    auto parsed = ima::parse_binary_list(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : std::vector<ima::MeasurementEntry>{};
  }
  size_t boot_aggregates() {
    size_t count = 0;
    for (const auto& entry : list()) count += entry.path == "boot_aggregate";
    return count;
  }
  // The agent's last `measurement-list` audit record.
  json list_start_record() {
    json last = json::object();
    for (const auto& record : agent_->audit()) {
      if (record.is_object() && record.value("event", "") == "measurement-list") last = record;
    }
    return last;
  }

  void start_verifier() {
    VerifierConfig config;
    config.state_dir = verifier_state_.path();
    config.listen = "127.0.0.1:0";
    config.interval = 1000ms;
    config.unreachable_after_intervals = 1000;
    auto started = Verifier::start(config);
    ASSERT_TRUE(started) << started.error().message;
    verifier_ = std::move(*started);
    ASSERT_TRUE(issue_agent_certificate(verifier_state_.path(), kAgentId, certs_ / "agent"));
    auto tpm = tpm::open_attestation_tpm(swtpm_->tcti_spec());
    ASSERT_TRUE(tpm) << tpm.error().message;
    auto ek = (*tpm)->endorsement_key();
    ASSERT_TRUE(ek) << ek.error().message;
    // The trusted content of every program, under its path.
    json digests = json::object();
    crypto::Hasher hasher;
    for (const char* name : kPrograms) {
      const std::string content = test::read_text(*mnt_ / name);
      auto digest = hasher.of_bytes(crypto::HashAlgo::sha256,
                                    std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
      ASSERT_TRUE(digest);
      digests[*mnt_ / name] = json::array({"sha256:" + digest->hex()});
    }
    AgentRecord agent;
    agent.id = kAgentId;
    agent.expected_ek = *ek;
    agent.policy_json = json{{"vigil_runtime_policy", 1}, {"digests", digests}, {"excludes", json::array()},
                             {"exclude_regexes", json::array()}, {"keys", json::array()}}
                            .dump();
    agent.progress = initial_progress();
    ASSERT_TRUE(verifier_->registry().put_agent(agent));
  }
  // One round of the real client against the agent's list.
  RoundOutcome attest_once() {
    AttestClientConfig config;
    config.tls = ClientTls{"https://127.0.0.1:" + std::to_string(verifier_->port()), certs_ / "agent/agent.crt",
                           certs_ / "agent/agent.key", certs_ / "agent/ca.crt"};
    config.tpm = swtpm_->tcti_spec();
    config.measurements_dir = state_;
    config.once = true;
    std::atomic<bool> stop{false};
    RoundOutcome outcome;
    auto done = run_attest_client(config, stop, [&outcome](const RoundOutcome& round) { outcome = round; });
    EXPECT_TRUE(done) << done.error().message;
    return outcome;
  }

  test::TempDir dir_, verifier_state_, certs_;
  std::string state_, config_;
  std::unique_ptr<test::TmpfsMount> mnt_;
  std::unique_ptr<test::SwtpmProcess> swtpm_;
  std::unique_ptr<test::AgentProcess> agent_;
  std::unique_ptr<Verifier> verifier_;
};

}  // namespace

TEST_F(AttestAgentRestart, KilledAgentGoesOnWithItsListAndTheHostStaysTrusted) {
  write_config();
  start_verifier();
  start_agent();
  EXPECT_EQ(list_start_record().value("outcome", ""), "new");
  run_program("one");
  run_program("two");
  ASSERT_EQ(list().size(), 3u);
  auto first = attest_once();
  EXPECT_EQ(first.state, "trusted") << first.reason;
  EXPECT_EQ(first.entries_sent, 3u);

  kill_agent();
  start_agent();
  run_program("three");
  auto second = attest_once();
  EXPECT_EQ(second.state, "trusted") << second.reason;
  EXPECT_EQ(second.entries_sent, 1u) << "only the entry appended since the last round";
  EXPECT_EQ(list().size(), 4u);
  EXPECT_EQ(boot_aggregates(), 1u);
  const json record = list_start_record();
  EXPECT_EQ(record.value("outcome", ""), "continued") << record;
  EXPECT_EQ(record.value("entries", 0), 3) << record;
  EXPECT_EQ(agent_->status().value("measurement_list", json::object()).value("outcome", ""), "continued");

  // Twice more, and a clean stop between: still the same list.
  kill_agent();
  start_agent();
  run_program("four");
  agent_->stop();
  start_agent();
  EXPECT_EQ(list_start_record().value("outcome", ""), "continued");
  EXPECT_EQ(list().size(), 5u);
  EXPECT_EQ(boot_aggregates(), 1u);
  auto third = attest_once();
  EXPECT_EQ(third.state, "trusted") << third.reason;
}

TEST_F(AttestAgentRestart, RecordTornByTheCrashIsCutAndTheHostStaysTrusted) {
  write_config();
  start_verifier();
  start_agent();
  run_program("one");
  kill_agent();
  // What a kill in the middle of a write leaves: half a record (never extended).
  ima::MeasurementEntry torn;
  torn.template_name = ima::TemplateName::ima_ng;
  torn.path = "/torn";
  torn.file_digest.algo = crypto::HashAlgo::sha256;
  torn.file_digest.size = 32;
  ima::compute_template_hashes(torn);
  const auto record = ima::binary_record(torn);
  {
    std::ofstream out(state_ + "/binary_runtime_measurements", std::ios::app | std::ios::binary);
    out.write(reinterpret_cast<const char*>(record.data()), 41);
  }
  start_agent();
  run_program("two");
  auto round = attest_once();
  EXPECT_EQ(round.state, "trusted") << round.reason;
  EXPECT_EQ(list().size(), 3u);
  const json start = list_start_record();
  EXPECT_EQ(start.value("outcome", ""), "continued") << start;
  EXPECT_EQ(start.value("tail_bytes", 0), 41) << start;
}

TEST_F(AttestAgentRestart, PcrExtendedWhileTheAgentWasDownIsReportedAndTheOldListKept) {
  write_config();
  start_verifier();
  start_agent();
  run_program("one");
  auto first = attest_once();
  EXPECT_EQ(first.state, "trusted") << first.reason;
  kill_agent();
  const std::string old_list = test::read_text(state_ + "/binary_runtime_measurements");
  // Someone extends PCR 10 behind the list's back.
  {
    auto pcrs = tpm::open_pcr_backend(swtpm_->tcti_spec());
    ASSERT_TRUE(pcrs) << pcrs.error().message;
    std::vector<crypto::Digest> digests;
    for (auto bank : (*pcrs)->banks()) {
      crypto::Digest digest;
      digest.algo = bank;
      digest.size = static_cast<uint8_t>(crypto::hash_size(bank));
      digest.bytes.fill(0x5a);
      digests.push_back(digest);
    }
    ASSERT_TRUE((*pcrs)->extend(10, digests));
  }
  start_agent();
  const json start = list_start_record();
  ASSERT_EQ(start.value("outcome", ""), "unreplayable") << start;
  EXPECT_NE(start.value("reason", "").find("does not replay"), std::string::npos) << start;
  EXPECT_EQ(test::read_text(start.value("set_aside", "")), old_list);
  EXPECT_NE(agent_->output().find("measurement list: the measurement list does not replay"), std::string::npos)
      << agent_->output();
  EXPECT_EQ(agent_->status().value("measurement_list", json::object()).value("outcome", ""), "unreplayable");
  const auto entries = list();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].path, start["set_aside"].get<std::string>());
  // Nothing can make this list replay to the PCR: the verifier refuses the host.
  auto round = attest_once();
  EXPECT_EQ(round.state, "untrusted") << round.reason;
}

TEST_F(AttestAgentRestart, KernelWithImaMakesTheAgentRefuseItsPcr) {
  test::write_text(dir_ / "kernel-list",
                   "10 0adefe762c149c7cec19da62f0da1297fcfbffff ima-ng "
                   "sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate\n");
  write_config("measurement:\n  kernel_list: " + (dir_ / "kernel-list") + "\n");
  ::unlink((state_ + "/agent.ready").c_str());
  {
    test::AgentProcess refused(config_, state_);
    EXPECT_FALSE(refused.ready());
    EXPECT_NE(refused.output().find("the kernel's IMA extends PCR 10"), std::string::npos) << refused.output();
  }
  // Another PCR: the agent starts, and its list (boot_aggregate included) goes there.
  write_config("measurement:\n  pcr: 14\n  kernel_list: " + (dir_ / "kernel-list") + "\n");
  start_agent();
  run_program("one");
  const auto entries = list();
  ASSERT_EQ(entries.size(), 2u);
  for (const auto& entry : entries) EXPECT_EQ(entry.pcr, 14u) << entry.path;
  auto pcrs = tpm::open_pcr_backend(swtpm_->tcti_spec());
  ASSERT_TRUE(pcrs);
  EXPECT_EQ(ima::replay_pcr(entries, 14, crypto::HashAlgo::sha256), (*pcrs)->read(14, crypto::HashAlgo::sha256).value());
  EXPECT_EQ((*pcrs)->read(10, crypto::HashAlgo::sha256).value().hex(), std::string(64, '0'));
}

}  // namespace vigil::attest
