#pragma once
// The verifier's registry of agents and secrets, behind an interface: SQLite for one machine
// (open_sqlite_registry: <state>/verifier.db, WAL) or PostgreSQL for verifiers sharing a fleet
// (pg_registry.h, docs/fleet.md).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/appraisal.h"
#include "common/error.h"

namespace vigil::attest {

enum class AgentState { registered, trusted, untrusted, unreachable };
std::string_view agent_state_name(AgentState state);  // "registered", "trusted", ...

struct AgentRecord {
  std::string id;                       // the CN of its client certificate
  std::vector<uint8_t> expected_ek;     // TPM2B_PUBLIC or SubjectPublicKeyInfo DER pinned by `verifier agent add`
  std::vector<uint8_t> ak_public;       // TPM2B_PUBLIC after activation; empty before
  std::string policy_json;              // its runtime policy (vigil format)
  AgentState state = AgentState::registered;
  std::string reason;                   // why untrusted/unreachable; the first failing entry
  bool activated = false;
  ListProgress progress;
  int64_t last_round_ns = 0;            // wall clock of the last good evidence
  uint64_t rounds = 0;
};

struct StoredSecret {
  std::string name;
  std::string selector;                 // agent id glob(s), comma separated
  std::string cipher;                   // "sm4-ctr-hmac-sm3" or "aes-256-gcm"
  std::vector<uint8_t> sealed;          // nonce || ciphertext || tag (docs/attestation.md)
};

struct SecretLogEntry {
  int64_t time_ns = 0;
  std::string agent;
  std::string secret;
  bool released = false;
  std::string reason;
};

// Who attests an agent now (docs/fleet.md, leases): granted to `verifier` when the agent's lease
// is free, expired or already its own; else the holder and how long its lease still runs.
struct LeaseAnswer {
  bool granted = false;
  std::string holder;
  int64_t remaining_ms = 0;
};

class Registry {
 public:
  virtual ~Registry() = default;
  // Takes or renews the agent's lease for duration_ms (the database's clock). A registry that
  // only one verifier uses (SQLite) grants every request.
  virtual Result<LeaseAnswer> take_lease(const std::string& agent_id, const std::string& verifier_id,
                                         int64_t duration_ms) {
    (void)agent_id;
    return LeaseAnswer{true, verifier_id, duration_ms};
  }
  virtual Result<void> put_agent(const AgentRecord& agent) = 0;  // insert or replace
  virtual Result<std::optional<AgentRecord>> agent(const std::string& id) = 0;
  virtual Result<std::vector<AgentRecord>> agents() = 0;
  virtual Result<bool> remove_agent(const std::string& id) = 0;
  virtual Result<void> put_secret(const StoredSecret& secret) = 0;
  virtual Result<std::optional<StoredSecret>> secret(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> secret_names() = 0;
  virtual Result<void> log_secret_access(const SecretLogEntry& entry) = 0;
  virtual Result<std::vector<SecretLogEntry>> secret_log(size_t limit) = 0;
};

Result<std::unique_ptr<Registry>> open_sqlite_registry(const std::string& path);

// `database` a postgresql:// URL: the PostgreSQL registry with a pool of `connections`;
// empty: SQLite at sqlite_path. Anything else is refused.
Result<std::unique_ptr<Registry>> open_registry(const std::string& database, const std::string& sqlite_path,
                                                size_t connections = 4);

}  // namespace vigil::attest
