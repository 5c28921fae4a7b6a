#include "outputs/alert.h"

#include <time.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "outputs/one_line.h"

namespace vigil::outputs {
namespace {

constexpr std::array<std::string_view, 8> kPriorityNames = {
    "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"};

bool same_letters(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// dump() throws on invalid UTF-8 by default; alert text comes from untrusted processes.
std::string dump_line(const nlohmann::json& value) {
  std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  return line;
}

}  // namespace

std::string_view priority_name(Priority priority) {
  const auto index = static_cast<size_t>(priority);
  return index < kPriorityNames.size() ? kPriorityNames[index] : std::string_view("Debug");
}

std::optional<Priority> priority_from_name(std::string_view name) {
  if (same_letters(name, "info")) return Priority::informational;
  for (size_t i = 0; i < kPriorityNames.size(); ++i) {
    if (same_letters(name, kPriorityNames[i])) return static_cast<Priority>(i);
  }
  return std::nullopt;
}

nlohmann::json alert_to_json(const Alert& alert) {
  nlohmann::json out = nlohmann::json::object();
  out["time"] = rfc3339_ns(alert.time_ns);
  out["rule"] = alert.rule;
  out["priority"] = priority_name(alert.priority);
  out["output"] = alert.output;
  // Falco always writes an object here; consumers index into it without checking.
  out["output_fields"] = alert.output_fields.is_object() ? alert.output_fields : nlohmann::json::object();
  out["source"] = alert.source;
  out["tags"] = alert.tags;
  out["hostname"] = alert.hostname;
  out["action"] = alert.action;
  out["container"] = {{"id", alert.container_id}, {"name", alert.container_name}};
  out["pid"] = alert.pid;
  if (alert.process_tree.is_array() && !alert.process_tree.empty()) out["process_tree"] = alert.process_tree;
  return out;
}

std::string alert_json_line(const Alert& alert) { return dump_line(alert_to_json(alert)); }

std::string alert_text_line(const Alert& alert) {
  std::string line = rfc3339_ns(alert.time_ns);
  line += ": ";
  line += priority_name(alert.priority);
  line += ' ';
  append_one_line(line, alert.output);
  line += '\n';
  return line;
}

}  // namespace vigil::outputs
