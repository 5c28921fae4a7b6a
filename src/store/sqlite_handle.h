#pragma once
// RAII owners of sqlite3* and sqlite3_stmt*, and the few calls the store makes through them.
// Every failure becomes a Result naming the database file, so a message read in a log says
// which store it came from.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace vigil::store {

class Statement;

class Database {
 public:
  // flags: SQLITE_OPEN_READONLY or SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE.
  static Result<Database> open(const std::string& path, int flags);

  Database() = default;
  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;

  sqlite3* get() const { return db_.get(); }
  const std::string& path() const { return path_; }

  // Runs one or more statements without results.
  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql, bool persistent = false);
  // A statement prepared once per connection and reset before it is handed out again.
  Result<Statement*> cached(const std::string& sql);
  // The single integer a pragma or an aggregate returns.
  Result<std::int64_t> query_int(std::string_view sql);

  // "<path>: <what>: <sqlite message>" for the connection's last error.
  std::unexpected<Error> error(std::string_view what) const;

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::string path_;
  // unique_ptr keeps Statement* stable while the map rehashes; declared after db_ so the
  // statements are finalized before the connection closes.
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}

  // Parameters are 1-based, as in SQLite. Bound text is not copied: it must stay alive until
  // the statement is reset.
  Result<void> bind(int index, std::int64_t value);
  Result<void> bind(int index, std::string_view text);
  // Bytes as a BLOB (an empty span binds a zero-length BLOB, not NULL); not copied either.
  Result<void> bind_blob(int index, std::span<const std::uint8_t> bytes);
  // Steps once: true while a row is available, false when done.
  Result<bool> step();
  // Steps until done (INSERT, UPDATE, DELETE), then resets.
  Result<void> run();
  // Ends the statement's read of the database (a reader's snapshot holds back checkpoints)
  // and forgets the bindings.
  void reset();

  std::int64_t column_int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  std::string column_text(int column) const;
  std::vector<std::uint8_t> column_blob(int column) const;
  bool column_is_null(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }
  // Rows changed by the last run().
  std::int64_t changes() const { return sqlite3_changes64(sqlite3_db_handle(stmt_.get())); }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  Result<void> check(int rc, std::string_view what);

  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
};

}  // namespace vigil::store
