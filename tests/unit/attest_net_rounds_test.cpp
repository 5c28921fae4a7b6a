// Attestation rounds through the verifier over loopback mutual TLS, with quotes made in software
// (attest_test_quotes.h) by an AK whose real TPM2B_PUBLIC the verifier holds: no root, no TPM,
// so these run under the sanitizers too. The same scenarios against swtpm, with the real client,
// are tests/privileged/attest_scenarios_test.cpp.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "attest/evidence_json.h"
#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "attest/net/verifier.h"
#include "attest_test_quotes.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace t = vigil::test::attest;

// TPM2B_PUBLIC of an ECC P-256 restricted signing key (ECDSA-SHA256), as TPM2_CreatePrimary
// returns it for the agent's AK.
std::vector<uint8_t> marshal_ecc_ak(const crypto::Key& key) {
  auto point = key.public_key_bits();  // 04 || X || Y
  EXPECT_TRUE(point && point->size() == 65);
  if (!point || point->size() != 65) return {};
  t::Marshal area;
  area.u16(0x0023).u16(0x000B).u32(0x00050072).u16(0);  // ECC, SHA-256 name, AK attributes, no policy
  area.u16(0x0010);                                      // symmetric: NULL
  area.u16(0x0018).u16(0x000B);                          // ECDSA with SHA-256
  area.u16(0x0003).u16(0x0010);                          // NIST P-256, KDF NULL
  area.sized(std::span(*point).subspan(1, 32)).sized(std::span(*point).subspan(33, 32));
  t::Marshal sized;
  sized.sized(area.out);
  return sized.out;
}

class RoundsOverTls : public ::testing::Test {
 protected:
  void SetUp() override {
    VerifierConfig config;
    config.state_dir = state.path();
    config.listen = "127.0.0.1:0";
    config.interval = 2000ms;
    config.unreachable_after_intervals = 1000;
    auto started = Verifier::start(config);
    ASSERT_TRUE(started) << started.error().message;
    verifier = std::move(*started);
    ASSERT_TRUE(issue_agent_certificate(state.path(), "agent-1", certs / "agent-1"));

    ak_public = marshal_ecc_ak(ak_key);
    auto parsed = tpm::parse_tpm_public(ak_public);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ak.emplace(*parsed);
    ASSERT_TRUE(tpm::check_attestation_key(*ak));

    for (const auto& [path, content] : allowed) list.record(software_tpm, t::file_entry(path, content));
    json digests = json::object();
    for (const auto& [path, content] : allowed) {
      digests[path] = json::array({"sha256:" + t::file_entry(path, content).file_digest.hex()});
    }
    AgentRecord agent;
    agent.id = "agent-1";
    agent.expected_ek = {1};  // enrolment is not part of these tests
    agent.ak_public = ak_public;
    agent.activated = true;
    agent.policy_json = json{{"vigil_runtime_policy", 1}, {"digests", digests}, {"excludes", json::array()},
                             {"keys", json::array()}}
                            .dump();
    agent.progress = initial_progress();
    ASSERT_TRUE(verifier->registry().put_agent(agent));

    auto vault = SecretVault::open(state / "vault.key");
    ASSERT_TRUE(vault);
    const std::string value = "database password";
    auto sealed = vault->seal(VaultCipher::aes_256_gcm, std::vector<uint8_t>(value.begin(), value.end()),
                              secret_associated_data("db", "agent-1"));
    ASSERT_TRUE(sealed);
    ASSERT_TRUE(verifier->registry().put_secret({"db", "agent-1", "aes-256-gcm", *sealed}));

    client = std::make_unique<httplib::SSLClient>("127.0.0.1", verifier->port(), certs / "agent-1/agent.crt",
                                                  certs / "agent-1/agent.key");
    client->set_ca_cert_path(certs / "agent-1/ca.crt");
    client->enable_server_certificate_verification(true);
    client->set_read_timeout(10, 0);
  }
  void TearDown() override {
    if (verifier) verifier->stop();
  }

  RoundChallenge challenge() {
    auto answer = client->Get("/v1/challenge");
    EXPECT_TRUE(answer && answer->status == 200);
    auto parsed = parse_round_challenge(answer ? answer->body : "");
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : RoundChallenge{};
  }

  // Evidence the agent would send for `challenge`: a quote by the AK (qualifiedSigner is the
  // AK's real name under the owner hierarchy) and the list from list_start.
  std::string evidence_for(const RoundChallenge& round, const t::SoftwareTpm& quoting_tpm) {
    std::lock_guard lock(quote_mutex);  // the software TPM's clock is not thread-safe
    t::QuoteParts parts = quoting_tpm.quote_parts(round.nonce, round.selection);
    parts.qualified_signer = tpm::primary_qualified_name(*ak, tpm::kTpmRhOwner);
    RoundEvidence evidence;
    evidence.quote = quoting_tpm.evidence_for(parts, round.selection);
    evidence.list_start = round.list_start;
    evidence.entries = list.from(round.list_start);
    return to_json(evidence);
  }

  json post(const std::string& body) {
    auto answer = client->Post("/v1/evidence", body, "application/json");
    EXPECT_TRUE(answer && answer->status == 200) << (answer ? answer->body : "no answer");
    return json::parse(answer ? answer->body : "{}", nullptr, false);
  }

  json round() { return post(evidence_for(challenge(), software_tpm)); }

  AgentRecord agent() {
    auto found = verifier->registry().agent("agent-1");
    EXPECT_TRUE(found && found->has_value());
    return found && *found ? **found : AgentRecord{};
  }

  int secret_status() {
    auto answer = client->Get("/v1/secrets/db");
    EXPECT_TRUE(answer);
    return answer ? answer->status : 0;
  }

  const std::vector<std::pair<std::string, std::string>> allowed = {
      {"/usr/sbin/sshd", "sshd 9.2"}, {"/usr/lib/libc.so.6", "glibc 2.36"}, {"/opt/db/server", "db 15"}};
  test::TempDir state;
  test::TempDir certs;
  std::unique_ptr<Verifier> verifier;
  crypto::Key ak_key = t::SoftwareTpm::generated_key(crypto::KeyAlgo::ecdsa_p256);
  std::vector<uint8_t> ak_public;
  std::optional<tpm::TpmPublic> ak;  // the AK as the verifier parses it
  t::SoftwareTpm software_tpm{ak_key};
  t::MeasuredList list;
  std::unique_ptr<httplib::SSLClient> client;
  std::mutex quote_mutex;
};

TEST_F(RoundsOverTls, GoodRoundsAreTrustedIncrementalAndReleaseTheSecret) {
  EXPECT_EQ(secret_status(), 403) << "registered, not yet attested";
  auto first = round();
  EXPECT_EQ(first["state"], "trusted") << first.dump();
  EXPECT_EQ(first["entries_verified"], 3);
  EXPECT_EQ(secret_status(), 200);

  list.record(software_tpm, t::file_entry("/opt/db/server", "db 15"));
  const RoundChallenge next = challenge();
  EXPECT_EQ(next.list_start, 3u) << "the next round asks only for new entries";
  auto second = post(evidence_for(next, software_tpm));
  EXPECT_EQ(second["state"], "trusted") << second.dump();
  EXPECT_EQ(second["entries_verified"], 4);
  EXPECT_EQ(agent().rounds, 2u);
  EXPECT_EQ(agent().progress.pcr10, software_tpm.pcr(10));
}

TEST_F(RoundsOverTls, ReplacedBinaryIsUntrustedStickyAlertedAndRefusedItsSecret) {
  ASSERT_EQ(round()["state"], "trusted");
  list.record(software_tpm, t::file_entry("/usr/sbin/sshd", "sshd 9.2 with a backdoor"));
  auto failed = round();
  EXPECT_EQ(failed["state"], "untrusted");
  EXPECT_EQ(failed["kind"], "policy");
  const std::string reason = failed["state_reason"];
  EXPECT_TRUE(reason.starts_with("policy: ")) << reason;
  EXPECT_NE(reason.find("/usr/sbin/sshd"), std::string::npos) << reason;
  EXPECT_EQ(secret_status(), 403);

  const std::string alerts = test::read_text(state / "alerts.jsonl");
  auto line = json::parse(alerts.substr(0, alerts.find('\n')), nullptr, false);
  ASSERT_TRUE(line.is_object()) << alerts;
  EXPECT_EQ(line["agent"], "agent-1");
  EXPECT_EQ(line["previous_state"], "trusted");
  EXPECT_EQ(line["failing_entry"], 3);
  EXPECT_EQ(line["failing_path"], "/usr/sbin/sshd");

  // Sticky: a perfectly good quote afterwards changes nothing.
  auto after = round();
  EXPECT_EQ(after["state"], "untrusted");
  EXPECT_EQ(agent().reason, reason);
  EXPECT_EQ(secret_status(), 403);
}

TEST_F(RoundsOverTls, ResetAgentIsJudgedAgainFromTheStart) {
  list.record(software_tpm, t::file_entry("/tmp/unknown", "not in the policy"));
  ASSERT_EQ(round()["state"], "untrusted");
  // What `vigil verifier agent reset` does, while the verifier runs.
  AgentRecord reset = agent();
  reset.state = AgentState::registered;
  reset.reason.clear();
  reset.progress = initial_progress();
  ASSERT_TRUE(verifier->registry().put_agent(reset));
  auto again = round();
  EXPECT_EQ(again["state"], "untrusted") << "the unknown entry is still in the list";
  EXPECT_NE(agent().reason.find("/tmp/unknown"), std::string::npos) << agent().reason;
}

TEST_F(RoundsOverTls, ReplayedEvidenceFailsTheNonceCheck) {
  const std::string captured = evidence_for(challenge(), software_tpm);
  ASSERT_EQ(post(captured)["state"], "trusted");
  challenge();
  auto replayed = post(captured);
  EXPECT_EQ(replayed["state"], "untrusted");
  EXPECT_TRUE(replayed["state_reason"].get<std::string>().starts_with("quote/nonce: ")) << replayed.dump();
  EXPECT_EQ(secret_status(), 403);
}

TEST_F(RoundsOverTls, EvidenceAnswersOnlyTheLatestChallengeOnce) {
  const RoundChallenge first = challenge();
  const RoundChallenge second = challenge();  // replaces the first
  auto stale = post(evidence_for(first, software_tpm));
  EXPECT_EQ(stale["state"], "untrusted") << stale.dump();
  EXPECT_TRUE(stale["state_reason"].get<std::string>().starts_with("quote/nonce")) << stale.dump();
  (void)second;
}

TEST_F(RoundsOverTls, QuoteByAnotherKeyIsRefused) {
  t::SoftwareTpm other_tpm(crypto::KeyAlgo::ecdsa_p256);
  // Same PCRs, so only the key differs.
  for (const auto& entry : list.entries) other_tpm.extend(10, ima::extend_digest(entry, crypto::HashAlgo::sha256));
  auto answer = post(evidence_for(challenge(), other_tpm));
  EXPECT_EQ(answer["state"], "untrusted");
  EXPECT_TRUE(answer["state_reason"].get<std::string>().starts_with("quote/signature: ")) << answer.dump();
}

TEST_F(RoundsOverTls, EntriesReorderedAreAListReplayFailure) {
  list.record(software_tpm, t::file_entry("/usr/sbin/sshd", "sshd 9.2"));
  list.record(software_tpm, t::file_entry("/opt/db/server", "db 15"));
  std::swap(list.entries[3], list.entries[4]);
  auto answer = round();
  EXPECT_EQ(answer["state"], "untrusted");
  EXPECT_TRUE(answer["state_reason"].get<std::string>().starts_with("list-replay: ")) << answer.dump();
}

TEST_F(RoundsOverTls, ManyAgentsConcurrently) {
  // Rounds of one agent are serialized; different agents' rounds run side by side.
  constexpr int kAgents = 6;
  std::vector<std::thread> threads;
  std::atomic<int> trusted{0};
  for (int i = 0; i < kAgents; ++i) {
    const std::string id = "many-" + std::to_string(i);
    ASSERT_TRUE(issue_agent_certificate(state.path(), id, certs / id));
    AgentRecord record = agent();
    record.id = id;
    ASSERT_TRUE(verifier->registry().put_agent(record));
  }
  for (int i = 0; i < kAgents; ++i) {
    threads.emplace_back([&, i] {
      const std::string id = "many-" + std::to_string(i);
      httplib::SSLClient own("127.0.0.1", verifier->port(), certs / id + "/agent.crt", certs / id + "/agent.key");
      own.set_ca_cert_path(certs / id + "/ca.crt");
      own.enable_server_certificate_verification(true);
      own.set_read_timeout(20, 0);
      for (int r = 0; r < 3; ++r) {
        auto got = own.Get("/v1/challenge");
        if (!got || got->status != 200) return;
        auto parsed = parse_round_challenge(got->body);
        if (!parsed) return;
        auto answer = own.Post("/v1/evidence", evidence_for(*parsed, software_tpm), "application/json");
        if (!answer || answer->status != 200) return;
        if (r == 2 && json::parse(answer->body, nullptr, false)["state"] == "trusted") ++trusted;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(trusted.load(), kAgents);
}

}  // namespace
}  // namespace vigil::attest
