#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "outputs/alert.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;

TEST(OutputsAlert, PriorityNamesAreFalcos) {
  EXPECT_EQ(priority_name(Priority::emergency), "Emergency");
  EXPECT_EQ(priority_name(Priority::warning), "Warning");
  EXPECT_EQ(priority_name(Priority::informational), "Informational");
  EXPECT_EQ(priority_name(Priority::debug), "Debug");
  EXPECT_EQ(priority_from_name("WARNING"), Priority::warning);
  EXPECT_EQ(priority_from_name("info"), Priority::informational);
  EXPECT_EQ(priority_from_name("critical"), Priority::critical);
  EXPECT_EQ(priority_from_name("loud"), std::nullopt);
  EXPECT_EQ(priority_from_name(""), std::nullopt);
}

TEST(OutputsAlert, TimeIsRfc3339WithNanoseconds) {
  EXPECT_EQ(rfc3339_ns(test::kAlertTimeNs), "2024-05-16T09:10:11.123456789Z");
  EXPECT_EQ(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(rfc3339_ns(5), "1970-01-01T00:00:00.000000005Z");
  EXPECT_EQ(rfc3339_ns(-1), "1969-12-31T23:59:59.999999999Z");
  // now is after 2024 and renders with the same shape
  const std::string now = rfc3339_ns(wall_clock_ns());
  EXPECT_EQ(now.size(), 30u) << now;
  EXPECT_GE(now, "2024-");
}

TEST(OutputsAlert, JsonHasFalcosFieldsAndVigils) {
  const auto json = nlohmann::json::parse(alert_json_line(test::sample_alert()));
  EXPECT_EQ(json["time"], "2024-05-16T09:10:11.123456789Z");
  EXPECT_EQ(json["rule"], "Write below etc");
  EXPECT_EQ(json["priority"], "Warning");
  EXPECT_EQ(json["output"], "File below /etc opened for writing (file=/etc/shadow proc=vi)");
  EXPECT_EQ(json["source"], "syscall");
  EXPECT_EQ(json["hostname"], "node-1");
  EXPECT_EQ(json["tags"], nlohmann::json::array({"filesystem", "mitre_persistence"}));
  ASSERT_TRUE(json["output_fields"].is_object());
  EXPECT_EQ(json["output_fields"]["fd.name"], "/etc/shadow");
  EXPECT_EQ(json["output_fields"]["proc.pid"], 4242);
  EXPECT_EQ(json["action"], "alert");
  EXPECT_EQ(json["container"]["id"], "3ad7b26ded6d");
  EXPECT_EQ(json["container"]["name"], "web");
  EXPECT_EQ(json["pid"], 4242);
  EXPECT_EQ(json.size(), 11u) << json.dump();
}

TEST(OutputsAlert, JsonLineIsOneLineEvenWithHostileText) {
  auto alert = test::sample_alert();
  alert.output = "a\nb \xff\xfe end";            // a newline and invalid UTF-8
  alert.output_fields = nlohmann::json::array();  // not an object: rendered as {}
  alert.tags.clear();
  const std::string line = alert_json_line(alert);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["output"], "a\nb \xEF\xBF\xBD\xEF\xBF\xBD end");  // U+FFFD for each bad byte
  EXPECT_EQ(json["output_fields"], nlohmann::json::object());
  EXPECT_EQ(json["tags"], nlohmann::json::array());
}

TEST(OutputsAlert, TextLineEscapesControlCharacters) {
  auto alert = test::sample_alert();
  EXPECT_EQ(alert_text_line(alert),
            "2024-05-16T09:10:11.123456789Z: Warning File below /etc opened for writing (file=/etc/shadow proc=vi)\n");
  alert.output = "file=/tmp/x\n2024-01-01T00:00:00Z: Emergency forged";
  EXPECT_EQ(alert_text_line(alert),
            "2024-05-16T09:10:11.123456789Z: Warning file=/tmp/x\\x0a2024-01-01T00:00:00Z: Emergency forged\n");
}
