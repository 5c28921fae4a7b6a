// Remote attestation end to end: the verifier in-process on 127.0.0.1 (port 0), the agent's
// client against a private swtpm, and a measurement list the test writes as
// binary_runtime_measurements while extending the same entries into swtpm's PCR 10 (as vigil's
// agent does). The tampering scenarios of issue 7 each end untrusted with the right reason and
// no secret released.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "attest/evidence_json.h"
#include "attest/net/attest_client.h"
#include "attest/net/list_reader.h"
#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "attest/net/verifier.h"
#include "ima/measurement_list.h"
#include "privileged/attest_fixture.h"
#include "support/swtpm.h"
#include "support/test_support.h"
#include "tpm/attestation.h"
#include "tpm/tpm.h"

namespace vigil::attest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kInterval = 1000ms;
constexpr std::string_view kAgentId = "agent-1";
constexpr std::string_view kSecretValue = "volume key 7f3a9c";

class AttestScenarios : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SwtpmOptions needs;
    needs.with_ek = true;
    VIGIL_REQUIRE(test::SwtpmProcess::available(needs), "needs swtpm and swtpm_setup");
    swtpm = start_swtpm();
    ASSERT_TRUE(swtpm);
    VerifierConfig config;
    config.state_dir = state.path();
    config.listen = "127.0.0.1:0";
    config.interval = kInterval;
    config.unreachable_after_intervals = 1000;  // the scenarios drive rounds themselves
    auto started = Verifier::start(config);
    ASSERT_TRUE(started) << started.error().message;
    verifier = std::move(*started);
    ASSERT_TRUE(issue_agent_certificate(state.path(), std::string(kAgentId), certs / "agent"));
    list = std::make_unique<AgentList>(list_dir.path(), swtpm->tcti_spec());
    // What the machine ran before the policy was made: all allowed.
    for (const auto& [path, content] : kAllowed) list->add(entry_for(path, content));
  }
  void TearDown() override {
    if (verifier) verifier->stop();
  }

  static inline const std::vector<std::pair<std::string, std::string>> kAllowed = {
      {"/usr/bin/ls", "ls binary v1"},
      {"/usr/bin/bash", "bash binary v5"},
      {"/opt/app/server", "app server 2.1"},
      {"/opt/app/worker", "app worker 2.1"},
  };

  std::string policy_json() const {
    json digests = json::object();
    for (const auto& [path, content] : kAllowed) digests[path] = json::array({"sha256:" + sha256_of(content).hex()});
    return json{{"vigil_runtime_policy", 1}, {"digests", digests}, {"excludes", json::array({"/tmp/*"})},
                {"exclude_regexes", json::array()}, {"keys", json::array()}}
        .dump();
  }

  // Registers the agent pinning the EK of `ek_tpm` (the agent's own swtpm unless a test says
  // otherwise) and puts a secret for it.
  void register_agent(const test::SwtpmProcess& ek_tpm) {
    auto tpm = tpm::open_attestation_tpm(ek_tpm.tcti_spec());
    ASSERT_TRUE(tpm) << tpm.error().message;
    auto ek = (*tpm)->endorsement_key();
    ASSERT_TRUE(ek) << ek.error().message;
    AgentRecord agent;
    agent.id = kAgentId;
    agent.expected_ek = *ek;
    agent.policy_json = policy_json();
    agent.progress = initial_progress();
    ASSERT_TRUE(verifier->registry().put_agent(agent));
    auto vault = SecretVault::open(state / "vault.key");
    ASSERT_TRUE(vault) << vault.error().message;
    auto sealed = vault->seal(VaultCipher::sm4_ctr_hmac_sm3,
                              std::vector<uint8_t>(kSecretValue.begin(), kSecretValue.end()),
                              secret_associated_data("volume", "agent-*"));
    ASSERT_TRUE(sealed);
    ASSERT_TRUE(verifier->registry().put_secret({"volume", "agent-*", "sm4-ctr-hmac-sm3", *sealed}));
  }
  void register_agent() { register_agent(*swtpm); }

  ClientTls tls() const {
    return ClientTls{"https://127.0.0.1:" + std::to_string(verifier->port()), certs / "agent/agent.crt",
                     certs / "agent/agent.key", certs / "agent/ca.crt"};
  }

  // One round with the real client (it enrols first); the verifier's view after it.
  Result<RoundOutcome> attest_once(const std::string& measurements_dir = {}) {
    AttestClientConfig config;
    config.tls = tls();
    config.tpm = swtpm->tcti_spec();
    config.measurements_dir = measurements_dir.empty() ? list->dir() : measurements_dir;
    config.once = true;
    std::atomic<bool> stop{false};
    RoundOutcome outcome;
    auto done = run_attest_client(config, stop, [&outcome](const RoundOutcome& round) { outcome = round; });
    if (!done) return std::unexpected(done.error());
    return outcome;
  }

  AgentRecord agent_record() {
    auto found = verifier->registry().agent(std::string(kAgentId));
    EXPECT_TRUE(found && found->has_value());
    return found && *found ? **found : AgentRecord{};
  }

  void expect_secret_refused(const std::string& reason_part) {
    auto secret = fetch_secret(tls(), "volume");
    ASSERT_FALSE(secret) << "secret released to an agent that is not trusted";
    EXPECT_NE(secret.error().message.find(reason_part), std::string::npos) << secret.error().message;
    auto log = verifier->registry().secret_log(1);
    ASSERT_TRUE(log && log->size() == 1);
    EXPECT_FALSE((*log)[0].released);
  }

  void expect_untrusted(const std::string& kind_prefix, const std::string& reason_part = {}) {
    const AgentRecord agent = agent_record();
    EXPECT_EQ(agent.state, AgentState::untrusted) << agent.reason;
    EXPECT_TRUE(agent.reason.starts_with(kind_prefix + ": ")) << agent.reason;
    if (!reason_part.empty()) {
      EXPECT_NE(agent.reason.find(reason_part), std::string::npos) << agent.reason;
    }
    expect_secret_refused("agent is untrusted");
  }

  void expect_trusted_round(uint64_t entries_sent) {
    auto round = attest_once();
    ASSERT_TRUE(round) << round.error().message;
    EXPECT_EQ(round->state, "trusted") << round->reason;
    EXPECT_EQ(round->entries_sent, entries_sent);
  }

  test::TempDir state;
  test::TempDir certs;
  test::TempDir list_dir;
  std::unique_ptr<test::SwtpmProcess> swtpm;
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<AgentList> list;
};

// Speaks the protocol by hand for the scenarios the real client would never produce.
class ManualAgent {
 public:
  ManualAgent(int port, const ClientTls& tls, std::string tpm_spec)
      : client_("127.0.0.1", port, tls.cert_path, tls.key_path), tpm_spec_(std::move(tpm_spec)) {
    client_.set_ca_cert_path(tls.ca_path);
    client_.enable_server_certificate_verification(true);
    client_.set_read_timeout(30, 0);
  }
  RoundChallenge challenge() {
    auto answer = client_.Get("/v1/challenge");
    EXPECT_TRUE(answer && answer->status == 200) << (answer ? answer->body : "no answer");
    auto parsed = parse_round_challenge(answer ? answer->body : "");
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : RoundChallenge{};
  }
  // Evidence for `challenge`, quoted by the TPM at quote_spec (default: the agent's own).
  std::string evidence_body(const RoundChallenge& challenge, const std::string& list_path,
                            const std::string& quote_spec = {}) {
    auto tpm = tpm::open_attestation_tpm(quote_spec.empty() ? tpm_spec_ : quote_spec);
    EXPECT_TRUE(tpm) << tpm.error().message;
    if (!tpm) return {};
    auto quote = (*tpm)->quote(challenge.nonce, challenge.selection);
    EXPECT_TRUE(quote) << quote.error().message;
    IncrementalListReader reader(list_path);
    auto entries = reader.read_from(challenge.list_start);
    EXPECT_TRUE(entries) << entries.error().message;
    RoundEvidence evidence;
    if (quote) evidence.quote = *quote;
    evidence.list_start = challenge.list_start;
    if (entries) evidence.entries = *entries;
    return to_json(evidence);
  }
  json post_evidence(const std::string& body) {
    auto answer = client_.Post("/v1/evidence", body, "application/json");
    EXPECT_TRUE(answer && answer->status == 200) << (answer ? answer->body : "no answer");
    return json::parse(answer ? answer->body : "{}", nullptr, false);
  }

 private:
  httplib::SSLClient client_;
  std::string tpm_spec_;
};

TEST_F(AttestScenarios, HappyPathTrustedAgentGetsItsSecretAndRoundsAreIncremental) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  auto secret = fetch_secret(tls(), "volume");
  ASSERT_TRUE(secret) << secret.error().message;
  EXPECT_EQ(std::string(secret->begin(), secret->end()), kSecretValue);
  AgentRecord agent = agent_record();
  EXPECT_EQ(agent.state, AgentState::trusted);
  EXPECT_EQ(agent.progress.entries_verified, kAllowed.size());

  // New activity: an allowed binary runs again and an excluded path; the next round sends only them.
  list->add(entry_for("/usr/bin/ls", "ls binary v1"));
  list->add(entry_for("/tmp/scratch", "anything at all"));
  expect_trusted_round(2);
  EXPECT_EQ(agent_record().progress.entries_verified, kAllowed.size() + 2);
  // No new entries: an empty delta still proves PCR 10 is where the verifier left it.
  expect_trusted_round(0);
  auto log = verifier->registry().secret_log(10);
  ASSERT_TRUE(log && log->size() == 1);
  EXPECT_TRUE((*log)[0].released);
}

TEST_F(AttestScenarios, BinaryReplacedAfterPolicyGenerationIsUntrustedNamingTheEntry) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  list->add(entry_for("/opt/app/server", "app server 2.1 with a backdoor"));
  auto round = attest_once();
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("policy", "/opt/app/server");
  EXPECT_NE(agent_record().reason.find("4"), std::string::npos) << "names entry 4: " << agent_record().reason;
  // The alert names the first failing entry.
  const std::string alerts = test::read_text(state / "alerts.jsonl");
  auto line = json::parse(alerts.substr(0, alerts.find('\n')), nullptr, false);
  ASSERT_TRUE(line.is_object()) << alerts;
  EXPECT_EQ(line["state"], "untrusted");
  EXPECT_EQ(line["kind"], "policy");
  EXPECT_EQ(line["failing_entry"], 4);
  EXPECT_EQ(line["failing_path"], "/opt/app/server");
  // Sticky: the next round (even if clean) does not make it trusted again.
  auto again = attest_once();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, "untrusted");
}

TEST_F(AttestScenarios, EntryRemovedInTransitIsAListReplayFailure) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  // The TPM saw three more entries; the list the client reads lost the middle one.
  test::TempDir transit;
  std::filesystem::copy_file(list->path(), transit / "binary_runtime_measurements");
  AgentList altered(transit.path(), swtpm->tcti_spec());
  const auto a = entry_for("/usr/bin/ls", "ls binary v1");
  const auto b = entry_for("/usr/bin/bash", "bash binary v5");
  const auto c = entry_for("/opt/app/worker", "app worker 2.1");
  list->add(a);
  list->add(b);
  list->add(c);
  altered.add(a, true, false);
  altered.add(c, true, false);
  auto round = attest_once(transit.path());
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("list-replay");
}

TEST_F(AttestScenarios, EntriesReorderedInTransitIsAListReplayFailure) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  test::TempDir transit;
  std::filesystem::copy_file(list->path(), transit / "binary_runtime_measurements");
  AgentList altered(transit.path(), swtpm->tcti_spec());
  const auto a = entry_for("/usr/bin/ls", "ls binary v1");
  const auto b = entry_for("/opt/app/worker", "app worker 2.1");
  list->add(a);
  list->add(b);
  altered.add(b, true, false);
  altered.add(a, true, false);
  auto round = attest_once(transit.path());
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("list-replay");
}

TEST_F(AttestScenarios, ReplayedOldQuoteFailsTheNonceCheck) {
  register_agent();
  expect_trusted_round(kAllowed.size());  // enrolled (the client's own AK)
  ManualAgent agent(verifier->port(), tls(), swtpm->tcti_spec());
  const std::string captured = agent.evidence_body(agent.challenge(), list->path());
  auto first = agent.post_evidence(captured);
  EXPECT_EQ(first["state"], "trusted") << first.dump();
  // The same body again, in answer to a fresh challenge.
  agent.challenge();
  auto replayed = agent.post_evidence(captured);
  EXPECT_EQ(replayed["state"], "untrusted") << replayed.dump();
  expect_untrusted("quote/nonce");
}

TEST_F(AttestScenarios, QuoteFromADifferentTpmIsRefused) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  auto other = start_swtpm();
  ASSERT_TRUE(other);
  ManualAgent agent(verifier->port(), tls(), swtpm->tcti_spec());
  const RoundChallenge challenge = agent.challenge();
  auto answer = agent.post_evidence(agent.evidence_body(challenge, list->path(), other->tcti_spec()));
  EXPECT_EQ(answer["state"], "untrusted") << answer.dump();
  expect_untrusted("quote/different signer");
}

TEST_F(AttestScenarios, Pcr10ExtendedOutsideVigilIsAListReplayFailure) {
  VIGIL_REQUIRE(test::have_program("tpm2_pcrextend"), "needs tpm2_pcrextend (tpm2-tools)");
  register_agent();
  expect_trusted_round(kAllowed.size());
  auto extended = test::run({"tpm2_pcrextend", "10:sha256=" + sha256_of("not in any list").hex(), "-T",
                             swtpm->tcti_spec()},
                            60);
  ASSERT_EQ(extended.exit_code, 0) << extended.out << extended.err;
  list->add(entry_for("/usr/bin/ls", "ls binary v1"));
  auto round = attest_once();
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("list-replay");
}

TEST_F(AttestScenarios, EkMismatchAtEnrolmentIsRefused) {
  auto other = start_swtpm();
  ASSERT_TRUE(other);
  register_agent(*other);  // pinned: another TPM's EK
  auto round = attest_once();
  ASSERT_FALSE(round) << "enrolled with an EK that is not the registered one";
  EXPECT_NE(round.error().message.find("EK does not match the registered one"), std::string::npos)
      << round.error().message;
  const AgentRecord agent = agent_record();
  EXPECT_FALSE(agent.activated);
  EXPECT_TRUE(agent.ak_public.empty());
  expect_secret_refused("agent is registered");
}

TEST_F(AttestScenarios, TrustedAgentIsRefusedItsSecretWithinOneIntervalAfterTampering) {
  register_agent();
  AttestClientConfig config;
  config.tls = tls();
  config.tpm = swtpm->tcti_spec();
  config.measurements_dir = list->dir();
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<RoundOutcome> rounds;
  std::thread client([&] {
    auto done = run_attest_client(config, stop, [&](const RoundOutcome& round) {
      std::lock_guard lock(mutex);
      rounds.push_back(round);
    });
    EXPECT_TRUE(done) << done.error().message;
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Join() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join{stop, client};

  const auto trusted_deadline = Clock::now() + 30s;
  while (Clock::now() < trusted_deadline && agent_record().state != AgentState::trusted) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(agent_record().state, AgentState::trusted);
  auto before = fetch_secret(tls(), "volume");
  ASSERT_TRUE(before) << before.error().message;

  // The replaced binary runs now; the agent's next round reports it.
  const auto tampered_at = Clock::now();
  list->add(entry_for("/usr/bin/bash", "bash with a rootkit"));
  std::optional<Clock::duration> refused_after;
  while (Clock::now() - tampered_at < 3 * kInterval) {
    auto secret = fetch_secret(tls(), "volume");
    if (!secret) {
      refused_after = Clock::now() - tampered_at;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(refused_after) << "secret still released " << 3 * kInterval.count() << " ms after tampering";
  // One interval until the next round, plus that round's own quote and appraisal.
  EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(*refused_after).count(),
            (kInterval + 500ms).count());
  std::printf("secret refused %lld ms after tampering (interval %lld ms)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(*refused_after).count()),
              static_cast<long long>(kInterval.count()));
  EXPECT_EQ(agent_record().state, AgentState::untrusted);
  EXPECT_NE(agent_record().reason.find("/usr/bin/bash"), std::string::npos) << agent_record().reason;
}

}  // namespace
}  // namespace vigil::attest

namespace vigil::attest {
namespace {

// Boot PCRs against the policy with a real TPM's quote (issue 16, finding 10): the values
// `vigil attest boot-pcrs` reads are allowed; once PCR 7 holds anything else, the agent is
// untrusted, kind boot.
TEST_F(AttestScenarios, BootPcrsOutsideThePolicyAreUntrusted) {
  register_agent();
  const test::CommandResult printed = test::run({test::vigil_binary(), "attest", "boot-pcrs", "--tpm", swtpm->tcti_spec()}, 60);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const json boot = json::parse(printed.out, nullptr, false);
  ASSERT_TRUE(boot.is_object() && boot.contains("boot_pcrs")) << printed.out;
  ASSERT_EQ(boot["boot_pcrs"].size(), 8u) << printed.out;
  AgentRecord agent = agent_record();
  json policy = json::parse(agent.policy_json);
  policy["boot_pcrs"] = boot["boot_pcrs"];
  agent.policy_json = policy.dump();
  ASSERT_TRUE(verifier->registry().put_agent(agent));
  expect_trusted_round(kAllowed.size());

  auto pcrs = tpm::open_pcr_backend(swtpm->tcti_spec());
  ASSERT_TRUE(pcrs) << pcrs.error().message;
  // An extend into PCR 7 of every bank: a boot that measured something else.
  constexpr std::string_view kOtherBootloader = "a bootloader the policy does not know";
  const std::span<const uint8_t> measured(reinterpret_cast<const uint8_t*>(kOtherBootloader.data()), kOtherBootloader.size());
  std::vector<crypto::Digest> per_bank;
  crypto::Hasher hasher;
  for (auto bank : (*pcrs)->banks()) {
    auto digest = hasher.of_bytes(bank, measured);
    ASSERT_TRUE(digest);
    per_bank.push_back(*digest);
  }
  ASSERT_TRUE((*pcrs)->extend(7, per_bank));
  auto round = attest_once();
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("boot", "PCR 7 is sha256:");
}

TEST_F(AttestScenarios, RebootStartsANewListAndTheAgentStaysTrusted) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  ASSERT_EQ(swtpm->restart(), "");  // PCRs back to zero, resetCount one up
  ASSERT_EQ(::truncate(list->path().c_str(), 0), 0);
  list->add(entry_for("/usr/bin/bash", "bash binary v5"));
  list->add(entry_for("/usr/bin/ls", "ls binary v1"));
  expect_trusted_round(2);
  const AgentRecord agent = agent_record();
  EXPECT_EQ(agent.state, AgentState::trusted) << agent.reason;
  EXPECT_EQ(agent.progress.entries_verified, 2u);
}

TEST_F(AttestScenarios, ListShrunkWithoutARebootIsAGap) {
  register_agent();
  expect_trusted_round(kAllowed.size());
  // Same TPM boot, but the list the agent reads lost its first entries.
  ASSERT_EQ(::truncate(list->path().c_str(), 0), 0);
  list->add(entry_for("/usr/bin/ls", "ls binary v1"));
  auto round = attest_once();
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->state, "untrusted");
  expect_untrusted("list-gap");
}

}  // namespace
}  // namespace vigil::attest
