#pragma once
// A bounded pool of libpq connections to one PostgreSQL database (the verifier's registry,
// docs/fleet.md). Its size is a setting, never derived from the number of cores: a fleet of
// verifiers must fit the server's max_connections however many cores each one has. A caller
// waits for a free connection up to acquire_timeout. A connection the server dropped (restart,
// failover, idle kill) is reopened and the statement retried until reconnect_timeout; every
// statement the registry sends is idempotent (an upsert or an absolute update), so a retry after
// a lost reply writes the same row again rather than a second one.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil::attest::pg {

// A statement parameter: text, or bytes sent in binary (bytea). Absent: SQL NULL.
struct Param {
  std::string bytes;
  bool binary = false;
  bool null = false;
  static Param text(std::string_view value) { return {std::string(value), false, false}; }
  static Param integer(int64_t value) { return {std::to_string(value), false, false}; }
  static Param blob(std::span<const uint8_t> value) {
    return {std::string(reinterpret_cast<const char*>(value.data()), value.size()), true, false};
  }
};

// A result set (text format); columns by index.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int count() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const;
  Result<int64_t> integer(int row, int column) const;
  Result<std::vector<uint8_t>> blob(int row, int column) const;  // a bytea column
  int64_t affected() const;                                         // rows an INSERT/UPDATE/DELETE touched

 private:
  std::shared_ptr<PGresult> result_;
};

struct PoolOptions {
  size_t max_connections = 4;
  std::chrono::milliseconds acquire_timeout{10000};
  std::chrono::milliseconds reconnect_timeout{30000};
  std::chrono::milliseconds statement_timeout{10000};  // server side (SET statement_timeout)
};

class Pool {
 public:
  // conninfo: a libpq URI (postgresql://...) or key=value string. Opens one connection now, so
  // a wrong address or password fails at start rather than at the first round.
  static Result<std::unique_ptr<Pool>> open(const std::string& conninfo, PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // One statement in its own implicit transaction. A SQL error (constraint, syntax) is returned
  // at once with its SQLSTATE in `sqlstate`; a lost connection is reopened and the statement
  // sent again until reconnect_timeout.
  Result<Rows> exec(std::string_view sql, const std::vector<Param>& params = {}, std::string* sqlstate = nullptr);
  // Runs `work` on one connection of the pool, not retried (schema migrations: their own
  // transaction and advisory lock).
  Result<void> with_connection(const std::function<Result<void>(PGconn*)>& work);

  size_t max_connections() const { return options_.max_connections; }
  size_t open_connections() const;  // at most max_connections
  uint64_t reconnects() const;      // connections reopened after the server dropped them

 private:
  Pool(std::string conninfo, PoolOptions options) : conninfo_(std::move(conninfo)), options_(options) {}
  Result<PGconn*> acquire();
  void release(PGconn* connection);
  Result<PGconn*> connect_one();

  std::string conninfo_;
  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<PGconn*> idle_;
  size_t open_ = 0;
  uint64_t reconnects_ = 0;
};

// "postgresql://..." or "postgres://...": the registry is in PostgreSQL.
bool is_postgres_url(std::string_view database);
// The URL with any password replaced by "***" (for logs and messages).
std::string redact_url(std::string_view url);

}  // namespace vigil::attest::pg
