#pragma once
// Deleting what the store no longer keeps (docs/store.md, "Retention"): rows older than the
// age limit, then, while the file is larger than the size limit, the oldest events and after
// them the oldest alerts, decisions and measurements. Deletes go in small transactions so the
// writer's batches and readers are never held up for long.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "store/sqlite_handle.h"

namespace vigil::store {

struct RetentionLimits {
  std::int64_t cutoff_ns = 0;  // rows with time_ns below this go
  std::uint64_t max_size_bytes = 0;
};

// Rows deleted. Runs on the writer's connection (it writes).
Result<std::uint64_t> enforce_retention(Database& db, const RetentionLimits& limits);

// Bytes of the database file plus its WAL, as the file system reports them.
std::uint64_t store_file_bytes(const std::string& path);

}  // namespace vigil::store
