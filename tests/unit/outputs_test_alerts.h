#pragma once
// Alerts for the outputs tests: fixed fields so rendered text can be compared exactly.
#include <string>

#include "outputs/alert.h"

namespace vigil::test {

// 2024-05-16T09:10:11.123456789Z
constexpr int64_t kAlertTimeNs = 1715850611'123456789;

inline outputs::Alert sample_alert(const std::string& rule = "Write below etc",
                                   outputs::Priority priority = outputs::Priority::warning) {
  outputs::Alert alert;
  alert.time_ns = kAlertTimeNs;
  alert.rule = rule;
  alert.priority = priority;
  alert.output = "File below /etc opened for writing (file=/etc/shadow proc=vi)";
  alert.tags = {"filesystem", "mitre_persistence"};
  alert.hostname = "node-1";
  alert.output_fields = {{"fd.name", "/etc/shadow"}, {"proc.name", "vi"}, {"proc.pid", 4242}};
  alert.action = "alert";
  alert.container_id = "3ad7b26ded6d";
  alert.container_name = "web";
  alert.pid = 4242;
  return alert;
}

}  // namespace vigil::test
