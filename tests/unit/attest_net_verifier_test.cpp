// The verifier over loopback HTTPS with certificates it issued (src/attest/net/verifier.h):
// mutual TLS, refusals with reasons, bad input, the key broker's rules and its log, the
// watchdog. Rounds with real quotes are in tests/privileged/attest_scenarios_test.cpp (swtpm).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "attest/evidence_json.h"
#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "attest/net/verifier.h"
#include "common/time_text.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kInterval = 200ms;
constexpr std::string_view kEmptyPolicy = R"({"vigil_runtime_policy":1,"digests":{},"excludes":[],"keys":[]})";

std::string data_path(const std::string& name) { return std::string(VIGIL_SOURCE_DIR) + "/tests/data/tpm/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  auto bytes = crypto::read_file(path);
  EXPECT_TRUE(bytes) << bytes.error().message;
  return bytes ? *bytes : std::vector<uint8_t>{};
}

class VerifierOverTls : public ::testing::Test {
 protected:
  void SetUp() override {
    VerifierConfig config;
    config.state_dir = state.path();
    config.listen = "127.0.0.1:0";
    config.interval = kInterval;
    config.unreachable_after_intervals = unreachable_after_intervals;
    config.worker_threads = 2;
    auto started = Verifier::start(config);
    ASSERT_TRUE(started) << started.error().message;
    verifier = std::move(*started);
    ASSERT_GT(verifier->port(), 0);
  }
  void TearDown() override {
    if (verifier) verifier->stop();
  }

  // A client certificate for `id` issued by this verifier's CA, in its own directory.
  std::string issue(const std::string& id) {
    const std::string out = certs / id;
    auto issued = issue_agent_certificate(state.path(), id, out);
    EXPECT_TRUE(issued) << issued.error().message;
    return out;
  }

  std::unique_ptr<httplib::SSLClient> client_for(const std::string& cert_dir) {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", verifier->port(), cert_dir + "/agent.crt",
                                                       cert_dir + "/agent.key");
    client->set_ca_cert_path(state / "ca.crt");
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(5, 0);
    return client;
  }

  void register_agent(const std::string& id, AgentState state_value = AgentState::registered, bool activated = false,
                      int64_t last_round_ns = 0, const std::string& reason = "") {
    AgentRecord agent;
    agent.id = id;
    agent.expected_ek = read_bytes(data_path("ek_rsa2048.pub"));
    agent.policy_json = kEmptyPolicy;
    agent.state = state_value;
    agent.activated = activated;
    agent.last_round_ns = last_round_ns;
    agent.reason = reason;
    ASSERT_TRUE(verifier->registry().put_agent(agent));
  }

  void put_secret(const std::string& name, const std::string& selector, const std::string& value,
                  VaultCipher cipher = VaultCipher::sm4_ctr_hmac_sm3) {
    auto vault = SecretVault::open(state / "vault.key");
    ASSERT_TRUE(vault) << vault.error().message;
    auto sealed = vault->seal(cipher, std::vector<uint8_t>(value.begin(), value.end()),
                              secret_associated_data(name, selector));
    ASSERT_TRUE(sealed);
    ASSERT_TRUE(verifier->registry().put_secret({name, selector, std::string(vault_cipher_name(cipher)), *sealed}));
  }

  static std::string error_of(const httplib::Result& result) {
    auto body = json::parse(result->body, nullptr, false);
    return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "(no error) " + result->body;
  }

  // Large, so the watchdog leaves stale agents alone except in VerifierWatchdog.
  int unreachable_after_intervals = 1000;
  test::TempDir state;
  test::TempDir certs;
  std::unique_ptr<Verifier> verifier;
};

class VerifierWatchdog : public VerifierOverTls {
 protected:
  VerifierWatchdog() { unreachable_after_intervals = 2; }
};

TEST_F(VerifierOverTls, CreatesItsPkiWithPrivateKeysOnly0600) {
  for (const char* key : {"ca.key", "server.key"}) {
    struct stat info {};
    ASSERT_EQ(::stat((state / key).c_str(), &info), 0) << key;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << key;
  }
  auto ca = crypto::Certificate::load(state / "ca.crt");
  auto server = crypto::Certificate::load(state / "server.crt");
  ASSERT_TRUE(ca && server);
  auto ca_key = ca->public_key();
  ASSERT_TRUE(ca_key);
  EXPECT_TRUE(server->signed_by(*ca_key));
}

TEST_F(VerifierOverTls, ClientWithoutCertificateIsRefusedAtTls) {
  register_agent("web-1");
  httplib::SSLClient client("127.0.0.1", verifier->port());
  client.set_ca_cert_path(state / "ca.crt");
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  auto result = client.Get("/v1/agents");
  EXPECT_FALSE(result) << "answered " << result->status << ": " << result->body;
}

TEST_F(VerifierOverTls, ClientCertificateFromAnotherCaIsRefusedAtTls) {
  register_agent("web-1");
  test::TempDir other_state;
  test::TempDir other_certs;
  ASSERT_TRUE(issue_agent_certificate(other_state.path(), "web-1", other_certs / "web-1"));
  auto client = client_for(other_certs / "web-1");
  auto result = client->Get("/v1/agents");
  EXPECT_FALSE(result) << "answered " << result->status;
}

TEST_F(VerifierOverTls, ClientRefusesAServerOfAnotherCa) {
  const std::string dir = issue("web-1");
  test::TempDir other_state;
  ASSERT_TRUE(ensure_verifier_pki(other_state.path()));
  httplib::SSLClient client("127.0.0.1", verifier->port(), dir + "/agent.crt", dir + "/agent.key");
  client.set_ca_cert_path(other_state / "ca.crt");
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5, 0);
  EXPECT_FALSE(client.Get("/v1/agents"));
}

TEST_F(VerifierOverTls, UnknownAgentIsRefusedWithReason) {
  auto client = client_for(issue("ghost"));
  std::vector<httplib::Result> results;
  results.push_back(client->Post("/v1/enroll", "{}", "application/json"));
  results.push_back(client->Get("/v1/challenge"));
  results.push_back(client->Post("/v1/evidence", "{}", "application/json"));
  results.push_back(client->Get("/v1/secrets/any"));
  for (const auto& result : results) {
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 403);
    EXPECT_EQ(error_of(result), "agent ID is not registered");
  }
}

TEST_F(VerifierOverTls, EnrolmentChecksThePinnedEk) {
  register_agent("web-1");
  auto client = client_for(issue("web-1"));
  const std::string ak = base64_encode(read_bytes(data_path("ak_ecc_p256.pub")));
  const json other_ek = {{"ek_public", base64_encode(read_bytes(data_path("ek_ecc_p384.pub")))}, {"ak_public", ak}};
  auto refused = client->Post("/v1/enroll", other_ek.dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(error_of(refused), "EK does not match the registered one");

  const json pinned_ek = {{"ek_public", base64_encode(read_bytes(data_path("ek_rsa2048.pub")))}, {"ak_public", ak}};
  auto accepted = client->Post("/v1/enroll", pinned_ek.dump(), "application/json");
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 200) << accepted->body;
  auto challenge = parse_enroll_challenge(accepted->body);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_FALSE(challenge->credential_blob.empty());
  EXPECT_FALSE(challenge->encrypted_secret.empty());

  // Activation with a wrong secret is refused and does not activate the agent.
  auto wrong = client->Post("/v1/activate", to_json(ActivateRequest{std::vector<uint8_t>(32, 7)}), "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto agent = verifier->registry().agent("web-1");
  ASSERT_TRUE(agent && agent->has_value());
  EXPECT_FALSE((*agent)->activated);
  // The pending enrolment was used up by that try.
  auto again = client->Post("/v1/activate", to_json(ActivateRequest{std::vector<uint8_t>(32, 7)}), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
}

TEST_F(VerifierOverTls, EnrolmentRefusesAnAkThatIsNotAnAttestationKey) {
  register_agent("web-1");
  auto client = client_for(issue("web-1"));
  // The EK itself offered as the AK: a decryption key, not a restricted signing key.
  const std::string ek = base64_encode(read_bytes(data_path("ek_rsa2048.pub")));
  auto refused = client->Post("/v1/enroll", json{{"ek_public", ek}, {"ak_public", ek}}.dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(error_of(refused).find("attestation key refused"), std::string::npos) << error_of(refused);
}

TEST_F(VerifierOverTls, BadJsonIs400WithAMessage) {
  register_agent("web-1", AgentState::registered, /*activated=*/true);
  auto client = client_for(issue("web-1"));
  for (const char* path : {"/v1/enroll", "/v1/activate", "/v1/evidence"}) {
    for (const char* body : {"{not json", "[]", "{\"ek_public\": 5}", "", "{\"nonce\":\"zz\"}"}) {
      if (std::string_view(path) == "/v1/evidence") {
        ASSERT_TRUE(client->Get("/v1/challenge"));
      }
      auto result = client->Post(path, body, "application/json");
      ASSERT_TRUE(result) << path << " " << body;
      EXPECT_EQ(result->status, 400) << path << " " << body << ": " << result->body;
      EXPECT_FALSE(error_of(result).empty());
    }
  }
  // The verifier is still up and answers.
  auto challenge = client->Get("/v1/challenge");
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->status, 200);
}

TEST_F(VerifierOverTls, ChallengesAreFreshAndEvidenceNeedsOne) {
  register_agent("web-1", AgentState::registered, /*activated=*/true);
  auto client = client_for(issue("web-1"));
  auto first = client->Get("/v1/challenge");
  auto second = client->Get("/v1/challenge");
  ASSERT_TRUE(first && second);
  ASSERT_EQ(first->status, 200) << first->body;
  auto a = parse_round_challenge(first->body);
  auto b = parse_round_challenge(second->body);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->nonce.size(), 32u);
  EXPECT_NE(a->nonce, b->nonce);
  EXPECT_EQ(a->list_start, 0u);
  EXPECT_EQ(a->interval_ms, 200u);
  EXPECT_EQ(a->selection.pcrs, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 10}));

  // Without an outstanding challenge, evidence is not judged at all.
  register_agent("web-2", AgentState::registered, true);
  auto other = client_for(issue("web-2"));
  RoundEvidence evidence;
  evidence.quote.attest = {1, 2, 3};
  evidence.quote.signature = {4, 5};
  evidence.quote.selection = a->selection;
  evidence.quote.pcr_values.assign(9, crypto::Digest{crypto::HashAlgo::sha256, 32, {}});
  auto refused = other->Post("/v1/evidence", to_json(evidence), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;
}

TEST_F(VerifierOverTls, NotEnrolledAgentGetsNoChallenge) {
  register_agent("web-1");
  auto client = client_for(issue("web-1"));
  auto result = client->Get("/v1/challenge");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 403);
  EXPECT_NE(error_of(result).find("enrolment"), std::string::npos);
}

TEST_F(VerifierOverTls, SecretsOnlyForTrustedSelectedFreshAgentsAndEveryAnswerIsLogged) {
  const int64_t now = wall_clock_ns();
  register_agent("web-1", AgentState::trusted, true, now);
  register_agent("web-2", AgentState::registered, true);
  register_agent("web-3", AgentState::untrusted, true, now, "policy: entry 4 /usr/bin/evil: digest not allowed");
  register_agent("web-4", AgentState::trusted, true, now - 10 * std::chrono::nanoseconds(kInterval).count());
  register_agent("db-1", AgentState::trusted, true, now);
  put_secret("disk-key", "web-*", "s3cr3t disk key");
  put_secret("api-token", "web-1", "token", VaultCipher::aes_256_gcm);

  auto web1 = client_for(issue("web-1"));
  auto released = web1->Get("/v1/secrets/disk-key");
  ASSERT_TRUE(released);
  ASSERT_EQ(released->status, 200) << released->body;
  auto body = json::parse(released->body);
  EXPECT_EQ(body["name"], "disk-key");
  auto data = base64_decode(body["data"].get<std::string>());
  ASSERT_TRUE(data);
  EXPECT_EQ(std::string(data->begin(), data->end()), "s3cr3t disk key");
  auto aes = web1->Get("/v1/secrets/api-token");
  ASSERT_TRUE(aes);
  ASSERT_EQ(aes->status, 200) << aes->body;

  struct Refusal {
    std::string agent;
    std::string secret;
    int status;
    std::string reason_part;
  };
  const std::vector<Refusal> refusals = {
      {"web-2", "disk-key", 403, "agent is registered"},
      {"web-3", "disk-key", 403, "agent is untrusted (policy: entry 4 /usr/bin/evil"},
      {"web-4", "disk-key", 403, "last good round is"},
      {"db-1", "disk-key", 403, "not selected"},
      {"web-1", "nothing", 404, "no secret named"},
  };
  for (const Refusal& refusal : refusals) {
    const std::string dir = certs / refusal.agent;
    if (!std::filesystem::exists(dir)) issue(refusal.agent);
    auto client = client_for(dir);
    auto result = client->Get("/v1/secrets/" + refusal.secret);
    ASSERT_TRUE(result) << refusal.agent;
    EXPECT_EQ(result->status, refusal.status) << refusal.agent << ": " << result->body;
    EXPECT_NE(error_of(result).find(refusal.reason_part), std::string::npos) << refusal.agent << ": " << error_of(result);
    EXPECT_EQ(result->body.find("s3cr3t"), std::string::npos);
  }

  auto log = verifier->registry().secret_log(100);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2 + refusals.size());
  EXPECT_TRUE((*log)[0].released);
  EXPECT_EQ((*log)[0].agent, "web-1");
  EXPECT_EQ((*log)[0].secret, "disk-key");
  EXPECT_TRUE((*log)[1].released);
  for (size_t i = 0; i < refusals.size(); ++i) {
    const SecretLogEntry& entry = (*log)[2 + i];
    EXPECT_FALSE(entry.released) << entry.agent;
    EXPECT_EQ(entry.agent, refusals[i].agent);
    EXPECT_EQ(entry.secret, refusals[i].secret);
    EXPECT_NE(entry.reason.find(refusals[i].reason_part), std::string::npos) << entry.reason;
  }
}

TEST_F(VerifierOverTls, SecretMovedToAnotherNameInTheDatabaseDoesNotOpen) {
  register_agent("web-1", AgentState::trusted, true, wall_clock_ns());
  put_secret("disk-key", "web-1", "value");
  auto stored = verifier->registry().secret("disk-key");
  ASSERT_TRUE(stored && stored->has_value());
  StoredSecret moved = **stored;
  moved.name = "other";
  ASSERT_TRUE(verifier->registry().put_secret(moved));
  auto client = client_for(issue("web-1"));
  auto result = client->Get("/v1/secrets/other");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 500);
  EXPECT_EQ(result->body.find("value"), std::string::npos);
  auto log = verifier->registry().secret_log(1);
  ASSERT_TRUE(log && log->size() == 1);
  EXPECT_FALSE((*log)[0].released);
}

// Every agent's state and failing paths are for operators (issue 16, finding 10): an agent,
// compromised or not, sees only its own rounds.
TEST_F(VerifierOverTls, AgentsListingIsForOperatorsOnly) {
  register_agent("web-1", AgentState::untrusted, true, 0, "quote/nonce: replayed");
  register_agent("web-2");
  auto agent_client = client_for(issue("web-2"));
  auto refused = agent_client->Get("/v1/agents");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_NE(error_of(refused).find("operators only"), std::string::npos) << refused->body;
  EXPECT_EQ(refused->body.find("replayed"), std::string::npos);

  const std::string operator_dir = certs / "alice";
  ASSERT_TRUE(issue_operator_certificate(state.path(), "alice", operator_dir));
  struct stat info {};
  ASSERT_EQ(::stat((operator_dir + "/operator.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  httplib::SSLClient operator_client("127.0.0.1", verifier->port(), operator_dir + "/operator.crt",
                                     operator_dir + "/operator.key");
  operator_client.set_ca_cert_path(operator_dir + "/ca.crt");
  operator_client.enable_server_certificate_verification(true);
  operator_client.set_read_timeout(5, 0);
  auto result = operator_client.Get("/v1/agents");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  auto body = json::parse(result->body);
  ASSERT_EQ(body["agents"].size(), 2u);
  EXPECT_EQ(body["agents"][0]["id"], "web-1");
  EXPECT_EQ(body["agents"][0]["state"], "untrusted");
  EXPECT_EQ(body["agents"][0]["reason"], "quote/nonce: replayed");
  EXPECT_EQ(body["agents"][1]["state"], "registered");

  // An operator cannot speak for an agent, even one of the same name.
  register_agent("alice", AgentState::registered, true);
  auto as_agent = operator_client.Get("/v1/challenge");
  ASSERT_TRUE(as_agent);
  EXPECT_EQ(as_agent->status, 403) << as_agent->body;
  EXPECT_NE(error_of(as_agent).find("for agents"), std::string::npos) << as_agent->body;
  // Names follow the agent id's rules, and nothing is overwritten.
  EXPECT_FALSE(issue_operator_certificate(state.path(), "bad/name", certs / "bad"));
  EXPECT_FALSE(issue_operator_certificate(state.path(), "alice", operator_dir));
}

TEST_F(VerifierWatchdog, TrustedAgentWithoutEvidenceBecomesUnreachableWithAnAlert) {
  register_agent("web-1", AgentState::trusted, true, wall_clock_ns());
  register_agent("web-2", AgentState::registered, true);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::optional<AgentRecord> agent;
  while (std::chrono::steady_clock::now() < deadline) {
    auto found = verifier->registry().agent("web-1");
    ASSERT_TRUE(found);
    agent = **found;
    if (agent->state == AgentState::unreachable) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(agent->state, AgentState::unreachable);
  EXPECT_NE(agent->reason.find("no evidence"), std::string::npos) << agent->reason;
  auto other = verifier->registry().agent("web-2");
  ASSERT_TRUE(other && other->has_value());
  EXPECT_EQ((*other)->state, AgentState::registered) << "only trusted agents go unreachable";
  // The alert line follows the registry update.
  std::string alerts;
  while (std::chrono::steady_clock::now() < deadline && alerts.find('\n') == std::string::npos) {
    if (std::filesystem::exists(state / "alerts.jsonl")) alerts = test::read_text(state / "alerts.jsonl");
    std::this_thread::sleep_for(10ms);
  }
  auto line = json::parse(alerts.substr(0, alerts.find('\n')));
  EXPECT_EQ(line["agent"], "web-1");
  EXPECT_EQ(line["state"], "unreachable");
  EXPECT_EQ(line["previous_state"], "trusted");
}

}  // namespace
}  // namespace vigil::attest

namespace vigil::attest {
namespace {

// Two verifiers on one port would split the agents between two registries without a word.
TEST_F(VerifierOverTls, ASecondVerifierCannotTakeTheSamePort) {
  test::TempDir other_state;
  VerifierConfig config;
  config.state_dir = other_state.path();
  config.listen = "127.0.0.1:" + std::to_string(verifier->port());
  auto second = Verifier::start(config);
  ASSERT_FALSE(second) << "a second verifier listens on port " << verifier->port();
  EXPECT_NE(second.error().message.find("cannot listen"), std::string::npos) << second.error().message;
}

}  // namespace
}  // namespace vigil::attest
