#pragma once
// The alert model: what a rule match hands to the outputs, and its renderings.
// The JSON shape is Falco's (`time`, `rule`, `priority`, `output`, `output_fields`, `source`,
// `tags`, `hostname`) so tools that consume Falco alerts read vigil's unchanged; vigil adds
// `action`, `container`, `pid` and `process_tree`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time_text.h"

namespace vigil::outputs {

// Falco's priorities. The numeric values are the syslog severities (RFC 5424), so the
// syslog output maps them one to one and "more urgent" is "smaller".
enum class Priority : uint8_t {
  emergency = 0,
  alert = 1,
  critical = 2,
  error = 3,
  warning = 4,
  notice = 5,
  informational = 6,
  debug = 7,
};

// "Emergency" ... "Debug", spelled as Falco prints them.
std::string_view priority_name(Priority priority);
// Case-insensitive; accepts "info" like Falco's config does. nullopt for anything else.
std::optional<Priority> priority_from_name(std::string_view name);

struct Alert {
  int64_t time_ns = 0;  // wall clock, nanoseconds since the Unix epoch
  std::string rule;
  Priority priority = Priority::warning;
  std::string output;  // the rule's formatted output line
  std::vector<std::string> tags;
  std::string source = "syscall";
  std::string hostname;  // empty: AlertOutputs fills in this host's name
  nlohmann::json output_fields = nlohmann::json::object();  // field name -> value
  std::string action = "alert";  // what vigil did: "alert", "kill", "kill-failed: <why>"
  std::string container_id;      // empty on the host
  std::string container_name;
  int64_t pid = 0;
  // The process and its ancestors when the rule matched, the process first: objects with
  // pid, ppid, name, exe, cmdline, uid. Rendered as "process_tree" when not empty.
  nlohmann::json process_tree = nlohmann::json::array();
};

// Now (as Alert::time_ns wants it) and Falco's `time` text: see common/time_text.h.
using vigil::rfc3339_ns;
using vigil::wall_clock_ns;

nlohmann::json alert_to_json(const Alert& alert);
// One JSON object on one line, ending in '\n'. Invalid UTF-8 in strings (paths and command
// lines come from the kernel as bytes) is replaced rather than thrown about.
std::string alert_json_line(const Alert& alert);
// "<time>: <Priority> <output>\n", Falco's text output with an RFC 3339 time; control
// characters in the output are escaped as \xNN so one alert is always one line.
std::string alert_text_line(const Alert& alert);

}  // namespace vigil::outputs
