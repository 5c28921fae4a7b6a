// The registry in PostgreSQL through libpq: a bounded pool (pg_pool.h), statements that are
// each one implicit transaction and idempotent (so the pool may resend them after a lost
// connection), and policies stored once by SHA-256 with a per-process cache of their bodies, so
// a round does not send or fetch a policy the database already holds.
#include "attest/net/pg_registry.h"

#include <openssl/evp.h>

#include <map>
#include <mutex>

namespace vigil::attest {
namespace {

using pg::Param;

// Each migration takes the schema from its index to index + 1. Never edit one that shipped:
// add the next.
const std::vector<std::string_view> kMigrations = {
    // 0 -> 1: the SQLite registry's tables.
    R"sql(
CREATE TABLE agents (
  id text PRIMARY KEY,
  expected_ek bytea NOT NULL,
  ak_public bytea NOT NULL,
  policy_json text NOT NULL,
  state text NOT NULL,
  reason text NOT NULL,
  activated boolean NOT NULL,
  entries_verified bigint NOT NULL,
  pcr10_algo integer NOT NULL,
  pcr10 bytea NOT NULL,
  reset_count bigint NOT NULL,
  seen_quote boolean NOT NULL,
  last_round_ns bigint NOT NULL,
  rounds bigint NOT NULL
);
CREATE TABLE secrets (
  name text PRIMARY KEY,
  selector text NOT NULL,
  cipher text NOT NULL,
  sealed bytea NOT NULL
);
CREATE TABLE secret_log (
  seq bigserial PRIMARY KEY,
  time_ns bigint NOT NULL,
  agent text NOT NULL,
  secret text NOT NULL,
  released boolean NOT NULL,
  reason text NOT NULL
);
)sql",
    // 1 -> 2: runtime policies once per content, referenced by digest (keylime#1167: per-agent
    // copies of a policy of tens of MiB swamp the database).
    R"sql(
CREATE TABLE policies (
  digest bytea PRIMARY KEY,
  body text NOT NULL
);
INSERT INTO policies (digest, body)
  SELECT DISTINCT sha256(convert_to(policy_json, 'UTF8')), policy_json FROM agents;
ALTER TABLE agents ADD COLUMN policy_digest bytea;
UPDATE agents SET policy_digest = sha256(convert_to(policy_json, 'UTF8'));
ALTER TABLE agents ALTER COLUMN policy_digest SET NOT NULL;
ALTER TABLE agents ADD CONSTRAINT agents_policy_fk FOREIGN KEY (policy_digest) REFERENCES policies (digest);
ALTER TABLE agents DROP COLUMN policy_json;
CREATE INDEX agents_policy_digest ON agents (policy_digest);
)sql",
    // 2 -> 3: leases, so several verifiers share the agents and each round has one verifier.
    R"sql(
CREATE TABLE leases (
  agent text PRIMARY KEY,
  verifier text NOT NULL,
  expires_ms bigint NOT NULL
);
)sql",
};
static_assert(kPostgresSchemaVersion == 3);

// pg_advisory_xact_lock key of the migrations: "vigilreg" in ASCII.
constexpr std::string_view kMigrationLock = "SELECT pg_advisory_xact_lock(8532478167007372647)";

constexpr std::string_view kAgentColumns =
    "id, expected_ek, ak_public, policy_digest, state, reason, activated, entries_verified, pcr10_algo, pcr10, "
    "reset_count, seen_quote, last_round_ns, rounds";

std::string one_line(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Result<void> run(PGconn* connection, std::string_view sql) {
  PGresult* result = PQexec(connection, std::string(sql).c_str());
  const ExecStatusType status = PQresultStatus(result);
  const std::string message = one_line(PQresultErrorMessage(result));
  PQclear(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail("registry migration: " + message);
  return {};
}

Result<std::string> single_value(PGconn* connection, std::string_view sql) {
  PGresult* result = PQexec(connection, std::string(sql).c_str());
  const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
  std::string value = ok && PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
  const std::string message = one_line(PQresultErrorMessage(result));
  PQclear(result);
  if (!ok) return fail("registry migration: " + message);
  return value;
}

std::string sha256_of(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

Param blob_param(std::string_view bytes) { return Param{std::string(bytes), true, false}; }

Result<AgentState> state_from_name(const std::string& name) {
  for (AgentState state : {AgentState::registered, AgentState::trusted, AgentState::untrusted, AgentState::unreachable}) {
    if (agent_state_name(state) == name) return state;
  }
  return fail("registry: unknown agent state \"" + name + "\"");
}

class PostgresRegistry final : public Registry {
 public:
  explicit PostgresRegistry(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

  Result<void> put_agent(const AgentRecord& agent) override {
    std::string digest = known_digest(agent.id, agent.policy_json);
    bool stored_now = false;
    if (digest.empty()) {
      digest = sha256_of(agent.policy_json);
      if (auto stored = store_policy(digest, agent.policy_json); !stored) return stored;
      stored_now = true;
    }
    const std::string sql = "INSERT INTO agents (" + std::string(kAgentColumns) +
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
                            "ON CONFLICT (id) DO UPDATE SET expected_ek = EXCLUDED.expected_ek, "
                            "ak_public = EXCLUDED.ak_public, policy_digest = EXCLUDED.policy_digest, "
                            "state = EXCLUDED.state, reason = EXCLUDED.reason, activated = EXCLUDED.activated, "
                            "entries_verified = EXCLUDED.entries_verified, pcr10_algo = EXCLUDED.pcr10_algo, "
                            "pcr10 = EXCLUDED.pcr10, reset_count = EXCLUDED.reset_count, "
                            "seen_quote = EXCLUDED.seen_quote, last_round_ns = EXCLUDED.last_round_ns, "
                            "rounds = EXCLUDED.rounds";
    const std::vector<Param> params = {
        Param::text(agent.id),
        Param::blob(agent.expected_ek),
        Param::blob(agent.ak_public),
        blob_param(digest),
        Param::text(agent_state_name(agent.state)),
        Param::text(agent.reason),
        Param::text(agent.activated ? "true" : "false"),
        Param::integer(static_cast<int64_t>(agent.progress.entries_verified)),
        Param::integer(static_cast<int64_t>(agent.progress.pcr10.algo)),
        Param::blob(agent.progress.pcr10.view()),
        Param::integer(static_cast<int64_t>(agent.progress.reset_count)),
        Param::text(agent.progress.seen_quote ? "true" : "false"),
        Param::integer(agent.last_round_ns),
        Param::integer(static_cast<int64_t>(agent.rounds)),
    };
    std::string sqlstate;
    auto upserted = pool_->exec(sql, params, &sqlstate);
    if (!upserted && sqlstate == "23503") {
      // The policy row went away (another process removed its last agent and collected it)
      // after this process cached it as stored: store it again and retry once.
      forget_policy(digest);
      if (auto stored = store_policy(digest, agent.policy_json); !stored) return stored;
      stored_now = true;
      upserted = pool_->exec(sql, params);
    }
    if (!upserted) return std::unexpected(upserted.error());
    remember(agent.id, digest, agent.policy_json);
    // A new policy may have replaced this agent's old one: drop policies no agent refers to.
    if (stored_now) return collect_policies();
    return {};
  }

  Result<std::optional<AgentRecord>> agent(const std::string& id) override {
    auto rows = pool_->exec("SELECT " + std::string(kAgentColumns) + " FROM agents WHERE id = $1", {Param::text(id)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->count() == 0) return std::optional<AgentRecord>{};
    auto record = read_agent(*rows, 0);
    if (!record) return std::unexpected(record.error());
    return std::optional<AgentRecord>(std::move(*record));
  }

  Result<std::vector<AgentRecord>> agents() override {
    auto rows = pool_->exec("SELECT " + std::string(kAgentColumns) + " FROM agents ORDER BY id");
    if (!rows) return std::unexpected(rows.error());
    std::vector<AgentRecord> all;
    all.reserve(static_cast<size_t>(rows->count()));
    for (int row = 0; row < rows->count(); ++row) {
      auto record = read_agent(*rows, row);
      if (!record) return std::unexpected(record.error());
      all.push_back(std::move(*record));
    }
    return all;
  }

  Result<bool> remove_agent(const std::string& id) override {
    auto rows = pool_->exec("DELETE FROM agents WHERE id = $1", {Param::text(id)});
    if (!rows) return std::unexpected(rows.error());
    {
      std::lock_guard lock(mutex_);
      by_agent_.erase(id);
    }
    if (auto collected = collect_policies(); !collected) return std::unexpected(collected.error());
    return rows->affected() > 0;
  }

  Result<LeaseAnswer> take_lease(const std::string& agent_id, const std::string& verifier_id,
                                 int64_t duration_ms) override {
    // One statement: granted when free, expired or already ours (the database's clock, so the
    // verifiers' clocks need not agree); else the holder and what remains of its lease.
    auto rows = pool_->exec(
        "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms), "
        "taken AS (INSERT INTO leases AS l (agent, verifier, expires_ms) SELECT $1, $2, now.ms + $3 FROM now "
        "  ON CONFLICT (agent) DO UPDATE SET verifier = EXCLUDED.verifier, expires_ms = EXCLUDED.expires_ms "
        "  WHERE l.verifier = EXCLUDED.verifier OR l.expires_ms < (SELECT ms FROM now) RETURNING verifier) "
        "SELECT (SELECT count(*) FROM taken), l.verifier, l.expires_ms - now.ms FROM now LEFT JOIN leases l ON l.agent = $1",
        {Param::text(agent_id), Param::text(verifier_id), Param::integer(duration_ms)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->count() != 1) return fail("registry: lease query returned no row");
    LeaseAnswer answer;
    answer.granted = rows->text(0, 0) == "1";
    if (answer.granted) {
      answer.holder = verifier_id;
      answer.remaining_ms = duration_ms;
    } else {
      answer.holder = rows->text(0, 1);
      auto remaining = rows->integer(0, 2);
      answer.remaining_ms = remaining ? *remaining : 0;
    }
    return answer;
  }

  Result<void> put_secret(const StoredSecret& secret) override {
    auto rows = pool_->exec(
        "INSERT INTO secrets (name, selector, cipher, sealed) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE "
        "SET selector = EXCLUDED.selector, cipher = EXCLUDED.cipher, sealed = EXCLUDED.sealed",
        {Param::text(secret.name), Param::text(secret.selector), Param::text(secret.cipher), Param::blob(secret.sealed)});
    if (!rows) return std::unexpected(rows.error());
    return {};
  }

  Result<std::optional<StoredSecret>> secret(const std::string& name) override {
    auto rows = pool_->exec("SELECT name, selector, cipher, sealed FROM secrets WHERE name = $1", {Param::text(name)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->count() == 0) return std::optional<StoredSecret>{};
    auto sealed = rows->blob(0, 3);
    if (!sealed) return std::unexpected(sealed.error());
    return std::optional<StoredSecret>(StoredSecret{rows->text(0, 0), rows->text(0, 1), rows->text(0, 2), *sealed});
  }

  Result<std::vector<std::string>> secret_names() override {
    auto rows = pool_->exec("SELECT name FROM secrets ORDER BY name");
    if (!rows) return std::unexpected(rows.error());
    std::vector<std::string> names;
    for (int row = 0; row < rows->count(); ++row) names.push_back(rows->text(row, 0));
    return names;
  }

  Result<void> log_secret_access(const SecretLogEntry& entry) override {
    auto rows = pool_->exec(
        "INSERT INTO secret_log (time_ns, agent, secret, released, reason) VALUES ($1, $2, $3, $4, $5)",
        {Param::integer(entry.time_ns), Param::text(entry.agent), Param::text(entry.secret),
         Param::text(entry.released ? "true" : "false"), Param::text(entry.reason)});
    if (!rows) return std::unexpected(rows.error());
    return {};
  }

  Result<std::vector<SecretLogEntry>> secret_log(size_t limit) override {
    auto rows = pool_->exec(
        "SELECT time_ns, agent, secret, released, reason FROM "
        "(SELECT * FROM secret_log ORDER BY seq DESC LIMIT $1) newest ORDER BY seq",
        {Param::integer(static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)))});
    if (!rows) return std::unexpected(rows.error());
    std::vector<SecretLogEntry> entries;
    for (int row = 0; row < rows->count(); ++row) {
      auto time = rows->integer(row, 0);
      if (!time) return std::unexpected(time.error());
      entries.push_back({*time, rows->text(row, 1), rows->text(row, 2), rows->text(row, 3) == "t", rows->text(row, 4)});
    }
    return entries;
  }

 private:
  using Body = std::shared_ptr<const std::string>;

  // The digest this process last stored for the agent's policy, if the policy is still that
  // one (compared byte for byte: cheaper than hashing tens of MiB each round).
  std::string known_digest(const std::string& id, const std::string& policy_json) {
    std::lock_guard lock(mutex_);
    auto found = by_agent_.find(id);
    if (found == by_agent_.end() || *found->second.second != policy_json) return {};
    return found->second.first;
  }

  void remember(const std::string& id, const std::string& digest, const std::string& policy_json) {
    std::lock_guard lock(mutex_);
    Body& body = bodies_[digest];
    if (!body) body = std::make_shared<const std::string>(policy_json);
    by_agent_[id] = {digest, body};
  }

  void forget_policy(const std::string& digest) {
    std::lock_guard lock(mutex_);
    for (auto it = by_agent_.begin(); it != by_agent_.end();) {
      it = it->second.first == digest ? by_agent_.erase(it) : std::next(it);
    }
  }

  Result<void> store_policy(const std::string& digest, const std::string& body) {
    auto rows = pool_->exec("INSERT INTO policies (digest, body) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
                            {blob_param(digest), Param::text(body)});
    if (!rows) return std::unexpected(rows.error());
    return {};
  }

  Result<void> collect_policies() {
    auto rows = pool_->exec(
        "DELETE FROM policies p WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.policy_digest = p.digest)");
    if (!rows) return std::unexpected(rows.error());
    if (rows->affected() > 0) {
      // Bodies cached for digests the database no longer holds are harmless (a later
      // put_agent stores them again on the foreign key's refusal); drop the unreferenced ones.
      std::lock_guard lock(mutex_);
      for (auto it = bodies_.begin(); it != bodies_.end();) {
        it = it->second.use_count() == 1 ? bodies_.erase(it) : std::next(it);
      }
    }
    return {};
  }

  Result<Body> policy_body(const std::string& digest) {
    {
      std::lock_guard lock(mutex_);
      auto found = bodies_.find(digest);
      if (found != bodies_.end()) return found->second;
    }
    auto rows = pool_->exec("SELECT body FROM policies WHERE digest = $1", {blob_param(digest)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->count() == 0) return fail("registry: an agent refers to a policy that is not stored");
    auto body = std::make_shared<const std::string>(rows->text(0, 0));
    if (sha256_of(*body) != digest) return fail("registry: a stored policy does not match its digest");
    std::lock_guard lock(mutex_);
    return bodies_.emplace(digest, body).first->second;
  }

  Result<AgentRecord> read_agent(const pg::Rows& rows, int row) {
    AgentRecord agent;
    agent.id = rows.text(row, 0);
    auto expected_ek = rows.blob(row, 1);
    auto ak_public = rows.blob(row, 2);
    auto digest = rows.blob(row, 3);
    auto pcr10 = rows.blob(row, 9);
    if (!expected_ek || !ak_public || !digest || !pcr10) return fail("registry: agent " + agent.id + ": bad bytea column");
    agent.expected_ek = std::move(*expected_ek);
    agent.ak_public = std::move(*ak_public);
    const std::string digest_bytes(digest->begin(), digest->end());
    auto body = policy_body(digest_bytes);
    if (!body) return fail(body.error().message + " (agent " + agent.id + ")");
    agent.policy_json = **body;
    auto state = state_from_name(rows.text(row, 4));
    if (!state) return std::unexpected(state.error());
    agent.state = *state;
    agent.reason = rows.text(row, 5);
    agent.activated = rows.text(row, 6) == "t";
    auto entries = rows.integer(row, 7);
    auto algo_id = rows.integer(row, 8);
    auto reset_count = rows.integer(row, 10);
    auto last_round = rows.integer(row, 12);
    auto rounds = rows.integer(row, 13);
    if (!entries || !algo_id || !reset_count || !last_round || !rounds) {
      return fail("registry: agent " + agent.id + ": bad integer column");
    }
    auto algo = crypto::hash_from_kernel_id(static_cast<uint8_t>(*algo_id));
    if (!algo || pcr10->size() > crypto::kMaxDigestSize) return fail("registry: agent " + agent.id + ": bad PCR 10 value");
    agent.progress.entries_verified = static_cast<uint64_t>(*entries);
    agent.progress.pcr10.algo = *algo;
    agent.progress.pcr10.size = static_cast<uint8_t>(pcr10->size());
    std::copy(pcr10->begin(), pcr10->end(), agent.progress.pcr10.bytes.begin());
    agent.progress.reset_count = static_cast<uint32_t>(*reset_count);
    agent.progress.seen_quote = rows.text(row, 11) == "t";
    agent.last_round_ns = *last_round;
    agent.rounds = static_cast<uint64_t>(*rounds);
    {
      std::lock_guard lock(mutex_);
      by_agent_[agent.id] = {digest_bytes, *body};
    }
    return agent;
  }

  std::unique_ptr<pg::Pool> pool_;
  std::mutex mutex_;                                         // guards the caches below
  std::map<std::string, Body> bodies_;                       // digest -> policy text
  std::map<std::string, std::pair<std::string, Body>> by_agent_;  // agent id -> its policy's digest and text
};

}  // namespace

Result<int> migrate_postgres_registry(const std::string& conninfo, int target) {
  if (target < 0 || target > kPostgresSchemaVersion) return fail("registry: no schema version " + std::to_string(target));
  pg::PoolOptions options;
  options.max_connections = 1;
  auto pool = pg::Pool::open(conninfo, options);
  if (!pool) return std::unexpected(pool.error());
  int before = 0;
  auto migrated = (*pool)->with_connection([&](PGconn* connection) -> Result<void> {
    if (auto begun = run(connection, "BEGIN"); !begun) return begun;
    if (auto locked = run(connection, kMigrationLock); !locked) return locked;
    if (auto made = run(connection, "CREATE TABLE IF NOT EXISTS vigil_registry_schema (version integer NOT NULL)");
        !made) {
      return made;
    }
    auto current = single_value(connection, "SELECT max(version) FROM vigil_registry_schema");
    if (!current) return std::unexpected(current.error());
    before = current->empty() ? 0 : std::stoi(*current);
    if (before > kPostgresSchemaVersion) {
      return fail("registry: the database has schema version " + std::to_string(before) + ", newer than this vigil's " +
                  std::to_string(kPostgresSchemaVersion) + ": upgrade vigil");
    }
    for (int version = before; version < target; ++version) {
      if (auto applied = run(connection, kMigrations[static_cast<size_t>(version)]); !applied) {
        return fail(applied.error().message + " (migration to schema version " + std::to_string(version + 1) + ")");
      }
    }
    if (target > before) {
      if (auto cleared = run(connection, "DELETE FROM vigil_registry_schema"); !cleared) return cleared;
      if (auto set = run(connection, "INSERT INTO vigil_registry_schema (version) VALUES (" + std::to_string(target) + ")");
          !set) {
        return set;
      }
    }
    return run(connection, "COMMIT");
  });
  if (!migrated) return std::unexpected(migrated.error());
  return before;
}

Result<std::unique_ptr<Registry>> open_postgres_registry(const std::string& conninfo,
                                                         const PostgresRegistryOptions& options) {
  auto before = migrate_postgres_registry(conninfo);
  if (!before) return std::unexpected(before.error());
  auto pool = pg::Pool::open(conninfo, options.pool);
  if (!pool) return std::unexpected(pool.error());
  return std::unique_ptr<Registry>(new PostgresRegistry(std::move(*pool)));
}

}  // namespace vigil::attest
