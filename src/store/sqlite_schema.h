#pragma once
// The store's tables and the checks that a file is one of ours (docs/store.md, "Schema").
#include <cstdint>

#include "common/error.h"
#include "store/sqlite_handle.h"

namespace vigil::store {

// PRAGMA application_id of every vigil store: "VIGL" in ASCII.
inline constexpr std::int32_t kApplicationId = 0x5649474C;
// PRAGMA user_version: the schema this code writes and reads.
inline constexpr std::int32_t kSchemaVersion = 1;

// Creates the schema in an empty database, or checks that an existing one is a vigil store of
// a schema this code knows; sets the connection's pragmas (WAL, synchronous) either way.
// A foreign or damaged file fails with a message naming it and is left untouched.
Result<void> prepare_schema(Database& db);

}  // namespace vigil::store
