// The verifier's registry (src/attest/net/registry.h): every behaviour on both backends, SQLite
// and PostgreSQL (a private server, tests/support/postgres_server.h); what is one backend's own
// (WAL; schema migrations, shared policies, the pool, a server restart) in its own suite.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "attest/net/pg_registry.h"
#include "attest/net/registry.h"
#include "support/postgres_server.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

using namespace std::chrono_literals;

// Parameter: "sqlite" or "postgresql". Each test gets a fresh database of its backend.
class AttestRegistry : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      const std::string problem = test::postgres_database(&url);
      VIGIL_REQUIRE_POSTGRES(problem);
    }
  }
  // Opens (again) the registry of this test's database.
  std::unique_ptr<Registry> open_in(const test::TempDir& dir) {
    auto registry = GetParam() == "postgresql" ? open_postgres_registry(url) : open_sqlite_registry(dir / "verifier.db");
    if (!registry) ADD_FAILURE() << registry.error().message;
    return registry ? std::move(*registry) : nullptr;
  }
  std::string url;
};

INSTANTIATE_TEST_SUITE_P(, AttestRegistry, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

AgentRecord sample_agent(const std::string& id) {
  AgentRecord agent;
  agent.id = id;
  agent.expected_ek = {0x30, 0x82, 0x00, 0x01, 0xff};
  agent.ak_public = {0x00, 0x58, 0x00, 0x23};
  agent.policy_json = R"({"vigil_runtime_policy":1,"digests":{}})";
  agent.state = AgentState::untrusted;
  agent.reason = "policy: entry 7 /usr/bin/x: digest not allowed";
  agent.activated = true;
  agent.progress.entries_verified = 1234;
  agent.progress.pcr10.algo = crypto::HashAlgo::sha256;
  agent.progress.pcr10.size = 32;
  for (uint8_t i = 0; i < 32; ++i) agent.progress.pcr10.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  agent.progress.reset_count = 3;
  agent.progress.seen_quote = true;
  agent.last_round_ns = 1'700'000'000'123'456'789;
  agent.rounds = 42;
  return agent;
}

void expect_same(const AgentRecord& a, const AgentRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.expected_ek, b.expected_ek);
  EXPECT_EQ(a.ak_public, b.ak_public);
  EXPECT_EQ(a.policy_json, b.policy_json);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.activated, b.activated);
  EXPECT_EQ(a.progress.entries_verified, b.progress.entries_verified);
  EXPECT_EQ(a.progress.pcr10, b.progress.pcr10);
  EXPECT_EQ(a.progress.reset_count, b.progress.reset_count);
  EXPECT_EQ(a.progress.seen_quote, b.progress.seen_quote);
  EXPECT_EQ(a.last_round_ns, b.last_round_ns);
  EXPECT_EQ(a.rounds, b.rounds);
}

TEST_P(AttestRegistry, AgentsRoundTripWithProgressAcrossReopen) {
  test::TempDir dir;
  const AgentRecord agent = sample_agent("web-1");
  {
    auto registry = open_in(dir);
    ASSERT_TRUE(registry);
    ASSERT_TRUE(registry->put_agent(agent));
    ASSERT_TRUE(registry->put_agent(sample_agent("db-1")));
  }
  auto registry = open_in(dir);
  ASSERT_TRUE(registry);
  auto found = registry->agent("web-1");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  expect_same(**found, agent);
  auto all = registry->agents();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "db-1");  // ordered by id
  EXPECT_EQ((*all)[1].id, "web-1");
  auto missing = registry->agent("nobody");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(AttestRegistry, PutReplacesAndRemoveForgets) {
  test::TempDir dir;
  auto registry = open_in(dir);
  ASSERT_TRUE(registry);
  AgentRecord agent = sample_agent("a");
  ASSERT_TRUE(registry->put_agent(agent));
  agent.state = AgentState::registered;
  agent.reason.clear();
  agent.ak_public.clear();  // an empty BLOB stays empty (not NULL)
  agent.progress = ListProgress{};
  ASSERT_TRUE(registry->put_agent(agent));
  auto found = registry->agent("a");
  ASSERT_TRUE(found && found->has_value());
  expect_same(**found, agent);
  auto removed = registry->remove_agent("a");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  auto again = registry->remove_agent("a");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto all = registry->agents();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_P(AttestRegistry, SecretsAndAccessLog) {
  test::TempDir dir;
  auto registry = open_in(dir);
  ASSERT_TRUE(registry);
  const StoredSecret secret{"disk-key", "web-*,db-1", "sm4-ctr-hmac-sm3", {1, 2, 3, 0, 4}};
  ASSERT_TRUE(registry->put_secret(secret));
  ASSERT_TRUE(registry->put_secret({"api-token", "*", "aes-256-gcm", {9}}));
  auto found = registry->secret("disk-key");
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->selector, secret.selector);
  EXPECT_EQ((*found)->cipher, secret.cipher);
  EXPECT_EQ((*found)->sealed, secret.sealed);
  auto names = registry->secret_names();
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"api-token", "disk-key"}));

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(registry->log_secret_access({1000 + i, "web-1", "disk-key", i % 2 == 0, "reason " + std::to_string(i)}));
  }
  auto newest = registry->secret_log(3);
  ASSERT_TRUE(newest);
  ASSERT_EQ(newest->size(), 3u);
  EXPECT_EQ((*newest)[0].reason, "reason 2");  // the newest three, oldest first
  EXPECT_EQ((*newest)[2].reason, "reason 4");
  EXPECT_EQ((*newest)[2].time_ns, 1004);
  EXPECT_TRUE((*newest)[2].released);
  EXPECT_FALSE((*newest)[1].released);
}

TEST(AttestRegistrySqlite, UsesWriteAheadLogging) {
  test::TempDir dir;
  auto opened = open_sqlite_registry(dir / "verifier.db");
  ASSERT_TRUE(opened) << opened.error().message;
  auto& registry = *opened;
  ASSERT_TRUE(registry->put_agent(sample_agent("a")));
  struct stat info {};
  EXPECT_EQ(::stat((dir / "verifier.db-wal").c_str(), &info), 0) << "no WAL file next to the database";
}

TEST(AttestRegistryNames, StateNames) {
  EXPECT_EQ(agent_state_name(AgentState::registered), "registered");
  EXPECT_EQ(agent_state_name(AgentState::trusted), "trusted");
  EXPECT_EQ(agent_state_name(AgentState::untrusted), "untrusted");
  EXPECT_EQ(agent_state_name(AgentState::unreachable), "unreachable");
}

TEST(AttestRegistryUrls, PostgresUrlsAreRecognizedAndPasswordsRedacted) {
  EXPECT_TRUE(pg::is_postgres_url("postgresql://vigil@db/registry"));
  EXPECT_TRUE(pg::is_postgres_url("postgres://db/registry"));
  EXPECT_FALSE(pg::is_postgres_url("/var/lib/vigil/verifier/verifier.db"));
  EXPECT_EQ(pg::redact_url("postgresql://vigil:s3cret@db:5432/registry"), "postgresql://vigil:***@db:5432/registry");
  EXPECT_EQ(pg::redact_url("postgresql:///registry?host=/run/pg&password=s3cret&sslmode=require"),
            "postgresql:///registry?host=/run/pg&password=***&sslmode=require");
  EXPECT_EQ(pg::redact_url("postgresql://db/registry"), "postgresql://db/registry");
  auto refused = open_registry("mysql://db/registry", "/nonexistent/verifier.db");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not a postgresql:// URL"), std::string::npos);
}

// PostgreSQL's own: schema versions, policies by reference, the pool's bound, a server restart.
class AttestRegistryPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string problem = test::postgres_database(&url);
    VIGIL_REQUIRE_POSTGRES(problem);
    server = test::shared_postgres();
    database = url.substr(std::string("postgresql:///").size(), url.find('?') - std::string("postgresql:///").size());
  }
  std::string value(const std::string& sql) {
    std::string error;
    std::string result = server->query_value(database, sql, &error);
    EXPECT_EQ(error, "") << sql;
    return result;
  }
  std::unique_ptr<Registry> open(size_t connections = 4) {
    PostgresRegistryOptions options;
    options.pool.max_connections = connections;
    auto registry = open_postgres_registry(url, options);
    if (!registry) ADD_FAILURE() << registry.error().message;
    return registry ? std::move(*registry) : nullptr;
  }
  std::string url;
  std::string database;
  test::PostgresServer* server = nullptr;
};

TEST_F(AttestRegistryPostgres, MigratesAnEmptyDatabaseToTheCurrentSchemaOnce) {
  auto before = migrate_postgres_registry(url);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(*before, 0);
  EXPECT_EQ(value("SELECT version FROM vigil_registry_schema"), std::to_string(kPostgresSchemaVersion));
  EXPECT_EQ(value("SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                  "('agents', 'policies', 'secrets', 'secret_log', 'leases')"),
            "5");
  auto again = migrate_postgres_registry(url);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, kPostgresSchemaVersion);
  EXPECT_EQ(value("SELECT count(*) FROM vigil_registry_schema"), "1");
}

TEST_F(AttestRegistryPostgres, MigratesFromSchemaVersion1KeepingAgentsAndSharingTheirPolicies) {
  auto made = migrate_postgres_registry(url, 1);
  ASSERT_TRUE(made) << made.error().message;
  // Rows as a version-1 verifier wrote them: each agent with its own copy of its policy.
  const std::string shared_policy = R"({"vigil_runtime_policy":1,"digests":{"/usr/bin/a":["sha256:00"]}})";
  const std::string own_policy = R"({"vigil_runtime_policy":1,"digests":{}})";
  for (const auto& [id, policy] : std::vector<std::pair<std::string, std::string>>{
           {"web-1", shared_policy}, {"web-2", shared_policy}, {"db-1", own_policy}}) {
    ASSERT_EQ(server->exec(database, "INSERT INTO agents VALUES ('" + id + "', '\\x3082', '\\x0058', '" + policy +
                                         "', 'trusted', '', true, 17, 4, '\\x" + std::string(64, 'a') +
                                         "', 2, true, 1700000000000000000, 9)"),
              "");
  }
  ASSERT_EQ(server->exec(database, "INSERT INTO secret_log (time_ns, agent, secret, released, reason) "
                                   "VALUES (5, 'web-1', 'k', true, 'trusted')"),
            "");
  auto registry = open();
  ASSERT_TRUE(registry);
  EXPECT_EQ(value("SELECT version FROM vigil_registry_schema"), std::to_string(kPostgresSchemaVersion));
  auto all = registry->agents();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "db-1");
  EXPECT_EQ((*all)[0].policy_json, own_policy);
  EXPECT_EQ((*all)[1].policy_json, shared_policy);
  EXPECT_EQ((*all)[2].policy_json, shared_policy);
  EXPECT_EQ((*all)[2].state, AgentState::trusted);
  EXPECT_EQ((*all)[2].progress.entries_verified, 17u);
  EXPECT_EQ((*all)[2].progress.pcr10.size, 32);
  EXPECT_EQ((*all)[2].rounds, 9u);
  EXPECT_EQ(value("SELECT count(*) FROM policies"), "2");  // the shared one once
  auto log = registry->secret_log(10);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].reason, "trusted");
}

TEST_F(AttestRegistryPostgres, RefusesADatabaseOfANewerSchema) {
  ASSERT_TRUE(migrate_postgres_registry(url));
  ASSERT_EQ(server->exec(database, "UPDATE vigil_registry_schema SET version = 99"), "");
  auto registry = open_postgres_registry(url);
  ASSERT_FALSE(registry);
  EXPECT_NE(registry.error().message.find("schema version 99, newer"), std::string::npos) << registry.error().message;
}

TEST_F(AttestRegistryPostgres, RuntimePoliciesAreStoredOnceAndSharedByReference) {
  auto registry = open();
  ASSERT_TRUE(registry);
  // A 1 MiB policy shared by 40 agents.
  std::string big = R"({"vigil_runtime_policy":1,"digests":{"/opt/x":["sha256:)" + std::string(1 << 20, 'f') + R"("]}})";
  for (int i = 0; i < 40; ++i) {
    AgentRecord agent = sample_agent("host-" + std::to_string(i));
    agent.policy_json = big;
    ASSERT_TRUE(registry->put_agent(agent));
    agent.rounds += 1;  // a round writes the agent again; the policy is not sent again
    ASSERT_TRUE(registry->put_agent(agent));
  }
  EXPECT_EQ(value("SELECT count(*) FROM policies"), "1");
  EXPECT_EQ(value("SELECT sum(octet_length(body)) FROM policies"), std::to_string(big.size()));
  EXPECT_LT(std::stoll(value("SELECT pg_total_relation_size('agents')")), 1 << 20);
  // One agent gets another policy: two stored; once it is removed, the other one is collected.
  AgentRecord odd = sample_agent("host-0");
  ASSERT_TRUE(registry->put_agent(odd));
  EXPECT_EQ(value("SELECT count(*) FROM policies"), "2");
  ASSERT_TRUE(registry->remove_agent("host-0"));
  EXPECT_EQ(value("SELECT count(*) FROM policies"), "1");
  // A second registry (another verifier) reads the policy through the reference.
  auto other = open(1);
  ASSERT_TRUE(other);
  auto found = other->agent("host-7");
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->policy_json, big);
  // Its cached reference survives the policy's collection by another process: the next write
  // stores it again.
  for (int i = 1; i < 40; ++i) ASSERT_TRUE(registry->remove_agent("host-" + std::to_string(i)));
  EXPECT_EQ(value("SELECT count(*) FROM policies"), "0");
  ASSERT_TRUE(other->put_agent(**found));
  auto back = registry->agent("host-7");
  ASSERT_TRUE(back && back->has_value());
  EXPECT_EQ((*back)->policy_json, big);
}

TEST_F(AttestRegistryPostgres, PoolNeverOpensMoreConnectionsThanItsSize) {
  auto registry = open(3);
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->put_agent(sample_agent("a")));
  std::atomic<bool> done{false};
  std::atomic<int> most{0};
  std::thread sampler([&] {
    while (!done) {
      const std::string count = server->query_value(
          database, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigil-verifier' AND datname = '" +
                        database + "'");
      if (!count.empty()) most = std::max(most.load(), std::stoi(count));
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        auto found = registry->agent("a");
        if (!found || !found->has_value()) ++failures;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  done = true;
  sampler.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(most.load(), 1);
  EXPECT_LE(most.load(), 3);
}

TEST_F(AttestRegistryPostgres, ServerRestartLosesNoWriteAndTheRegistryReconnects) {
  auto registry = open(2);
  ASSERT_TRUE(registry);
  AgentRecord agent = sample_agent("a");
  agent.rounds = 0;
  ASSERT_TRUE(registry->put_agent(agent));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::atomic<int> failures{0};
  std::string failure;
  std::thread rounds([&] {
    AgentRecord next = agent;
    while (!stop) {
      next.rounds = written + 1;
      auto stored = registry->put_agent(next);
      if (!stored) {
        ++failures;
        failure = stored.error().message;
        return;
      }
      written = next.rounds;
      ASSERT_TRUE(registry->log_secret_access({static_cast<int64_t>(next.rounds), "a", "k", true, "round"}));
    }
  });
  while (written < 20) std::this_thread::sleep_for(5ms);
  const uint64_t before_restart = written;
  ASSERT_EQ(server->restart(), "");  // immediate stop (crash-like), then start
  const auto restarted = std::chrono::steady_clock::now();
  while (written < before_restart + 20 && failures == 0 && std::chrono::steady_clock::now() - restarted < 30s) {
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  rounds.join();
  EXPECT_EQ(failures.load(), 0) << failure;
  EXPECT_GE(written.load(), before_restart + 20);
  auto found = registry->agent("a");
  ASSERT_TRUE(found && found->has_value()) << (found ? "" : found.error().message);
  EXPECT_EQ((*found)->rounds, written.load());  // every acknowledged write is there
  EXPECT_EQ(std::stoull(value("SELECT count(DISTINCT time_ns) FROM secret_log")), written.load());
}

}  // namespace
}  // namespace vigil::attest
