#pragma once
// The read side of store.h as SQL over one (read-only) connection.
#include <optional>
#include <vector>

#include "common/error.h"
#include "store/sqlite_handle.h"
#include "store/store.h"

namespace vigil::store {

Result<Page<AlertRecord>> query_alerts(Database& db, const AlertQuery& query);
Result<std::optional<AlertRecord>> query_alert(Database& db, std::int64_t id);
Result<Page<EventRecord>> query_events(Database& db, const EventQuery& query);
Result<Page<MeasurementRecord>> query_measurements(Database& db, const MeasurementQuery& query);
Result<Page<DecisionRecord>> query_decisions(Database& db, const DecisionQuery& query);
Result<std::vector<ActivityCount>> query_activity(Database& db, const ActivityQuery& query);
Result<std::vector<RuleHits>> query_rule_hits(Database& db);
Result<std::vector<ContainerSummary>> query_containers(Database& db);

// LIKE pattern matching `text` anywhere, with % _ and the escape character itself escaped
// (for "LIKE ? ESCAPE '\'").
std::string like_contains_pattern(std::string_view text);
// The smallest string greater than every string starting with prefix (byte order), or
// nullopt when there is none (prefix empty or all 0xff bytes).
std::optional<std::string> prefix_upper_bound(std::string_view prefix);

}  // namespace vigil::store
