// Attestation rounds through the verifier over loopback mutual TLS, with quotes made in software
// (attest_test_quotes.h) by an AK whose real TPM2B_PUBLIC the verifier holds: no root, no TPM,
// so these run under the sanitizers too. The same scenarios against swtpm, with the real client,
// are tests/privileged/attest_scenarios_test.cpp.
#include <gtest/gtest.h>

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "attest/evidence_json.h"
#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "attest/net/verifier.h"
#include "attest_test_quotes.h"
#include "support/postgres_server.h"
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

class RoundsFixture : public ::testing::Test {
 protected:
  virtual void configure(VerifierConfig&) {}

  void SetUp() override { start_verifier(); }

  void start_verifier() {
    VerifierConfig config;
    config.state_dir = state.path();
    config.database = database;
    config.listen = "127.0.0.1:0";
    config.interval = 2000ms;
    config.unreachable_after_intervals = 1000;
    configure(config);
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
  std::string database;  // "" SQLite, else the PostgreSQL URL
};

// The protocol's tests on both registries: "sqlite" and "postgresql" (a private server).
class RoundsOverTls : public RoundsFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      const std::string problem = test::postgres_database(&database);
      VIGIL_REQUIRE_POSTGRES(problem);
    }
    start_verifier();
  }
};

INSTANTIATE_TEST_SUITE_P(, RoundsOverTls, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(RoundsOverTls, GoodRoundsAreTrustedIncrementalAndReleaseTheSecret) {
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

TEST_P(RoundsOverTls, ReplacedBinaryIsUntrustedStickyAlertedAndRefusedItsSecret) {
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

TEST_P(RoundsOverTls, ResetAgentIsJudgedAgainFromTheStart) {
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

TEST_P(RoundsOverTls, ReplayedEvidenceFailsTheNonceCheck) {
  const std::string captured = evidence_for(challenge(), software_tpm);
  ASSERT_EQ(post(captured)["state"], "trusted");
  challenge();
  auto replayed = post(captured);
  EXPECT_EQ(replayed["state"], "untrusted");
  EXPECT_TRUE(replayed["state_reason"].get<std::string>().starts_with("quote/nonce: ")) << replayed.dump();
  EXPECT_EQ(secret_status(), 403);
}

TEST_P(RoundsOverTls, EvidenceAnswersOnlyTheLatestChallengeOnce) {
  const RoundChallenge first = challenge();
  const RoundChallenge second = challenge();  // replaces the first
  auto stale = post(evidence_for(first, software_tpm));
  EXPECT_EQ(stale["state"], "untrusted") << stale.dump();
  EXPECT_TRUE(stale["state_reason"].get<std::string>().starts_with("quote/nonce")) << stale.dump();
  (void)second;
}

TEST_P(RoundsOverTls, QuoteByAnotherKeyIsRefused) {
  t::SoftwareTpm other_tpm(crypto::KeyAlgo::ecdsa_p256);
  // Same PCRs, so only the key differs.
  for (const auto& entry : list.entries) other_tpm.extend(10, ima::extend_digest(entry, crypto::HashAlgo::sha256));
  auto answer = post(evidence_for(challenge(), other_tpm));
  EXPECT_EQ(answer["state"], "untrusted");
  EXPECT_TRUE(answer["state_reason"].get<std::string>().starts_with("quote/signature: ")) << answer.dump();
}

TEST_P(RoundsOverTls, EntriesReorderedAreAListReplayFailure) {
  list.record(software_tpm, t::file_entry("/usr/sbin/sshd", "sshd 9.2"));
  list.record(software_tpm, t::file_entry("/opt/db/server", "db 15"));
  std::swap(list.entries[3], list.entries[4]);
  auto answer = round();
  EXPECT_EQ(answer["state"], "untrusted");
  EXPECT_TRUE(answer["state_reason"].get<std::string>().starts_with("list-replay: ")) << answer.dump();
}

TEST_P(RoundsOverTls, ManyAgentsConcurrently) {
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

class RoundsOnPostgres : public RoundsFixture {
 protected:
  void SetUp() override {
    const std::string problem = test::postgres_database(&database);
    VIGIL_REQUIRE_POSTGRES(problem);
    start_verifier();
  }
};

// The database server restarts (an immediate stop: as a crash) while an agent's rounds go on:
// the verifier reconnects, every round is answered and counted once, the list progress is
// whole (no round lost, none judged twice).
TEST_F(RoundsOnPostgres, DatabaseRestartDuringRoundsLosesNoRoundAndJudgesNoneTwice) {
  test::PostgresServer* server = test::shared_postgres();
  ASSERT_NE(server, nullptr);
  // The agent's rounds in a thread; the restart from this one (the server's parent thread).
  std::atomic<uint64_t> rounds{0};
  std::atomic<bool> stop{false};
  std::string failure;
  std::thread agent_rounds([&] {
    while (!stop) {
      list.record(software_tpm, t::file_entry("/opt/db/server", "db 15"));
      auto answer = round();
      if (answer["state"] != "trusted") {
        failure = answer.dump();
        return;
      }
      ++rounds;
    }
  });
  const auto began = std::chrono::steady_clock::now();
  while (rounds < 5 && failure.empty() && std::chrono::steady_clock::now() - began < 30s) std::this_thread::sleep_for(5ms);
  const uint64_t before_restart = rounds;
  const std::string restart_error = server->restart();
  const uint64_t at_restart = rounds;
  while (rounds < at_restart + 5 && failure.empty() && std::chrono::steady_clock::now() - began < 60s) {
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  agent_rounds.join();
  EXPECT_EQ(restart_error, "");
  EXPECT_EQ(failure, "") << "a round failed across the database restart";
  EXPECT_GE(before_restart, 5u);
  EXPECT_GE(rounds.load(), at_restart + 5);
  const AgentRecord after = agent();
  EXPECT_EQ(after.rounds, rounds.load());
  EXPECT_EQ(after.progress.entries_verified, 3u + rounds.load());
  EXPECT_EQ(after.state, AgentState::trusted);
  std::fprintf(stderr, "%llu rounds, %llu before the database restart, %llu after it returned\n",
               static_cast<unsigned long long>(rounds.load()), static_cast<unsigned long long>(before_restart),
               static_cast<unsigned long long>(rounds.load() - at_restart));
}

// Two verifiers on one PostgreSQL registry share the agents through leases (docs/fleet.md).
class LeasesOnPostgres : public RoundsFixture {
 protected:
  static constexpr auto kInterval = 500ms;
  void configure(VerifierConfig& config) override {
    config.interval = kInterval;
    config.verifier_id = "verifier-a";
  }
  void SetUp() override {
    const std::string problem = test::postgres_database(&database);
    VIGIL_REQUIRE_POSTGRES(problem);
    start_verifier();
    if (HasFatalFailure()) return;
    VerifierConfig config;
    config.state_dir = state.path();  // the same CA: the agent's certificate is good at both
    config.listen = "127.0.0.1:0";
    config.interval = kInterval;
    config.unreachable_after_intervals = 1000;
    config.database = database;
    config.verifier_id = "verifier-b";
    auto started = Verifier::start(config);
    ASSERT_TRUE(started) << started.error().message;
    second = std::move(*started);
    client_b = std::make_unique<httplib::SSLClient>("127.0.0.1", second->port(), certs / "agent-1/agent.crt",
                                                    certs / "agent-1/agent.key");
    client_b->set_ca_cert_path(certs / "agent-1/ca.crt");
    client_b->enable_server_certificate_verification(true);
    client_b->set_read_timeout(10, 0);
  }
  void TearDown() override {
    if (second) second->stop();
    RoundsFixture::TearDown();
  }
  std::unique_ptr<Verifier> second;
  std::unique_ptr<httplib::SSLClient> client_b;
};

TEST_F(LeasesOnPostgres, EachAgentIsAttestedByOneVerifierAndAStoppedOnesAgentsAreTakenOverWithinTwoIntervals) {
  ASSERT_EQ(round()["state"], "trusted");
  // While A holds the agent's lease, B refuses it a challenge, naming A.
  auto refused = client_b->Get("/v1/challenge");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;
  EXPECT_EQ(json::parse(refused->body, nullptr, false)["verifier"], "verifier-a") << refused->body;
  ASSERT_EQ(round()["state"], "trusted");  // A goes on, renewing its lease each round

  // A stops without a word (its lease is not released, as with kill -9): B takes the agent over
  // once the lease runs out, within two intervals.
  verifier->stop();
  const auto stopped = std::chrono::steady_clock::now();
  int status = 0;
  std::string body;
  while (std::chrono::steady_clock::now() - stopped < 10s) {
    auto got = client_b->Get("/v1/challenge");
    status = got ? got->status : 0;
    body = got ? got->body : "no answer";
    if (status == 200) break;
    std::this_thread::sleep_for(20ms);
  }
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopped);
  ASSERT_EQ(status, 200) << body;
  std::fprintf(stderr, "takeover after %lld ms (interval %lld ms)\n", static_cast<long long>(takeover.count()),
               static_cast<long long>(std::chrono::milliseconds(kInterval).count()));
  EXPECT_LE(takeover, 2 * kInterval);
  auto parsed = parse_round_challenge(body);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->list_start, 3u) << "B continues where A left the agent's list";
  list.record(software_tpm, t::file_entry("/opt/db/server", "db 15"));
  auto answer = client_b->Post("/v1/evidence", evidence_for(*parsed, software_tpm), "application/json");
  ASSERT_TRUE(answer && answer->status == 200) << (answer ? answer->body : "no answer");
  EXPECT_EQ(json::parse(answer->body, nullptr, false)["state"], "trusted") << answer->body;
  auto record = second->registry().agent("agent-1");
  ASSERT_TRUE(record && record->has_value());
  EXPECT_EQ((*record)->rounds, 3u);  // two at A, one at B: none lost, none twice
  EXPECT_EQ((*record)->progress.entries_verified, 4u);
}

// The round's answer says whether the boot PCRs were judged; with boot_pcrs in the policy a
// quoted value outside them makes the agent untrusted, kind "boot" (issue 16, finding 10).
TEST_P(RoundsOverTls, BootPcrsAreCheckedWhenThePolicyListsThem) {
  auto unjudged = round();
  EXPECT_EQ(unjudged["state"], "trusted") << unjudged.dump();
  EXPECT_EQ(unjudged["boot_pcrs_checked"], json::array());
  EXPECT_EQ(unjudged["boot_pcrs"], "not checked: the runtime policy lists no boot_pcrs");

  AgentRecord record = agent();
  json policy = json::parse(record.policy_json);
  policy["boot_pcrs"] = {{"0", json::array({"sha256:" + software_tpm.pcr(0).hex()})},
                         {"7", json::array({software_tpm.pcr(7).hex()})}};  // Keylime's bare hex too
  record.policy_json = policy.dump();
  ASSERT_TRUE(verifier->registry().put_agent(record));
  auto judged = round();
  EXPECT_EQ(judged["state"], "trusted") << judged.dump();
  EXPECT_EQ(judged["boot_pcrs_checked"], json::array({0, 7}));
  EXPECT_FALSE(judged.contains("boot_pcrs"));

  software_tpm.extend(7, t::hash_of(crypto::HashAlgo::sha256, t::bytes_of("a bootloader not in the policy")));
  auto other_boot = round();
  EXPECT_EQ(other_boot["state"], "untrusted") << other_boot.dump();
  EXPECT_EQ(other_boot["kind"], "boot");
  EXPECT_TRUE(other_boot["state_reason"].get<std::string>().starts_with("boot: PCR 7 is sha256:")) << other_boot.dump();
  EXPECT_EQ(secret_status(), 403);
}

// ---- slow-loris before authentication (issue 16, finding 6) ----------------------------------------

// Connections that start a TLS handshake and trickle it: a record header announcing a 512-byte
// ClientHello, then one byte of it every `every` (the handshake never completes on its own).
class HandshakeTrickler {
 public:
  HandshakeTrickler(const char* source, int port, int count, std::chrono::milliseconds every) {
    for (int i = 0; i < count; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(static_cast<uint16_t>(port));
      ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
          (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)) {
        if (fd >= 0) ::close(fd);
        continue;
      }
      fds_.push_back(fd);
      opened_at_.push_back(std::chrono::steady_clock::now());
      closed_after_.push_back(std::chrono::milliseconds(-1));
    }
    thread_ = std::thread([this, every] {
      static constexpr unsigned char kRecordHeader[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
      std::vector<size_t> sent(fds_.size(), 0);
      while (!stop_) {
        for (size_t i = 0; i < fds_.size(); ++i) {
          if (closed_after_[i].count() >= 0) continue;
          char byte;
          const ssize_t got = ::recv(fds_[i], &byte, 1, MSG_DONTWAIT);
          if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) {
            closed_after_[i] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                     opened_at_[i]);
            continue;
          }
          const unsigned char next = sent[i] < sizeof kRecordHeader ? kRecordHeader[sent[i]] : 0;
          if (::send(fds_[i], &next, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++sent[i];
        }
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, every, [this] { return stop_.load(); });
      }
    });
  }
  ~HandshakeTrickler() {
    stop_ = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  size_t opened() const { return fds_.size(); }
  // Connections the server closed, and the longest any of them lived (read after stop()).
  std::pair<int, std::chrono::milliseconds> closed() {
    stop_ = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    int count = 0;
    std::chrono::milliseconds longest{0};
    for (auto after : closed_after_) {
      if (after.count() < 0) continue;
      ++count;
      longest = std::max(longest, after);
    }
    return {count, longest};
  }

 private:
  std::vector<int> fds_;
  std::vector<std::chrono::steady_clock::time_point> opened_at_;
  std::vector<std::chrono::milliseconds> closed_after_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

// A round on a new connection (handshake included), timed.
std::chrono::milliseconds timed(const std::function<void()>& work) {
  const auto began = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
}

// More trickling handshakes than the verifier has worker threads (16), from the agents' own
// address: handshakes no longer run in the workers, so a real round is not held up by them.
TEST_P(RoundsOverTls, TricklingHandshakesDoNotDelayARound) {
  const auto quiet = timed([&] { EXPECT_EQ(round()["state"], "trusted"); });
  HandshakeTrickler trickle("127.0.0.1", verifier->port(), 32, 500ms);
  ASSERT_EQ(trickle.opened(), 32u);
  std::this_thread::sleep_for(1500ms);  // every worker would be inside a handshake by now
  client = std::make_unique<httplib::SSLClient>("127.0.0.1", verifier->port(), certs / "agent-1/agent.crt",
                                                certs / "agent-1/agent.key");
  client->set_ca_cert_path(certs / "agent-1/ca.crt");
  client->enable_server_certificate_verification(true);
  client->set_read_timeout(10, 0);
  client->set_connection_timeout(10, 0);
  json answer;
  const auto under_attack = timed([&] { answer = round(); });
  std::fprintf(stderr, "round with a new handshake: %lld ms quiet, %lld ms under 32 trickling handshakes\n",
               static_cast<long long>(quiet.count()), static_cast<long long>(under_attack.count()));
  EXPECT_EQ(answer["state"], "trusted") << answer.dump();
  EXPECT_LT(under_attack, 2000ms);
}

class RoundsUnderSlowLoris : public RoundsFixture {
 protected:
  void configure(VerifierConfig& config) override {
    config.max_connections_per_peer = 8;
    config.handshake_deadline = 1000ms;
  }
};

// One peer gets at most its share of connections (the rest are closed at accept), and a
// handshake that does not finish is cut at its deadline however it trickles.
TEST_F(RoundsUnderSlowLoris, PerPeerCapAndHandshakeDeadline) {
  HandshakeTrickler trickle("127.0.0.2", verifier->port(), 200, 200ms);
  ASSERT_EQ(trickle.opened(), 200u);
  std::this_thread::sleep_for(300ms);
  json answer;
  const auto under_attack = timed([&] { answer = round(); });
  EXPECT_EQ(answer["state"], "trusted") << answer.dump();
  EXPECT_LT(under_attack, 2000ms);
  std::this_thread::sleep_for(2500ms);  // past the deadline of every handshake the cap let in
  const auto [closed, longest] = trickle.closed();
  const json counts = verifier->connections();
  std::fprintf(stderr, "200 trickling connections from one peer: %d closed by the verifier, the longest after %lld ms; "
               "round %lld ms; %s\n", closed, static_cast<long long>(longest.count()),
               static_cast<long long>(under_attack.count()), counts.dump().c_str());
  EXPECT_EQ(closed, 200) << "trickling handshakes outlived their deadline";
  EXPECT_LT(longest, 2500ms);
  EXPECT_GE(counts["refused_peer_cap"].get<int>(), 192) << counts.dump();
  EXPECT_GE(counts["handshake_timeouts"].get<int>(), 8) << counts.dump();
  EXPECT_EQ(counts["max_connections_per_peer"], 8);
}

}  // namespace
}  // namespace vigil::attest
