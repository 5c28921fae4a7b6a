// The registry in SQLite (WAL): one connection, serialized by a mutex, because the verifier's
// requests are short and the CLI (`vigil verifier agent add`, `vigil secret put`) writes the same
// file from another process while the verifier runs.
#include <sqlite3.h>

#include <mutex>

#include "attest/net/registry.h"
#include "attest/net/pg_registry.h"
#include "store/sqlite_handle.h"

namespace vigil::attest {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  expected_ek BLOB NOT NULL,
  ak_public BLOB NOT NULL,
  policy_json TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  activated INTEGER NOT NULL,
  entries_verified INTEGER NOT NULL,
  pcr10_algo INTEGER NOT NULL,
  pcr10 BLOB NOT NULL,
  reset_count INTEGER NOT NULL,
  seen_quote INTEGER NOT NULL,
  last_round_ns INTEGER NOT NULL,
  rounds INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY,
  selector TEXT NOT NULL,
  cipher TEXT NOT NULL,
  sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS secret_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  agent TEXT NOT NULL,
  secret TEXT NOT NULL,
  released INTEGER NOT NULL,
  reason TEXT NOT NULL
);
)sql";

constexpr std::string_view kAgentColumns =
    "id, expected_ek, ak_public, policy_json, state, reason, activated, entries_verified, pcr10_algo, pcr10, "
    "reset_count, seen_quote, last_round_ns, rounds";

Result<AgentState> state_from_name(const std::string& name) {
  for (AgentState state : {AgentState::registered, AgentState::trusted, AgentState::untrusted, AgentState::unreachable}) {
    if (agent_state_name(state) == name) return state;
  }
  return fail("registry: unknown agent state \"" + name + "\"");
}

Result<AgentRecord> read_agent(const store::Statement& row) {
  AgentRecord agent;
  agent.id = row.column_text(0);
  agent.expected_ek = row.column_blob(1);
  agent.ak_public = row.column_blob(2);
  agent.policy_json = row.column_text(3);
  auto state = state_from_name(row.column_text(4));
  if (!state) return std::unexpected(state.error());
  agent.state = *state;
  agent.reason = row.column_text(5);
  agent.activated = row.column_int(6) != 0;
  agent.progress.entries_verified = static_cast<uint64_t>(row.column_int(7));
  auto algo = crypto::hash_from_kernel_id(static_cast<uint8_t>(row.column_int(8)));
  const std::vector<uint8_t> pcr10 = row.column_blob(9);
  if (!algo || pcr10.size() > crypto::kMaxDigestSize) return fail("registry: agent " + agent.id + ": bad PCR 10 value");
  agent.progress.pcr10.algo = *algo;
  agent.progress.pcr10.size = static_cast<uint8_t>(pcr10.size());
  std::copy(pcr10.begin(), pcr10.end(), agent.progress.pcr10.bytes.begin());
  agent.progress.reset_count = static_cast<uint32_t>(row.column_int(10));
  agent.progress.seen_quote = row.column_int(11) != 0;
  agent.last_round_ns = row.column_int(12);
  agent.rounds = static_cast<uint64_t>(row.column_int(13));
  return agent;
}

class SqliteRegistry final : public Registry {
 public:
  explicit SqliteRegistry(store::Database db) : db_(std::move(db)) {}

  Result<void> put_agent(const AgentRecord& agent) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("INSERT OR REPLACE INTO agents (" + std::string(kAgentColumns) +
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    if (!stmt) return std::unexpected(stmt.error());
    store::Statement& s = **stmt;
    const std::string_view state = agent_state_name(agent.state);
    for (auto bound : {s.bind(1, agent.id), s.bind_blob(2, agent.expected_ek), s.bind_blob(3, agent.ak_public),
                       s.bind(4, agent.policy_json), s.bind(5, state), s.bind(6, agent.reason),
                       s.bind(7, int64_t{agent.activated}),
                       s.bind(8, static_cast<int64_t>(agent.progress.entries_verified)),
                       s.bind(9, static_cast<int64_t>(agent.progress.pcr10.algo)),
                       s.bind_blob(10, agent.progress.pcr10.view()),
                       s.bind(11, static_cast<int64_t>(agent.progress.reset_count)),
                       s.bind(12, int64_t{agent.progress.seen_quote}), s.bind(13, agent.last_round_ns),
                       s.bind(14, static_cast<int64_t>(agent.rounds))}) {
      if (!bound) return bound;
    }
    return s.run();
  }

  Result<std::optional<AgentRecord>> agent(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("SELECT " + std::string(kAgentColumns) + " FROM agents WHERE id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto bound = (*stmt)->bind(1, id); !bound) return std::unexpected(bound.error());
    auto row = (*stmt)->step();
    if (!row) return std::unexpected(row.error());
    std::optional<AgentRecord> found;
    if (*row) {
      auto record = read_agent(**stmt);
      if (!record) return std::unexpected(record.error());
      found = std::move(*record);
    }
    (*stmt)->reset();
    return found;
  }

  Result<std::vector<AgentRecord>> agents() override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("SELECT " + std::string(kAgentColumns) + " FROM agents ORDER BY id");
    if (!stmt) return std::unexpected(stmt.error());
    std::vector<AgentRecord> all;
    for (;;) {
      auto row = (*stmt)->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto record = read_agent(**stmt);
      if (!record) {
        (*stmt)->reset();
        return std::unexpected(record.error());
      }
      all.push_back(std::move(*record));
    }
    (*stmt)->reset();
    return all;
  }

  Result<bool> remove_agent(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("DELETE FROM agents WHERE id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto bound = (*stmt)->bind(1, id); !bound) return std::unexpected(bound.error());
    if (auto ran = (*stmt)->run(); !ran) return std::unexpected(ran.error());
    return (*stmt)->changes() > 0;
  }

  Result<void> put_secret(const StoredSecret& secret) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("INSERT OR REPLACE INTO secrets (name, selector, cipher, sealed) VALUES (?1, ?2, ?3, ?4)");
    if (!stmt) return std::unexpected(stmt.error());
    store::Statement& s = **stmt;
    for (auto bound : {s.bind(1, secret.name), s.bind(2, secret.selector), s.bind(3, secret.cipher),
                       s.bind_blob(4, secret.sealed)}) {
      if (!bound) return bound;
    }
    return s.run();
  }

  Result<std::optional<StoredSecret>> secret(const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("SELECT name, selector, cipher, sealed FROM secrets WHERE name = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto bound = (*stmt)->bind(1, name); !bound) return std::unexpected(bound.error());
    auto row = (*stmt)->step();
    if (!row) return std::unexpected(row.error());
    std::optional<StoredSecret> found;
    if (*row) {
      const store::Statement& s = **stmt;
      found = StoredSecret{s.column_text(0), s.column_text(1), s.column_text(2), s.column_blob(3)};
    }
    (*stmt)->reset();
    return found;
  }

  Result<std::vector<std::string>> secret_names() override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached("SELECT name FROM secrets ORDER BY name");
    if (!stmt) return std::unexpected(stmt.error());
    std::vector<std::string> names;
    for (;;) {
      auto row = (*stmt)->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      names.push_back((*stmt)->column_text(0));
    }
    (*stmt)->reset();
    return names;
  }

  Result<void> log_secret_access(const SecretLogEntry& entry) override {
    std::lock_guard lock(mutex_);
    auto stmt = db_.cached(
        "INSERT INTO secret_log (time_ns, agent, secret, released, reason) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!stmt) return std::unexpected(stmt.error());
    store::Statement& s = **stmt;
    for (auto bound : {s.bind(1, entry.time_ns), s.bind(2, entry.agent), s.bind(3, entry.secret),
                       s.bind(4, int64_t{entry.released}), s.bind(5, entry.reason)}) {
      if (!bound) return bound;
    }
    return s.run();
  }

  Result<std::vector<SecretLogEntry>> secret_log(size_t limit) override {
    std::lock_guard lock(mutex_);
    // The newest `limit` entries, returned oldest first (as a log reads).
    auto stmt = db_.cached(
        "SELECT time_ns, agent, secret, released, reason FROM "
        "(SELECT * FROM secret_log ORDER BY seq DESC LIMIT ?1) ORDER BY seq");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto bound = (*stmt)->bind(1, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX))); !bound) {
      return std::unexpected(bound.error());
    }
    std::vector<SecretLogEntry> entries;
    for (;;) {
      auto row = (*stmt)->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      const store::Statement& s = **stmt;
      entries.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_int(3) != 0, s.column_text(4)});
    }
    (*stmt)->reset();
    return entries;
  }

 private:
  std::mutex mutex_;
  store::Database db_;
};

}  // namespace

std::string_view agent_state_name(AgentState state) {
  switch (state) {
    case AgentState::registered: return "registered";
    case AgentState::trusted: return "trusted";
    case AgentState::untrusted: return "untrusted";
    case AgentState::unreachable: return "unreachable";
  }
  return "unknown";
}

Result<std::unique_ptr<Registry>> open_sqlite_registry(const std::string& path) {
  auto db = store::Database::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  auto mode = db->prepare("PRAGMA journal_mode=WAL");
  if (!mode) return std::unexpected(mode.error());
  auto row = mode->step();
  if (!row) return std::unexpected(row.error());
  const std::string journal_mode = *row ? mode->column_text(0) : "";
  mode->reset();
  if (journal_mode != "wal") return fail(path + ": cannot switch to WAL (journal mode is " + journal_mode + ")");
  // The registry is small and every change matters (a verdict, a release): full sync.
  if (auto pragmas = db->exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !pragmas) {
    return std::unexpected(pragmas.error());
  }
  if (auto schema = db->exec(kSchema); !schema) return std::unexpected(schema.error());
  return std::unique_ptr<Registry>(new SqliteRegistry(std::move(*db)));
}

Result<std::unique_ptr<Registry>> open_registry(const std::string& database, const std::string& sqlite_path,
                                                size_t connections) {
  if (database.empty()) return open_sqlite_registry(sqlite_path);
  if (!pg::is_postgres_url(database)) {
    return fail("--database: \"" + pg::redact_url(database) + "\" is not a postgresql:// URL (SQLite needs none)");
  }
  PostgresRegistryOptions options;
  options.pool.max_connections = connections;
  return open_postgres_registry(database, options);
}

}  // namespace vigil::attest
