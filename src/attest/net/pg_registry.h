#pragma once
// The verifier's registry in PostgreSQL (docs/fleet.md): the same Registry as SQLite's, for
// verifiers that share one database server. Its schema is versioned; open_postgres_registry
// applies the missing migrations at start, in one transaction under an advisory lock, so
// verifiers starting together migrate once. Runtime policies are stored once per content
// (SHA-256) and agents refer to them: a thousand agents with one policy store it once.
#include <chrono>
#include <memory>
#include <string>

#include "attest/net/pg_pool.h"
#include "attest/net/registry.h"

namespace vigil::attest {

// Schema versions: 1 the agents/secrets/secret_log tables of the SQLite registry, each agent
// with its own copy of its policy; 2 policies stored once by digest and referenced; 3 leases
// (which verifier attests which agent).
inline constexpr int kPostgresSchemaVersion = 3;

struct PostgresRegistryOptions {
  pg::PoolOptions pool;
};

// Brings the database at `conninfo` to schema `target` (<= kPostgresSchemaVersion) and returns
// the version it had before (0: empty). Refuses a database of a newer schema than this vigil.
Result<int> migrate_postgres_registry(const std::string& conninfo, int target = kPostgresSchemaVersion);

Result<std::unique_ptr<Registry>> open_postgres_registry(const std::string& conninfo,
                                                         const PostgresRegistryOptions& options = {});

}  // namespace vigil::attest
