// The verifier's registry over SQLite (src/attest/net/registry.h).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "attest/net/registry.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

std::unique_ptr<Registry> open_in(const test::TempDir& dir) {
  auto registry = open_sqlite_registry(dir / "verifier.db");
  if (!registry) ADD_FAILURE() << registry.error().message;
  return registry ? std::move(*registry) : nullptr;
}

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

TEST(AttestRegistry, AgentsRoundTripWithProgressAcrossReopen) {
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

TEST(AttestRegistry, PutReplacesAndRemoveForgets) {
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

TEST(AttestRegistry, SecretsAndAccessLog) {
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

TEST(AttestRegistry, UsesWriteAheadLogging) {
  test::TempDir dir;
  auto registry = open_in(dir);
  ASSERT_TRUE(registry);
  ASSERT_TRUE(registry->put_agent(sample_agent("a")));
  struct stat info {};
  EXPECT_EQ(::stat((dir / "verifier.db-wal").c_str(), &info), 0) << "no WAL file next to the database";
}

TEST(AttestRegistry, StateNames) {
  EXPECT_EQ(agent_state_name(AgentState::registered), "registered");
  EXPECT_EQ(agent_state_name(AgentState::trusted), "trusted");
  EXPECT_EQ(agent_state_name(AgentState::untrusted), "untrusted");
  EXPECT_EQ(agent_state_name(AgentState::unreachable), "unreachable");
}

}  // namespace
}  // namespace vigil::attest
