#include "store/sqlite_queries.h"

#include <algorithm>
#include <variant>

namespace vigil::store {
namespace {

using Param = std::variant<std::int64_t, std::string>;

// A WHERE clause and its parameters, built from whichever filters a query sets. Only
// placeholders go into the SQL text, so user input never becomes SQL.
class Filter {
 public:
  void add(std::string condition, std::vector<Param> params = {}) {
    conditions_.push_back(std::move(condition));
    for (auto& param : params) params_.push_back(std::move(param));
  }
  void time_range(const std::optional<std::int64_t>& since_ns, const std::optional<std::int64_t>& until_ns) {
    if (since_ns) add("time_ns >= ?", {*since_ns});
    if (until_ns) add("time_ns < ?", {*until_ns});
  }
  void any_of(const char* column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::string condition = std::string(column) + " IN (";
    std::vector<Param> params;
    for (std::size_t i = 0; i < values.size(); ++i) {
      condition += i ? ",?" : "?";
      params.emplace_back(values[i]);
    }
    add(condition + ")", std::move(params));
  }
  void param(Param value) { params_.push_back(std::move(value)); }

  std::string where() const {
    std::string text;
    for (std::size_t i = 0; i < conditions_.size(); ++i) text += (i ? " AND " : " WHERE ") + conditions_[i];
    return text;
  }
  // The statement keeps pointers to the texts: this Filter must outlive the stepping.
  Result<void> bind(Statement& stmt) const {
    int index = 1;
    for (const Param& value : params_) {
      auto bound = std::visit([&](const auto& v) { return stmt.bind(index, v); }, value);
      if (!bound) return bound;
      ++index;
    }
    return {};
  }

 private:
  std::vector<std::string> conditions_;
  std::vector<Param> params_;
};

// Resets the statement however the read ends: an unfinished statement would keep its read
// snapshot open and hold back WAL checkpoints.
struct ResetOnExit {
  Statement* stmt;
  ~ResetOnExit() { stmt->reset(); }
};

template <class T, class ReadRow>
Result<std::vector<T>> read_rows(Database& db, const std::string& sql, const Filter& filter, ReadRow read_row) {
  auto stmt = db.cached(sql);
  if (!stmt) return std::unexpected(stmt.error());
  ResetOnExit reset{*stmt};
  if (auto bound = filter.bind(**stmt); !bound) return std::unexpected(bound.error());
  std::vector<T> rows;
  for (;;) {
    auto row = (*stmt)->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    rows.push_back(read_row(**stmt));
  }
  return rows;
}

// Newest first by id; one row more than the page shows whether another page follows.
template <class T, class ReadRow>
Result<Page<T>> read_page(Database& db, const std::string& select_from, Filter filter, const Paging& paging,
                          ReadRow read_row) {
  const int limit = std::clamp(paging.limit, 1, 1000);
  if (paging.before_id) filter.add("id < ?", {*paging.before_id});
  filter.param(std::int64_t{limit} + 1);
  auto rows = read_rows<T>(db, select_from + filter.where() + " ORDER BY id DESC LIMIT ?", filter, read_row);
  if (!rows) return std::unexpected(rows.error());
  Page<T> page;
  page.items = std::move(*rows);
  if (page.items.size() > static_cast<std::size_t>(limit)) {
    page.items.pop_back();
    page.next_before = page.items.back().id;
  }
  return page;
}

constexpr const char* kAlertColumns =
    "SELECT id, time_ns, rule, priority, output, container_id, container_name, pid, action, json FROM alerts";

AlertRecord read_alert(const Statement& row) {
  AlertRecord alert;
  alert.id = row.column_int(0);
  alert.time_ns = row.column_int(1);
  alert.rule = row.column_text(2);
  alert.priority = static_cast<int>(row.column_int(3));
  alert.output = row.column_text(4);
  alert.container_id = row.column_text(5);
  alert.container_name = row.column_text(6);
  alert.pid = row.column_int(7);
  alert.action = row.column_text(8);
  alert.json = row.column_text(9);
  return alert;
}

EventRecord read_event(const Statement& row) {
  EventRecord event;
  event.id = row.column_int(0);
  event.time_ns = row.column_int(1);
  event.type = row.column_text(2);
  event.container_id = row.column_text(3);
  event.pid = row.column_int(4);
  event.process = row.column_text(5);
  event.summary = row.column_text(6);
  event.json = row.column_text(7);
  event.container_name = row.column_text(8);
  return event;
}

MeasurementRecord read_measurement(const Statement& row) {
  MeasurementRecord measurement;
  measurement.id = row.column_int(0);
  measurement.index = row.column_int(1);
  measurement.time_ns = row.column_int(2);
  measurement.pcr = static_cast<int>(row.column_int(3));
  measurement.template_name = row.column_text(4);
  measurement.template_hash = row.column_text(5);
  measurement.file_hash = row.column_text(6);
  measurement.path = row.column_text(7);
  measurement.verdict = row.column_text(8);
  return measurement;
}

DecisionRecord read_decision(const Statement& row) {
  DecisionRecord decision;
  decision.id = row.column_int(0);
  decision.time_ns = row.column_int(1);
  decision.verdict = row.column_text(2);
  decision.path = row.column_text(3);
  decision.pid = row.column_int(4);
  decision.reason = row.column_text(5);
  decision.json = row.column_text(6);
  return decision;
}

}  // namespace

std::string like_contains_pattern(std::string_view text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '%';
  return pattern;
}

std::optional<std::string> prefix_upper_bound(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) bound.pop_back();
  if (bound.empty()) return std::nullopt;
  bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
  return bound;
}

Result<Page<AlertRecord>> query_alerts(Database& db, const AlertQuery& query) {
  Filter filter;
  filter.time_range(query.since_ns, query.until_ns);
  filter.any_of("rule", query.rules);
  if (query.max_priority) filter.add("priority <= ?", {std::int64_t{*query.max_priority}});
  if (query.container_id) filter.add("container_id = ?", {*query.container_id});
  return read_page<AlertRecord>(db, kAlertColumns, std::move(filter), query.paging, read_alert);
}

Result<std::optional<AlertRecord>> query_alert(Database& db, std::int64_t id) {
  Filter filter;
  filter.add("id = ?", {id});
  auto rows = read_rows<AlertRecord>(db, kAlertColumns + filter.where(), filter, read_alert);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<AlertRecord>();
  return std::optional<AlertRecord>(std::move(rows->front()));
}

Result<Page<EventRecord>> query_events(Database& db, const EventQuery& query) {
  Filter filter;
  filter.time_range(query.since_ns, query.until_ns);
  filter.any_of("type", query.types);
  if (query.container_id) filter.add("container_id = ?", {*query.container_id});
  if (query.pid) filter.add("pid = ?", {*query.pid});
  if (!query.text.empty()) filter.add("summary LIKE ? ESCAPE '\\'", {like_contains_pattern(query.text)});
  for (const auto& text : query.all_texts)
    if (!text.empty()) filter.add("summary LIKE ? ESCAPE '\\'", {like_contains_pattern(text)});
  // The name is looked up when read (a primary-key probe per row), so a name learned after the
  // event was stored shows too, and no row carries a copy of it.
  return read_page<EventRecord>(
      db,
      "SELECT id, time_ns, type, container_id, pid, process, summary, json, "
      "coalesce((SELECT name FROM container_names n WHERE n.container_id = events.container_id), '') FROM events",
      std::move(filter), query.paging, read_event);
}

Result<Page<MeasurementRecord>> query_measurements(Database& db, const MeasurementQuery& query) {
  Filter filter;
  if (query.verdict) filter.add("verdict = ?", {*query.verdict});
  if (!query.path_prefix.empty()) {
    // A byte range instead of LIKE: LIKE ignores ASCII case and would need escaping.
    filter.add("path >= ?", {query.path_prefix});
    if (auto upper = prefix_upper_bound(query.path_prefix)) filter.add("path < ?", {*upper});
  }
  return read_page<MeasurementRecord>(
      db,
      "SELECT id, list_index, time_ns, pcr, template_name, template_hash, file_hash, path, verdict FROM measurements",
      std::move(filter), query.paging, read_measurement);
}

Result<Page<DecisionRecord>> query_decisions(Database& db, const DecisionQuery& query) {
  Filter filter;
  filter.time_range(query.since_ns, query.until_ns);
  if (query.verdict) filter.add("verdict = ?", {*query.verdict});
  return read_page<DecisionRecord>(db, "SELECT id, time_ns, verdict, path, pid, reason, json FROM decisions",
                                   std::move(filter), query.paging, read_decision);
}

Result<std::vector<ActivityCount>> query_activity(Database& db, const ActivityQuery& query) {
  Filter filter;
  filter.add("container_id = ?", {query.container_id});
  filter.add("bucket_start_s >= ?", {query.since_s});
  filter.add("bucket_start_s < ?", {query.until_s});
  return read_rows<ActivityCount>(
      db, "SELECT bucket_start_s, container_id, type, count FROM activity" + filter.where() +
              " ORDER BY bucket_start_s, type",
      filter, [](const Statement& row) {
        ActivityCount activity;
        activity.bucket_start_s = row.column_int(0);
        activity.container_id = row.column_text(1);
        activity.type = row.column_text(2);
        activity.count = row.column_int(3);
        return activity;
      });
}

Result<std::vector<RuleHits>> query_rule_hits(Database& db) {
  return read_rows<RuleHits>(db, "SELECT rule, hits, last_hit_ns FROM rule_hits ORDER BY rule", Filter{},
                             [](const Statement& row) {
                               RuleHits hits;
                               hits.rule = row.column_text(0);
                               hits.hits = row.column_int(1);
                               hits.last_hit_ns = row.column_int(2);
                               return hits;
                             });
}

Result<std::vector<ContainerSummary>> query_containers(Database& db) {
  // Seen = has activity or alerts still stored; the name set by set_container_name wins over
  // the one the newest alert carried. The host ("") is not a container.
  constexpr const char* kSql = R"sql(
WITH seen(container_id, first_s, last_s, events, alerts) AS (
  SELECT container_id, min(bucket_start_s), max(bucket_start_s), sum(count), 0
    FROM activity GROUP BY container_id
  UNION ALL
  SELECT container_id, min(time_ns) / 1000000000, max(time_ns) / 1000000000, 0, count(*)
    FROM alerts GROUP BY container_id)
SELECT container_id, min(first_s), max(last_s), sum(events), sum(alerts),
  coalesce(nullif((SELECT name FROM container_names n WHERE n.container_id = seen.container_id), ''),
           (SELECT container_name FROM alerts a WHERE a.container_id = seen.container_id ORDER BY a.id DESC LIMIT 1),
           '')
FROM seen GROUP BY container_id ORDER BY container_id)sql";
  return read_rows<ContainerSummary>(db, kSql, Filter{}, [](const Statement& row) {
    ContainerSummary summary;
    summary.container_id = row.column_text(0);
    summary.first_seen_s = row.column_int(1);
    summary.last_seen_s = row.column_int(2);
    summary.events = row.column_int(3);
    summary.alerts = row.column_int(4);
    summary.container_name = row.column_text(5);
    return summary;
  });
}

}  // namespace vigil::store
