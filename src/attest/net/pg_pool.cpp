#include "attest/net/pg_pool.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <thread>

namespace vigil::attest::pg {
namespace {

using Clock = std::chrono::steady_clock;

// SQLSTATEs after which the connection is gone or not yet usable: class 08 (connection
// exception), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now. An error
// without a SQLSTATE is libpq's own ("server closed the connection unexpectedly"): the server
// never judged the statement.
bool connection_lost(PGconn* connection, const char* sqlstate) {
  if (PQstatus(connection) != CONNECTION_OK) return true;
  if (sqlstate == nullptr || *sqlstate == 0) return true;
  const std::string_view state(sqlstate);
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
}

std::string one_line(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

std::string Rows::text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

Result<int64_t> Rows::integer(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  const char* end = value + PQgetlength(result_.get(), row, column);
  int64_t number = 0;
  auto [stop, error] = std::from_chars(value, end, number);
  if (error != std::errc() || stop != end) return fail("registry: not an integer in column " + std::to_string(column));
  return number;
}

Result<std::vector<uint8_t>> Rows::blob(int row, int column) const {
  size_t size = 0;
  unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)),
                                         &size);
  if (bytes == nullptr) return fail("registry: cannot decode a bytea column");
  std::vector<uint8_t> out(bytes, bytes + size);
  PQfreemem(bytes);
  return out;
}

int64_t Rows::affected() const {
  const char* count = PQcmdTuples(result_.get());
  return count != nullptr && *count != 0 ? std::strtoll(count, nullptr, 10) : 0;
}

bool is_postgres_url(std::string_view database) {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

std::string redact_url(std::string_view url) {
  // scheme://user:password@host...: everything between the first ':' after the scheme and '@'.
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t at = url.find('@', scheme + 3);
  const size_t colon = url.find(':', scheme + 3);
  std::string out(url);
  if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
    out = std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
  }
  // A password=... query parameter too.
  const size_t password = out.find("password=");
  if (password != std::string::npos) {
    const size_t end = out.find('&', password);
    out = out.substr(0, password + 9) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

Result<std::unique_ptr<Pool>> Pool::open(const std::string& conninfo, PoolOptions options) {
  if (options.max_connections == 0) return fail("registry: the connection pool needs at least one connection");
  std::unique_ptr<Pool> pool(new Pool(conninfo, options));
  auto first = pool->connect_one();
  if (!first) return std::unexpected(first.error());
  std::lock_guard lock(pool->mutex_);
  pool->open_ = 1;
  pool->idle_.push_back(*first);
  return pool;
}

Pool::~Pool() {
  std::lock_guard lock(mutex_);
  for (PGconn* connection : idle_) PQfinish(connection);
}

Result<PGconn*> Pool::connect_one() {
  const std::string timeout_ms = std::to_string(options_.statement_timeout.count());
  const char* keywords[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {conninfo_.c_str(), "5", "vigil-verifier", nullptr};
  PGconn* connection = PQconnectdbParams(keywords, values, 1);
  if (connection == nullptr) return fail("registry: out of memory opening a PostgreSQL connection");
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string message = "registry: cannot connect to " + redact_url(conninfo_) + ": " + one_line(PQerrorMessage(connection));
    PQfinish(connection);
    return fail(message);
  }
  // NOTICE/WARNING messages (e.g. "relation already exists, skipping") are not for stderr.
  PQsetNoticeProcessor(connection, [](void*, const char*) {}, nullptr);
  // Bounded statements; timestamps and text as this code reads them whatever the server's defaults.
  const std::string setup = "SET statement_timeout = " + timeout_ms + "; SET client_encoding = 'UTF8'";
  PGresult* result = PQexec(connection, setup.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  std::string message = ok ? "" : one_line(PQresultErrorMessage(result));
  PQclear(result);
  if (!ok) {
    PQfinish(connection);
    return fail("registry: cannot set up a PostgreSQL connection: " + message);
  }
  return connection;
}

Result<PGconn*> Pool::acquire() {
  std::unique_lock lock(mutex_);
  const auto deadline = Clock::now() + options_.acquire_timeout;
  for (;;) {
    if (!idle_.empty()) {
      PGconn* connection = idle_.back();
      idle_.pop_back();
      return connection;
    }
    if (open_ < options_.max_connections) {
      ++open_;  // reserved while connecting, so the pool never exceeds its size
      lock.unlock();
      auto connection = connect_one();
      if (!connection) {
        lock.lock();
        --open_;
        freed_.notify_one();
      }
      return connection;
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_connections) {
      return fail("registry: no free database connection within " + std::to_string(options_.acquire_timeout.count()) +
                  " ms (pool of " + std::to_string(options_.max_connections) + ")");
    }
  }
}

void Pool::release(PGconn* connection) {
  std::lock_guard lock(mutex_);
  if (connection != nullptr && PQstatus(connection) == CONNECTION_OK &&
      PQtransactionStatus(connection) == PQTRANS_IDLE) {
    idle_.push_back(connection);
  } else {
    if (connection != nullptr) PQfinish(connection);
    --open_;
  }
  freed_.notify_one();
}

Result<Rows> Pool::exec(std::string_view sql, const std::vector<Param>& params, std::string* sqlstate) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const Param& param : params) {
    values.push_back(param.null ? nullptr : param.bytes.data());
    lengths.push_back(static_cast<int>(param.bytes.size()));
    formats.push_back(param.binary ? 1 : 0);
  }
  const std::string statement(sql);
  const auto deadline = Clock::now() + options_.reconnect_timeout;
  auto backoff = std::chrono::milliseconds(50);
  std::string last_problem;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (Clock::now() >= deadline) {
        return fail("registry: the database stayed unreachable for " +
                    std::to_string(options_.reconnect_timeout.count()) + " ms: " + last_problem);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
    auto connection = acquire();
    if (!connection) {
      // A full pool is an answer (busy); a failed connect is the server being away: retry.
      if (connection.error().message.find("no free database connection") != std::string::npos) {
        return std::unexpected(connection.error());
      }
      last_problem = connection.error().message;
      continue;
    }
    PGresult* raw = PQexecParams(*connection, statement.c_str(), static_cast<int>(params.size()), nullptr,
                                 values.data(), lengths.data(), formats.data(), 0);
    Rows rows(raw);
    const ExecStatusType status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      release(*connection);
      return rows;
    }
    const char* state = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    const std::string message = one_line(raw != nullptr ? PQresultErrorMessage(raw) : PQerrorMessage(*connection));
    if (connection_lost(*connection, state)) {
      PQfinish(*connection);
      {
        std::lock_guard lock(mutex_);
        --open_;
        ++reconnects_;
        freed_.notify_one();
      }
      last_problem = message;
      continue;
    }
    release(*connection);
    if (sqlstate != nullptr) *sqlstate = state != nullptr ? state : "";
    return fail("registry: " + message);
  }
}

Result<void> Pool::with_connection(const std::function<Result<void>(PGconn*)>& work) {
  auto connection = acquire();
  if (!connection) return std::unexpected(connection.error());
  auto done = work(*connection);
  if (PQtransactionStatus(*connection) != PQTRANS_IDLE) {
    PQclear(PQexec(*connection, "ROLLBACK"));
  }
  release(*connection);
  return done;
}

size_t Pool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

uint64_t Pool::reconnects() const {
  std::lock_guard lock(mutex_);
  return reconnects_;
}

}  // namespace vigil::attest::pg
