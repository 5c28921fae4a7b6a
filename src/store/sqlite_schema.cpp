#include "store/sqlite_schema.h"

#include <cstdio>

namespace vigil::store {
namespace {

// Indexes serve the queries of store.h: keyset pages walk (filter column, id) backwards, so a
// filtered page newest first is an index range scan; time_ns indexes serve time ranges and
// retention's "oldest first". The container indexes carry time_ns so a container's time
// range and containers()' first/last seen are answered from the index alone.
constexpr const char* kSchema = R"sql(
CREATE TABLE alerts(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  rule TEXT NOT NULL,
  priority INTEGER NOT NULL,
  output TEXT NOT NULL,
  container_id TEXT NOT NULL,
  container_name TEXT NOT NULL,
  pid INTEGER NOT NULL,
  action TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX alerts_time ON alerts(time_ns);
CREATE INDEX alerts_rule ON alerts(rule, id);
CREATE INDEX alerts_priority ON alerts(priority, id);
CREATE INDEX alerts_container ON alerts(container_id, id, time_ns);

CREATE TABLE events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  type TEXT NOT NULL,
  container_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  process TEXT NOT NULL,
  summary TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX events_time ON events(time_ns);
CREATE INDEX events_type ON events(type, id);
CREATE INDEX events_container ON events(container_id, id, time_ns);
CREATE INDEX events_pid ON events(pid, id);

CREATE TABLE measurements(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  list_index INTEGER NOT NULL,
  time_ns INTEGER NOT NULL,
  pcr INTEGER NOT NULL,
  template_name TEXT NOT NULL,
  template_hash TEXT NOT NULL,
  file_hash TEXT NOT NULL,
  path TEXT NOT NULL,
  verdict TEXT NOT NULL);
CREATE INDEX measurements_time ON measurements(time_ns);
CREATE INDEX measurements_verdict ON measurements(verdict, id);
CREATE INDEX measurements_path ON measurements(path);

CREATE TABLE decisions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  verdict TEXT NOT NULL,
  path TEXT NOT NULL,
  pid INTEGER NOT NULL,
  reason TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX decisions_time ON decisions(time_ns);
CREATE INDEX decisions_verdict ON decisions(verdict, id);

CREATE TABLE activity(
  container_id TEXT NOT NULL,
  bucket_start_s INTEGER NOT NULL,
  type TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY(container_id, bucket_start_s, type)) WITHOUT ROWID;
CREATE INDEX activity_bucket ON activity(bucket_start_s);

CREATE TABLE rule_hits(
  rule TEXT PRIMARY KEY NOT NULL,
  hits INTEGER NOT NULL,
  last_hit_ns INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE container_names(
  container_id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL) WITHOUT ROWID;
)sql";

std::string hex(std::int64_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(static_cast<std::uint32_t>(value)));
  return text;
}

// Reads the header fields; the first read of a file that is not SQLite fails here.
struct Header {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t objects = 0;  // rows of sqlite_schema: 0 in a new or empty file
};

Result<Header> read_header(Database& db) {
  Header header;
  auto application_id = db.query_int("PRAGMA application_id");
  if (!application_id) return std::unexpected(application_id.error());
  header.application_id = *application_id;
  auto user_version = db.query_int("PRAGMA user_version");
  if (!user_version) return std::unexpected(user_version.error());
  header.user_version = *user_version;
  auto objects = db.query_int("SELECT count(*) FROM sqlite_schema");
  if (!objects) return std::unexpected(objects.error());
  header.objects = *objects;
  return header;
}

Result<void> check_header(const Database& db, const Header& header) {
  if (header.application_id != kApplicationId) {
    return fail(db.path() + ": not a vigil store (SQLite application_id " + hex(header.application_id) +
                ", a vigil store has " + hex(kApplicationId) + ")");
  }
  if (header.user_version != kSchemaVersion) {
    return fail(db.path() + ": vigil store schema version " + std::to_string(header.user_version) +
                ", this vigil reads version " + std::to_string(kSchemaVersion));
  }
  return {};
}

Result<void> create_schema(Database& db) {
  // auto_vacuum must be chosen before the first table exists; INCREMENTAL lets retention give
  // freed pages back to the file system without rewriting the whole file.
  if (auto done = db.exec("PRAGMA auto_vacuum=INCREMENTAL"); !done) return done;
  if (auto done = db.exec("BEGIN IMMEDIATE"); !done) return done;
  // Another process may have created it between our look and our lock.
  auto header = read_header(db);
  Result<void> result;
  if (!header) {
    result = std::unexpected(header.error());
  } else if (header->objects == 0) {
    result = db.exec(kSchema);
    if (result) {
      result = db.exec("PRAGMA application_id=" + std::to_string(kApplicationId) +
                       "; PRAGMA user_version=" + std::to_string(kSchemaVersion));
    }
  } else {
    result = check_header(db, *header);
  }
  if (!result) {
    (void)db.exec("ROLLBACK");
    return result;
  }
  return db.exec("COMMIT");
}

}  // namespace

Result<void> prepare_schema(Database& db) {
  auto header = read_header(db);
  if (!header) {
    return fail(db.path() + ": not a vigil store or damaged (" + header.error().message + ")");
  }
  // A file with tables but no application_id belongs to someone else: never touch it.
  if (header->objects == 0 && header->application_id == 0 && header->user_version == 0) {
    if (auto created = create_schema(db); !created) return created;
  } else if (auto checked = check_header(db, *header); !checked) {
    return checked;
  }
  auto mode = db.prepare("PRAGMA journal_mode=WAL");
  if (!mode) return std::unexpected(mode.error());
  auto row = mode->step();
  const std::string journal_mode = row && *row ? mode->column_text(0) : "";
  mode->reset();
  if (journal_mode != "wal") {
    return fail(db.path() + ": cannot switch to WAL mode" + (row ? "" : ": " + row.error().message));
  }
  // NORMAL in WAL mode: a commit survives the process being killed; only power loss or a
  // kernel crash can lose the last transactions (never corrupt the file).
  return db.exec("PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864");
}

}  // namespace vigil::store
