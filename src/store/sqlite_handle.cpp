#include "store/sqlite_handle.h"

namespace vigil::store {
namespace {

// Each connection waits this long for another connection's write lock (the retention run of
// a second process, a checkpoint) before a statement fails with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

std::string database_name(sqlite3* db) {
  const char* name = db ? sqlite3_db_filename(db, "main") : nullptr;
  return name && *name ? name : "sqlite";
}

}  // namespace

Result<Database> Database::open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db;
  db.db_.reset(raw);  // sqlite3_open_v2 may return a handle even when it fails
  db.path_ = path;
  if (rc != SQLITE_OK) {
    return fail(path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  return db;
}

std::unexpected<Error> Database::error(std::string_view what) const {
  return fail(path_ + ": " + std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_.get()) : "not open"));
}

Result<void> Database::exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string reason = message ? message : sqlite3_errmsg(db_.get());
    sqlite3_free(message);
    return fail(path_ + ": " + reason + " (in: " + text.substr(0, 60) + ")");
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql, bool persistent) {
  sqlite3_stmt* stmt = nullptr;
  const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;
  if (sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), flags, &stmt, nullptr) != SQLITE_OK) {
    return error("cannot prepare \"" + std::string(sql.substr(0, 60)) + "\"");
  }
  return Statement(stmt);
}

Result<Statement*> Database::cached(const std::string& sql) {
  // Filters combine into a bounded but not tiny set of texts; a full cache starts over
  // rather than tracking use.
  constexpr std::size_t kMaxCached = 64;
  if (auto found = cache_.find(sql); found != cache_.end()) {
    found->second->reset();
    return found->second.get();
  }
  if (cache_.size() >= kMaxCached) cache_.clear();
  auto stmt = prepare(sql, true);
  if (!stmt) return std::unexpected(stmt.error());
  auto owned = std::make_unique<Statement>(std::move(*stmt));
  Statement* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return raw;
}

Result<std::int64_t> Database::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return error("no result from \"" + std::string(sql) + "\"");
  return stmt->column_int(0);
}

Result<void> Statement::check(int rc, std::string_view what) {
  if (rc == SQLITE_OK) return {};
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  return fail(database_name(db) + ": " + std::string(what) + ": " + sqlite3_errmsg(db));
}

Result<void> Statement::bind(int index, std::int64_t value) {
  return check(sqlite3_bind_int64(stmt_.get(), index, value), "bind");
}

Result<void> Statement::bind(int index, std::string_view text) {
  // SQLITE_STATIC: the writer binds whole batches of records; copying every JSON text once
  // more would cost more than the insert itself.
  // A null data() would bind SQL NULL, which the NOT NULL columns refuse.
  const char* data = text.data() ? text.data() : "";
  return check(sqlite3_bind_text64(stmt_.get(), index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8),
               "bind");
}

Result<void> Statement::bind_blob(int index, std::span<const std::uint8_t> bytes) {
  // sqlite3_bind_blob64 with a null pointer binds NULL; any non-null pointer works for size 0.
  static const std::uint8_t kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  return check(sqlite3_bind_blob64(stmt_.get(), index, data, bytes.size(), SQLITE_STATIC), "bind");
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  std::string message = database_name(db) + ": " + sqlite3_errmsg(db);
  sqlite3_reset(stmt_.get());
  return fail(std::move(message));
}

Result<void> Statement::run() {
  Result<bool> row = true;
  while (row && *row) row = step();
  reset();
  if (!row) return std::unexpected(row.error());
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::string Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  if (!text) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

std::vector<std::uint8_t> Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_.get(), column));
  if (!data) return {};
  return std::vector<std::uint8_t>(data, data + sqlite3_column_bytes(stmt_.get(), column));
}

}  // namespace vigil::store
