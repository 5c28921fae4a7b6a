#include "web/record_json.h"

#include "common/time_text.h"
#include "rules/rules.h"

namespace vigil::web {

namespace {

// Stored JSON was written by the agent, but the file is on disk: never trust it to parse.
nlohmann::json parsed_or(const std::string& text, nlohmann::json fallback) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : fallback;
}

}  // namespace

std::string priority_text(int level) {
  if (level < 0 || level > 7) return "Unknown";
  return std::string(rules::priority_name(static_cast<rules::Priority>(level)));
}

nlohmann::json alert_json(const store::AlertRecord& alert, bool with_process_tree) {
  nlohmann::json out = parsed_or(alert.json, nlohmann::json::object());
  if (!with_process_tree) out.erase("process_tree");
  else if (!out.contains("process_tree")) out["process_tree"] = nlohmann::json::array();
  out["id"] = alert.id;
  out["time"] = rfc3339_ns(alert.time_ns);
  out["time_ns"] = alert.time_ns;
  out["rule"] = alert.rule;
  out["priority"] = priority_text(alert.priority);
  out["priority_level"] = alert.priority;
  out["output"] = alert.output;
  out["action"] = alert.action;
  out["pid"] = alert.pid;
  out["container"] = {{"id", alert.container_id.empty() ? "host" : alert.container_id},
                      {"name", alert.container_id.empty() ? "host" : alert.container_name}};
  if (!out.contains("output_fields") || !out["output_fields"].is_object()) out["output_fields"] = nlohmann::json::object();
  if (!out.contains("tags") || !out["tags"].is_array()) out["tags"] = nlohmann::json::array();
  if (!out.contains("source")) out["source"] = "syscall";
  return out;
}

nlohmann::json event_json(const store::EventRecord& event) {
  return {{"id", event.id},
          {"time", rfc3339_ns(event.time_ns)},
          {"time_ns", event.time_ns},
          {"type", event.type},
          {"container",
           {{"id", event.container_id.empty() ? "host" : event.container_id},
            {"name", event.container_id.empty() ? "host" : event.container_name}}},
          {"pid", event.pid},
          {"process", event.process},
          {"summary", event.summary},
          {"event", parsed_or(event.json, nlohmann::json::object())}};
}

nlohmann::json measurement_json(const store::MeasurementRecord& measurement) {
  return {{"id", measurement.id},
          {"index", measurement.index},
          {"time", rfc3339_ns(measurement.time_ns)},
          {"time_ns", measurement.time_ns},
          {"pcr", measurement.pcr},
          {"template", measurement.template_name},
          {"template_hash", measurement.template_hash},
          {"file_hash", measurement.file_hash},
          {"path", measurement.path},
          {"verdict", measurement.verdict}};
}

nlohmann::json decision_json(const store::DecisionRecord& decision) {
  return {{"id", decision.id},
          {"time", rfc3339_ns(decision.time_ns)},
          {"time_ns", decision.time_ns},
          {"verdict", decision.verdict},
          {"path", decision.path},
          {"pid", decision.pid},
          {"reason", decision.reason},
          {"entry", parsed_or(decision.json, nlohmann::json::object())}};
}

std::string netflow_summary(const nlohmann::json& flow) {
  const auto text = [&](const char* key) -> std::string {
    const auto it = flow.find(key);
    if (it == flow.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
    return "";
  };
  std::string remote = text("remote_addr");
  if (text("family") == "ipv6") remote = "[" + remote + "]";
  std::string summary;
  for (const auto& [key, value] :
       {std::pair<const char*, std::string>{"verdict", text("verdict")}, {"direction", text("direction")},
        {"protocol", text("protocol")}, {"remote", remote + ":" + text("remote_port")}, {"policy", text("policy")},
        {"rule", text("rule")}, {"subject", text("subject")}, {"comm", text("comm")}})
    summary += std::string(key) + "=" + value + " ";
  return summary;
}

}  // namespace vigil::web
