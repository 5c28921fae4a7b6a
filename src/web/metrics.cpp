#include "web/metrics.h"

#include <cmath>
#include <cstdio>

namespace vigil::web {

namespace {

double number(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return 0;
  auto found = object.find(key);
  if (found == object.end() || !found->is_number()) return 0;
  return found->get<double>();
}

const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof text, "%.0f", value);
  } else {
    std::snprintf(text, sizeof text, "%.9g", value);
  }
  return text;
}

void counter_by_key(PrometheusText& out, std::string_view name, std::string_view help, std::string_view label,
                    const nlohmann::json& values) {
  out.family(name, "counter", help);
  if (!values.is_object()) return;
  for (const auto& [key, value] : values.items()) {
    if (value.is_number()) out.sample(name, {{label, key}}, value.get<double>());
  }
}

void integrity_metrics(PrometheusText& out, const nlohmann::json& status) {
  out.family("vigil_permission_events_total", "counter", "fanotify permission events answered by the integrity pillar");
  out.sample("vigil_permission_events_total", number(status, "permission_events"));
  out.family("vigil_decisions_total", "counter", "Appraisal answers by verdict");
  out.sample("vigil_decisions_total", {{"verdict", "allow"}}, number(status, "allowed"));
  out.sample("vigil_decisions_total", {{"verdict", "deny"}}, number(status, "denied"));
  out.family("vigil_decision_timeouts_total", "counter", "Permission events answered by the deadline, not by a decision");
  out.sample("vigil_decision_timeouts_total", number(status, "timeouts"));
  out.family("vigil_appraisal_failures_total", "counter", "Files that failed appraisal");
  out.sample("vigil_appraisal_failures_total", number(status, "appraisal_failures"));
  out.family("vigil_measurements_total", "counter", "Entries added to the measurement list");
  out.sample("vigil_measurements_total", number(status, "measurements"));
  out.family("vigil_measurement_failures_total", "counter", "Measurements or PCR extends that failed");
  out.sample("vigil_measurement_failures_total", number(status, "measurement_failures"));
  out.family("vigil_measurement_list_entries", "gauge", "Entries in the measurement list");
  out.sample("vigil_measurement_list_entries", number(status, "measurement_list_entries"));

  const nlohmann::json& latency = member(status, "decision_latency");
  out.family("vigil_decision_latency_seconds", "histogram", "Time from a permission event's arrival to its answer");
  if (latency.is_object() && member(latency, "buckets").is_array()) {
    for (const auto& bucket : latency["buckets"]) {
      if (!bucket.is_array() || bucket.size() != 2 || !bucket[0].is_number() || !bucket[1].is_number()) continue;
      out.sample("vigil_decision_latency_seconds_bucket", {{"le", format_value(bucket[0].get<double>())}},
                 bucket[1].get<double>());
    }
    out.sample("vigil_decision_latency_seconds_bucket", {{"le", "+Inf"}}, number(latency, "count"));
    out.sample("vigil_decision_latency_seconds_sum", number(latency, "sum_seconds"));
    out.sample("vigil_decision_latency_seconds_count", number(latency, "count"));
  }
}

void runtime_metrics(PrometheusText& out, const nlohmann::json& runtime) {
  counter_by_key(out, "vigil_events_total", "Runtime events decoded, by type", "type", member(runtime, "events_by_type"));
  out.family("vigil_event_drops_total", "counter", "Events the kernel could not queue (ring buffer full), by CPU");
  const nlohmann::json& per_cpu = member(runtime, "drops_per_cpu");
  if (per_cpu.is_array()) {
    for (std::size_t cpu = 0; cpu < per_cpu.size(); ++cpu) {
      if (per_cpu[cpu].is_number()) out.sample("vigil_event_drops_total", {{"cpu", std::to_string(cpu)}}, per_cpu[cpu].get<double>());
    }
  }
  out.family("vigil_event_decode_errors_total", "counter", "Ring-buffer records that did not decode");
  out.sample("vigil_event_decode_errors_total", number(runtime, "decode_errors"));
  out.family("vigil_events_filtered_by_path_total", "counter", "File events the in-kernel path filter kept in the kernel");
  out.sample("vigil_events_filtered_by_path_total", number(runtime, "filtered_by_path"));
  const nlohmann::json& ring = member(runtime, "ring_buffer");
  out.family("vigil_ring_buffer_pending_bytes", "gauge", "Bytes waiting in the kernel ring buffer");
  out.sample("vigil_ring_buffer_pending_bytes", number(ring, "pending_bytes"));
  out.family("vigil_ring_buffer_capacity_bytes", "gauge", "Size of the kernel ring buffer");
  out.sample("vigil_ring_buffer_capacity_bytes", number(ring, "capacity_bytes"));
  out.family("vigil_processes_live", "gauge", "Processes in the process table");
  out.sample("vigil_processes_live", number(member(runtime, "processes"), "live"));

  const nlohmann::json& rules = member(runtime, "rules");
  counter_by_key(out, "vigil_rule_hits_total", "Rule matches, by rule", "rule", member(rules, "hits"));
  out.family("vigil_rule_events_evaluated_total", "counter", "Events the rules were evaluated on");
  out.sample("vigil_rule_events_evaluated_total", number(rules, "events_evaluated"));
  out.family("vigil_rule_eval_seconds_total", "counter", "Time spent evaluating rules");
  out.sample("vigil_rule_eval_seconds_total", number(rules, "eval_ns") / 1e9);
  out.family("vigil_alerts_total", "counter", "Alerts raised");
  out.sample("vigil_alerts_total", number(rules, "alerts"));
  out.family("vigil_kills_total", "counter", "Processes stopped by action: kill, by where the decision was made");
  out.sample("vigil_kills_total", {{"where", "kernel"}}, number(rules, "kernel_kills"));
  out.sample("vigil_kills_total", {{"where", "user"}}, number(rules, "kills"));
  out.family("vigil_kill_failures_total", "counter", "Kills that failed (process gone or reused)");
  out.sample("vigil_kill_failures_total", number(rules, "kill_failures"));
  out.family("vigil_output_alerts_total", "counter", "Alerts per output by outcome");
  const nlohmann::json& outputs = member(rules, "outputs");
  if (outputs.is_array()) {
    for (const auto& output : outputs) {
      // json::value() throws on a non-object or a non-string name: this document is rendered
      // as it comes, so take what is usable and never throw out of /metrics.
      if (!output.is_object()) continue;
      const nlohmann::json& given = member(output, "name");
      const std::string name = given.is_string() ? given.get<std::string>() : std::string();
      for (const char* outcome : {"delivered", "dropped", "failed"})
        out.sample("vigil_output_alerts_total", {{"output", name}, {"outcome", outcome}}, number(output, outcome));
    }
  }
}

void console_metrics(PrometheusText& out, const nlohmann::json& console) {
  const nlohmann::json& store = member(console, "store");
  out.family("vigil_store_rows_total", "counter", "Rows committed to the console store since start");
  out.sample("vigil_store_rows_total", number(store, "committed"));
  out.family("vigil_store_dropped_total", "counter", "Rows the console store refused (queue full)");
  out.sample("vigil_store_dropped_total", number(store, "dropped"));
  out.family("vigil_store_write_errors_total", "counter", "Console store transactions that failed");
  out.sample("vigil_store_write_errors_total", number(store, "write_errors"));
  out.family("vigil_store_bytes", "gauge", "Size of the console store (database and WAL)");
  out.sample("vigil_store_bytes", number(store, "file_bytes"));
  counter_by_key(out, "vigil_http_requests_total", "Console HTTP requests, by status code", "code",
                 member(console, "http_requests"));
  out.family("vigil_stream_clients", "gauge", "Live alert streams open");
  out.sample("vigil_stream_clients", number(console, "stream_clients"));
  const nlohmann::json& connections = member(console, "connections");
  out.family("vigil_http_connections", "gauge", "Console connections open");
  out.sample("vigil_http_connections", number(connections, "open"));
  out.family("vigil_http_connections_closed_total", "counter",
             "Console connections closed by its limits: over the total or per-peer cap at accept, idle, a request "
             "head too slow or too large");
  for (const auto& [reason, key] : {std::pair{"total_cap", "refused_total_cap"}, std::pair{"peer_cap", "refused_peer_cap"},
                                    std::pair{"idle", "idle_timeouts"}, std::pair{"slow_request", "request_timeouts"},
                                    std::pair{"oversized_request", "oversized_requests"},
                                    std::pair{"handshake", "handshake_timeouts"}}) {
    out.sample("vigil_http_connections_closed_total", {{"reason", reason}}, number(connections, key));
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += help;
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void PrometheusText::sample(std::string_view name, const Labels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    bool first = true;
    for (const auto& [label, label_value] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += label;
      text_ += "=\"";
      text_ += escape_label_value(label_value);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

// Network policy counters per policy in force (docs/netpolicy.md).
void netpolicy_metrics(PrometheusText& out, const nlohmann::json& netpolicy) {
  const nlohmann::json& policies = member(netpolicy, "policies");
  if (!policies.is_array()) return;
  out.family("vigil_netpolicy_flows_total", "counter", "Flows judged by a network policy, by policy and verdict");
  for (const auto& policy : policies) {
    if (!policy.is_object() || !policy.contains("name") || !policy["name"].is_string()) continue;
    const std::string name = policy["name"].get<std::string>();
    for (const auto& [key, verdict] : {std::pair{"allowed", "allow"}, std::pair{"denied", "deny"},
                                       std::pair{"audited", "would-deny"}})
      out.sample("vigil_netpolicy_flows_total", {{"policy", name}, {"verdict", verdict}}, number(policy, key));
  }
  out.family("vigil_netpolicy_flow_records_lost_total", "counter", "Flow records that did not fit the ring buffer");
  for (const auto& policy : policies)
    if (policy.is_object() && policy.contains("name") && policy["name"].is_string())
      out.sample("vigil_netpolicy_flow_records_lost_total", {{"policy", policy["name"].get<std::string>()}},
                 number(policy, "lost"));
}

std::string render_metrics(const nlohmann::json& status) {
  PrometheusText out;
  out.family("vigil_up", "gauge", "1 while the agent serves this endpoint");
  out.sample("vigil_up", 1);
  integrity_metrics(out, status);
  runtime_metrics(out, member(status, "runtime"));
  console_metrics(out, member(status, "console"));
  netpolicy_metrics(out, member(status, "netpolicy"));
  return out.text();
}

}  // namespace vigil::web
