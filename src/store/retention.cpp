#include "store/retention.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

namespace vigil::store {
namespace {

// Rows per delete transaction: small enough that a batch commit waits milliseconds, not
// seconds, for the write lock.
constexpr std::int64_t kChunkRows = 5000;
// The first chunk deleted for size, per table: it measures how many bytes a row frees.
constexpr std::int64_t kFirstSizeChunkRows = 100;

// Tables with a time_ns column and an index on it.
constexpr std::array<std::string_view, 4> kTimedTables = {"events", "alerts", "decisions", "measurements"};
// Beyond the size limit events go first; then these, oldest row first across them.
constexpr std::array<std::string_view, 3> kKeptLongerTables = {"alerts", "decisions", "measurements"};

std::uint64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Deletes up to `rows` rows of table chosen by `which` (a WHERE/ORDER BY tail, at most one
// parameter); how many went.
Result<std::int64_t> delete_chunk(Database& db, std::string_view table, std::int64_t rows, std::string_view which,
                                  std::optional<std::int64_t> param = std::nullopt) {
  const std::string name(table);
  auto stmt = db.cached("DELETE FROM " + name + " WHERE id IN (SELECT id FROM " + name + " " + std::string(which) +
                        " LIMIT " + std::to_string(rows) + ")");
  if (!stmt) return std::unexpected(stmt.error());
  if (param) {
    if (auto bound = (*stmt)->bind(1, *param); !bound) return std::unexpected(bound.error());
  }
  if (auto done = (*stmt)->run(); !done) return std::unexpected(done.error());
  return (*stmt)->changes();
}

Result<std::uint64_t> delete_older(Database& db, std::int64_t cutoff_ns) {
  std::uint64_t deleted = 0;
  for (std::string_view table : kTimedTables) {
    for (;;) {
      auto chunk = delete_chunk(db, table, kChunkRows, "WHERE time_ns < ?", cutoff_ns);
      if (!chunk) return std::unexpected(chunk.error());
      deleted += static_cast<std::uint64_t>(*chunk);
      if (*chunk < kChunkRows) break;
    }
  }
  // Buckets are small and few per container: one statement.
  auto stmt = db.cached("DELETE FROM activity WHERE bucket_start_s < ?");
  if (!stmt) return std::unexpected(stmt.error());
  if (auto bound = (*stmt)->bind(1, cutoff_ns / 1'000'000'000); !bound) return std::unexpected(bound.error());
  if (auto done = (*stmt)->run(); !done) return std::unexpected(done.error());
  return deleted + static_cast<std::uint64_t>((*stmt)->changes());
}

// Oldest time_ns in table; nullopt when it is empty.
Result<std::optional<std::int64_t>> oldest_time(Database& db, std::string_view table) {
  auto stmt = db.cached("SELECT min(time_ns) FROM " + std::string(table));
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->step();
  std::optional<std::int64_t> oldest;
  if (row && *row && !(*stmt)->column_is_null(0)) oldest = (*stmt)->column_int(0);
  (*stmt)->reset();
  if (!row) return std::unexpected(row.error());
  return oldest;
}

// The table the next size-driven chunk comes from: events while any are left, then whichever
// of kKeptLongerTables holds the oldest row. Empty when every one is empty.
Result<std::string_view> next_victim(Database& db) {
  auto events = oldest_time(db, "events");
  if (!events) return std::unexpected(events.error());
  if (*events) return std::string_view("events");
  std::string_view victim;
  std::optional<std::int64_t> victim_ns;
  for (std::string_view table : kKeptLongerTables) {
    auto oldest = oldest_time(db, table);
    if (!oldest) return std::unexpected(oldest.error());
    if (*oldest && (!victim_ns || **oldest < *victim_ns)) {
      victim = table;
      victim_ns = *oldest;
    }
  }
  return victim;
}

// Bytes the database's live pages take (freed pages excluded): what deleting rows reduces
// at once, before the file itself shrinks.
Result<std::uint64_t> used_bytes(Database& db) {
  auto pages = db.query_int("PRAGMA page_count");
  if (!pages) return std::unexpected(pages.error());
  auto free_pages = db.query_int("PRAGMA freelist_count");
  if (!free_pages) return std::unexpected(free_pages.error());
  auto page_size = db.query_int("PRAGMA page_size");
  if (!page_size) return std::unexpected(page_size.error());
  return static_cast<std::uint64_t>((*pages - *free_pages) * *page_size);
}

Result<std::uint64_t> delete_beyond_size(Database& db, std::uint64_t max_size_bytes) {
  // Down to 90 %, so the next few batches do not start it again at once.
  const std::uint64_t target = max_size_bytes / 10 * 9;
  std::uint64_t deleted = 0;
  auto used = used_bytes(db);
  if (!used) return std::unexpected(used.error());
  // Rows differ in size between tables and stores: each table's first chunk is small and
  // measures the bytes a row frees, the next ones delete about what is still too much.
  std::string_view measured_table;
  double bytes_per_row = 0;
  while (*used > target) {
    auto victim = next_victim(db);
    if (!victim) return std::unexpected(victim.error());
    if (victim->empty()) return deleted;  // only counters and names left
    if (*victim != measured_table) {
      measured_table = *victim;
      bytes_per_row = 0;
    }
    std::int64_t rows = kFirstSizeChunkRows;
    if (bytes_per_row > 0) {
      rows = std::clamp(static_cast<std::int64_t>(static_cast<double>(*used - target) / bytes_per_row) + 1,
                        std::int64_t{1}, kChunkRows);
    }
    auto chunk = delete_chunk(db, *victim, rows, "ORDER BY time_ns");
    if (!chunk) return std::unexpected(chunk.error());
    deleted += static_cast<std::uint64_t>(*chunk);
    auto now_used = used_bytes(db);
    if (!now_used) return std::unexpected(now_used.error());
    // Pages free only when emptied: a chunk may free nothing; keep the last estimate then.
    if (*chunk > 0 && *now_used < *used) {
      bytes_per_row = static_cast<double>(*used - *now_used) / static_cast<double>(*chunk);
    }
    used = now_used;
  }
  return deleted;
}

// Gives freed pages back to the file system: incremental_vacuum moves them to the end and
// truncates (through the WAL), the checkpoint copies that into the database file and
// empties the WAL.
Result<void> shrink_file(Database& db) {
  if (auto vacuumed = db.exec("PRAGMA incremental_vacuum"); !vacuumed) return vacuumed;
  // A reader in the middle of a query can keep the checkpoint from finishing; the next run
  // finishes it, so a busy result is not an error.
  (void)db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return {};
}

}  // namespace

std::uint64_t store_file_bytes(const std::string& path) { return file_size(path) + file_size(path + "-wal"); }

Result<std::uint64_t> enforce_retention(Database& db, const RetentionLimits& limits) {
  auto deleted = delete_older(db, limits.cutoff_ns);
  if (!deleted) return deleted;
  const bool too_big = limits.max_size_bytes > 0 && store_file_bytes(db.path()) > limits.max_size_bytes;
  if (too_big) {
    auto more = delete_beyond_size(db, limits.max_size_bytes);
    if (!more) return more;
    *deleted += *more;
  }
  if (*deleted > 0 || too_big) {
    if (auto shrunk = shrink_file(db); !shrunk) return std::unexpected(shrunk.error());
  }
  return deleted;
}

}  // namespace vigil::store
