#include "web/api.h"

#include <algorithm>
#include <map>

#include "common/time_text.h"
#include "web/params.h"
#include "web/record_json.h"

namespace vigil::web {

namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;
// A timeline longer than a day at 10 s per bucket would be a chart no one can read.
constexpr std::int64_t kMaxActivityBuckets = 8640;

// A failure inside the store is the server's problem, not the request's.
ApiResponse store_failure(const Error& error) { return error_response(500, "store: " + error.message); }

template <class Record, class ToJson>
ApiResponse page_response(const store::Page<Record>& page, ToJson&& to_json) {
  nlohmann::json items = nlohmann::json::array();
  for (const Record& record : page.items) items.push_back(to_json(record));
  nlohmann::json body = {{"items", std::move(items)}};
  body["next_before"] = page.next_before ? nlohmann::json(*page.next_before) : nlohmann::json(nullptr);
  return json_response(200, body);
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t at = 0;
  while (at < path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > at) parts.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  return parts;
}

std::string container_key(std::string_view id) { return id == "host" ? std::string() : std::string(id); }

}  // namespace

ApiResponse json_response(int status, const nlohmann::json& body) {
  // Paths and command lines are kernel bytes: replace what is not UTF-8 instead of throwing.
  return ApiResponse{status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

ApiResponse error_response(int status, std::string_view message) {
  return json_response(status, {{"error", message}});
}

ApiResponse Api::handle(const ApiRequest& request) const {
  try {
    auto response = route(request);
    if (!response) return error_response(400, response.error().message);
    return std::move(*response);
  } catch (const std::exception& error) {
    return error_response(500, std::string("internal error: ") + error.what());
  }
}

Result<ApiResponse> Api::route(const ApiRequest& request) const {
  const std::vector<std::string_view> parts = split_path(request.path);
  if (parts.empty() || parts[0] != "api") return error_response(404, "no such path: " + request.path);
  if (request.method != "GET" && request.method != "HEAD") {
    return error_response(405, "method " + request.method + " not allowed; the API is read-only");
  }
  auto no_params = [&]() { return only_known_params(request, {}); };
  if (parts.size() == 2) {
    const std::string_view what = parts[1];
    if (what == "health") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      return health();
    }
    if (what == "alerts") return alerts(request);
    if (what == "events") return events(request);
    if (what == "processes") return processes(request);
    if (what == "containers") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      return containers();
    }
    if (what == "integrity") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      return integrity();
    }
    if (what == "rules") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      return rules();
    }
    if (what == "policy") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      return json_response(200, backend_.policy());
    }
    if (what == "netpolicy") {
      if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
      const nlohmann::json status = backend_.status();
      return json_response(200, status.contains("netpolicy") ? status["netpolicy"] : nlohmann::json{{"enabled", false}});
    }
  } else if (parts.size() == 3 && parts[1] == "netpolicy" && parts[2] == "flows") {
    return netflows(request);
  } else if (parts.size() == 3 && parts[1] == "alerts") {
    if (auto ok = no_params(); !ok) return std::unexpected(ok.error());
    return alert(parts[2]);
  } else if (parts.size() == 3 && parts[1] == "integrity" && parts[2] == "measurements") {
    return measurements(request);
  } else if (parts.size() == 3 && parts[1] == "integrity" && parts[2] == "denials") {
    return denials(request);
  } else if (parts.size() == 4 && parts[1] == "containers" && parts[3] == "activity") {
    return activity(parts[2], request);
  }
  return error_response(404, "no such path: " + request.path);
}

Result<ApiResponse> Api::health() const {
  nlohmann::json body = backend_.health();
  body["store"] = store_status();
  return json_response(200, body);
}

nlohmann::json Api::store_status() const {
  const store::StoreStats stats = store_.stats();
  return {{"committed", stats.committed},       {"queued", stats.queued},         {"dropped", stats.dropped},
          {"batches", stats.batches},           {"write_errors", stats.write_errors},
          {"deleted_by_retention", stats.deleted_by_retention}, {"file_bytes", stats.file_bytes},
          {"last_error", stats.last_error}};
}

Result<ApiResponse> Api::alerts(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"since", "until", "rule", "priority", "container", "limit", "before"}); !ok)
    return std::unexpected(ok.error());
  store::AlertQuery query;
  auto since = time_param(request, "since");
  if (!since) return std::unexpected(since.error());
  auto until = time_param(request, "until");
  if (!until) return std::unexpected(until.error());
  auto priority = priority_param(request);
  if (!priority) return std::unexpected(priority.error());
  auto container = container_param(request);
  if (!container) return std::unexpected(container.error());
  auto paging = paging_params(request);
  if (!paging) return std::unexpected(paging.error());
  query.since_ns = *since;
  query.until_ns = *until;
  query.rules = repeated_param(request, "rule");
  query.max_priority = *priority;
  query.container_id = *container;
  query.paging = *paging;
  auto page = store_.alerts(query);
  if (!page) return store_failure(page.error());
  return page_response(*page, [](const store::AlertRecord& alert) { return alert_json(alert, false); });
}

Result<ApiResponse> Api::alert(std::string_view id_text) const {
  ApiRequest as_param;
  as_param.params.emplace("id", std::string(id_text));
  auto id = int_param(as_param, "id", 1, INT64_MAX);
  if (!id) return error_response(404, "no alert " + std::string(id_text.substr(0, 40)) + ": ids are positive integers");
  auto found = store_.alert(**id);
  if (!found) return store_failure(found.error());
  if (!*found) return error_response(404, "no alert " + std::to_string(**id));
  nlohmann::json body = alert_json(**found, true);
  // Alerts raised before their process was known carry no tree: show the live one if any.
  if (body["process_tree"].empty() && (*found)->pid > 0) body["process_tree"] = backend_.process_tree((*found)->pid);
  return json_response(200, body);
}

Result<ApiResponse> Api::events(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"since", "until", "type", "container", "pid", "q", "limit", "before"}); !ok)
    return std::unexpected(ok.error());
  store::EventQuery query;
  auto since = time_param(request, "since");
  if (!since) return std::unexpected(since.error());
  auto until = time_param(request, "until");
  if (!until) return std::unexpected(until.error());
  auto container = container_param(request);
  if (!container) return std::unexpected(container.error());
  auto pid = int_param(request, "pid", 0, 0x7fffffff);
  if (!pid) return std::unexpected(pid.error());
  auto text = single_param(request, "q");
  if (!text) return std::unexpected(text.error());
  auto paging = paging_params(request);
  if (!paging) return std::unexpected(paging.error());
  query.since_ns = *since;
  query.until_ns = *until;
  query.types = repeated_param(request, "type");
  query.container_id = *container;
  query.pid = *pid;
  if (*text) {
    if ((*text)->size() > 256) return fail("parameter 'q': longer than 256 bytes");
    query.text = **text;
  }
  query.paging = *paging;
  auto page = store_.events(query);
  if (!page) return store_failure(page.error());
  return page_response(*page, event_json);
}

// Network flow records (stored as events of type "netflow"), filtered by their summary's
// exact key=value words (record_json.h netflow_summary) and a workload substring.
Result<ApiResponse> Api::netflows(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"since", "until", "verdict", "policy", "rule", "direction", "workload",
                                            "container", "limit", "before"});
      !ok)
    return std::unexpected(ok.error());
  store::EventQuery query;
  auto since = time_param(request, "since");
  if (!since) return std::unexpected(since.error());
  auto until = time_param(request, "until");
  if (!until) return std::unexpected(until.error());
  auto container = container_param(request);
  if (!container) return std::unexpected(container.error());
  auto paging = paging_params(request);
  if (!paging) return std::unexpected(paging.error());
  query.since_ns = *since;
  query.until_ns = *until;
  query.container_id = *container;
  query.paging = *paging;
  query.types = {"netflow"};
  for (const char* key : {"verdict", "policy", "rule", "direction"}) {
    auto value = single_param(request, key);
    if (!value) return std::unexpected(value.error());
    if (!*value || (*value)->empty()) continue;
    if ((*value)->size() > 256 || (*value)->find(' ') != std::string::npos)
      return fail(std::string("parameter '") + key + "': at most 256 bytes, no spaces");
    query.all_texts.push_back(std::string(key) + "=" + **value + " ");
  }
  auto workload = single_param(request, "workload");
  if (!workload) return std::unexpected(workload.error());
  if (*workload) {
    if ((*workload)->size() > 256) return fail("parameter 'workload': longer than 256 bytes");
    query.text = **workload;  // subject or process name, anywhere in the summary
  }
  auto page = store_.events(query);
  if (!page) return store_failure(page.error());
  return page_response(*page, event_json);
}

Result<ApiResponse> Api::processes(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"container"}); !ok) return std::unexpected(ok.error());
  auto container = container_param(request);
  if (!container) return std::unexpected(container.error());
  auto items = backend_.processes(*container);
  if (!items) return error_response(503, "runtime detection is off: no process table");
  return json_response(200, {{"items", std::move(*items)}});
}

Result<ApiResponse> Api::containers() const {
  auto seen = store_.containers();
  if (!seen) return store_failure(seen.error());
  const std::optional<nlohmann::json> running = backend_.running_containers();
  std::map<std::string, nlohmann::json> by_id;
  for (const store::ContainerSummary& summary : *seen) {
    by_id[summary.container_id] = {{"id", summary.container_id.empty() ? "host" : summary.container_id},
                                   {"name", summary.container_id.empty() ? "host" : summary.container_name},
                                   {"running", false},
                                   {"processes", 0},
                                   {"first_seen", rfc3339_ns(summary.first_seen_s * kNsPerSecond)},
                                   {"last_seen", rfc3339_ns(summary.last_seen_s * kNsPerSecond)},
                                   {"last_seen_s", summary.last_seen_s},
                                   {"events", summary.events},
                                   {"alerts", summary.alerts}};
  }
  if (running && running->is_object()) {
    const std::int64_t now_s = wall_clock_ns() / kNsPerSecond;
    for (const auto& [id, live] : running->items()) {
      nlohmann::json& item = by_id[id];
      if (item.is_null()) {
        item = {{"id", id.empty() ? "host" : id}, {"name", id.empty() ? "host" : ""},
                {"first_seen", rfc3339_ns(now_s * kNsPerSecond)}, {"last_seen", rfc3339_ns(now_s * kNsPerSecond)},
                {"last_seen_s", now_s}, {"events", 0}, {"alerts", 0}};
      }
      item["running"] = true;
      item["processes"] = live.value("processes", 0);
      if (!id.empty() && live.contains("name") && !live["name"].get<std::string>().empty()) item["name"] = live["name"];
    }
  }
  std::vector<nlohmann::json> items;
  for (auto& [id, item] : by_id) items.push_back(std::move(item));
  // A running container is seen now, whatever the store last counted.
  for (auto& item : items) {
    if (item["running"].get<bool>()) {
      item["last_seen_s"] = wall_clock_ns() / kNsPerSecond;
      item["last_seen"] = rfc3339_ns(item["last_seen_s"].get<std::int64_t>() * kNsPerSecond);
    }
  }
  std::ranges::stable_sort(items, [](const nlohmann::json& a, const nlohmann::json& b) {
    if (a["running"] != b["running"]) return a["running"].get<bool>();
    return a["last_seen_s"].get<std::int64_t>() > b["last_seen_s"].get<std::int64_t>();
  });
  return json_response(200, {{"items", items}});
}

Result<ApiResponse> Api::activity(std::string_view id, const ApiRequest& request) const {
  if (id != "host" && !valid_container_id(id)) return error_response(404, "no container " + std::string(id.substr(0, 70)));
  if (auto ok = only_known_params(request, {"since", "until"}); !ok) return std::unexpected(ok.error());
  auto since = time_param(request, "since");
  if (!since) return std::unexpected(since.error());
  auto until = time_param(request, "until");
  if (!until) return std::unexpected(until.error());
  const std::int64_t now_s = wall_clock_ns() / kNsPerSecond;
  const std::int64_t bucket = store::kActivityBucketSeconds;
  std::int64_t until_s = *until ? **until / kNsPerSecond : now_s + 1;
  std::int64_t since_s = *since ? **since / kNsPerSecond : until_s - 3600;
  since_s -= ((since_s % bucket) + bucket) % bucket;
  if (until_s <= since_s) return fail("parameter 'until' must be after 'since'");
  const std::int64_t buckets = (until_s - since_s + bucket - 1) / bucket;
  if (buckets > kMaxActivityBuckets) {
    return fail("'since' to 'until' spans " + std::to_string(buckets) + " buckets of 10 s; at most " +
                std::to_string(kMaxActivityBuckets) + " (one day)");
  }
  const std::string key = container_key(id);
  auto counts = store_.activity({.container_id = key, .since_s = since_s, .until_s = until_s});
  if (!counts) return store_failure(counts.error());

  nlohmann::json times = nlohmann::json::array();
  for (std::int64_t i = 0; i < buckets; ++i) times.push_back(since_s + i * bucket);
  std::map<std::string, std::vector<std::int64_t>> series;
  for (const store::ActivityCount& count : *counts) {
    const std::int64_t slot = (count.bucket_start_s - since_s) / bucket;
    if (slot < 0 || slot >= buckets) continue;
    auto& values = series[count.type];
    if (values.empty()) values.assign(static_cast<std::size_t>(buckets), 0);
    values[static_cast<std::size_t>(slot)] += count.count;
  }
  nlohmann::json series_json = nlohmann::json::object();
  for (auto& [type, values] : series) series_json[type] = values;

  store::AlertQuery alert_query;
  alert_query.since_ns = since_s * kNsPerSecond;
  alert_query.until_ns = until_s * kNsPerSecond;
  alert_query.container_id = key;
  alert_query.paging.limit = 1000;
  auto alerts = store_.alerts(alert_query);
  if (!alerts) return store_failure(alerts.error());
  nlohmann::json markers = nlohmann::json::array();
  for (auto it = alerts->items.rbegin(); it != alerts->items.rend(); ++it) {
    markers.push_back({{"id", it->id},
                       {"time", rfc3339_ns(it->time_ns)},
                       {"time_ns", it->time_ns},
                       {"rule", it->rule},
                       {"priority", priority_text(it->priority)}});
  }
  std::string name = id == "host" ? "host" : "";
  if (auto seen = store_.containers()) {
    for (const auto& summary : *seen)
      if (summary.container_id == key && !key.empty()) name = summary.container_name;
  }
  return json_response(200, {{"container", {{"id", std::string(id)}, {"name", name}}},
                             {"bucket_seconds", bucket},
                             {"since", since_s},
                             {"until", until_s},
                             {"times", times},
                             {"series", series_json},
                             {"alerts", markers}});
}

Result<ApiResponse> Api::integrity() const { return json_response(200, backend_.integrity()); }

Result<ApiResponse> Api::measurements(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"verdict", "path", "limit", "before"}); !ok) return std::unexpected(ok.error());
  store::MeasurementQuery query;
  auto verdict = single_param(request, "verdict");
  if (!verdict) return std::unexpected(verdict.error());
  if (*verdict) {
    if (**verdict != "allow" && **verdict != "deny" && **verdict != "none")
      return fail("parameter 'verdict': expected allow, deny or none");
    query.verdict = **verdict == "none" ? "" : **verdict;
  }
  auto path = single_param(request, "path");
  if (!path) return std::unexpected(path.error());
  if (*path) query.path_prefix = **path;
  auto paging = paging_params(request);
  if (!paging) return std::unexpected(paging.error());
  query.paging = *paging;
  auto page = store_.measurements(query);
  if (!page) return store_failure(page.error());
  return page_response(*page, measurement_json);
}

Result<ApiResponse> Api::denials(const ApiRequest& request) const {
  if (auto ok = only_known_params(request, {"since", "until", "limit", "before"}); !ok) return std::unexpected(ok.error());
  store::DecisionQuery query;
  auto since = time_param(request, "since");
  if (!since) return std::unexpected(since.error());
  auto until = time_param(request, "until");
  if (!until) return std::unexpected(until.error());
  auto paging = paging_params(request);
  if (!paging) return std::unexpected(paging.error());
  query.since_ns = *since;
  query.until_ns = *until;
  query.verdict = "deny";
  query.paging = *paging;
  auto page = store_.decisions(query);
  if (!page) return store_failure(page.error());
  return page_response(*page, decision_json);
}

Result<ApiResponse> Api::rules() const {
  nlohmann::json body = backend_.rules();
  auto hits = store_.rule_hits();
  if (hits && body.contains("loaded") && body["loaded"].is_array()) {
    std::map<std::string, const store::RuleHits*> by_rule;
    for (const auto& rule : *hits) by_rule[rule.rule] = &rule;
    for (auto& rule : body["loaded"]) {
      auto found = by_rule.find(rule.value("name", ""));
      if (found == by_rule.end()) continue;
      // The stored count survives restarts; the live one starts at zero.
      if (rule.value("hits", std::int64_t{0}) < found->second->hits) rule["hits"] = found->second->hits;
      if (found->second->last_hit_ns != 0 && !rule.contains("last_hit"))
        rule["last_hit"] = rfc3339_ns(found->second->last_hit_ns);
    }
  }
  return json_response(200, body);
}

Result<std::vector<store::AlertRecord>> Api::alerts_after(std::int64_t after_id, int limit) const {
  // The store pages newest first: walk back towards after_id, then hand out the oldest first.
  // A backlog beyond kMaxBacklog is not walked: the stream then resumes at its newest part.
  constexpr std::size_t kMaxBacklog = 10000;
  std::vector<store::AlertRecord> newer;
  store::AlertQuery query;
  query.paging.limit = 1000;
  for (;;) {
    auto page = store_.alerts(query);
    if (!page) return std::unexpected(page.error());
    bool reached = false;
    for (auto& alert : page->items) {
      if (alert.id <= after_id) {
        reached = true;
        break;
      }
      newer.push_back(std::move(alert));
    }
    if (reached || !page->next_before || newer.size() >= kMaxBacklog) break;
    query.paging.before_id = page->next_before;
  }
  std::ranges::reverse(newer);
  if (limit > 0 && newer.size() > static_cast<std::size_t>(limit)) newer.resize(static_cast<std::size_t>(limit));
  return newer;
}

Result<std::int64_t> Api::latest_alert_id() const {
  store::AlertQuery query;
  query.paging.limit = 1;
  auto page = store_.alerts(query);
  if (!page) return std::unexpected(page.error());
  return page->items.empty() ? 0 : page->items.front().id;
}

}  // namespace vigil::web
