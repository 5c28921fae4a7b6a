#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include "outputs/config.h"

using namespace vigil;
using namespace vigil::outputs;

namespace {

Result<OutputsConfig> parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return outputs_config_from_yaml(root["outputs"], "vigil.yaml");
}

}  // namespace

TEST(OutputsConfig, TheDocumentedExample) {
  auto config = parse(R"(
outputs:
  - type: stdout
    format: json
  - type: file
    path: /var/lib/vigil/alerts.jsonl
    max_size_mb: 64
    max_files: 5
    min_priority: warning
  - type: syslog
    socket: /dev/log
    facility: local0
  - type: webhook
    url: http://127.0.0.1:9000/alerts
    timeout_ms: 2000
    headers: {Authorization: "Bearer x"}
)");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->outputs.size(), 4u);

  const auto& out = std::get<StdoutOutput>(config->outputs[0].sink);
  EXPECT_EQ(out.format, LineFormat::json);
  EXPECT_EQ(config->outputs[0].delivery.min_priority, Priority::debug);

  const auto& file = std::get<FileOutput>(config->outputs[1].sink);
  EXPECT_EQ(file.path, "/var/lib/vigil/alerts.jsonl");
  EXPECT_EQ(file.max_size_bytes, uint64_t{64} << 20);
  EXPECT_EQ(file.max_files, 5u);
  EXPECT_EQ(config->outputs[1].delivery.min_priority, Priority::warning);

  const auto& syslog = std::get<SyslogOutput>(config->outputs[2].sink);
  EXPECT_EQ(syslog.socket_path, "/dev/log");
  EXPECT_EQ(syslog.facility, 16);
  EXPECT_EQ(syslog.protocol, SyslogProtocol::rfc5424);

  const auto& webhook = std::get<WebhookOutput>(config->outputs[3].sink);
  EXPECT_EQ(webhook.url, "http://127.0.0.1:9000/alerts");
  EXPECT_EQ(webhook.timeout_ms, 2000u);
  EXPECT_EQ(webhook.headers.at("Authorization"), "Bearer x");
  EXPECT_EQ(webhook.retries, 3u);
}

TEST(OutputsConfig, EveryOption) {
  auto config = parse(R"(
outputs:
  - {type: stdout, format: text, min_priority: INFO, queue_size: 7}
  - {type: file, path: /a, format: text, max_size_mb: 0, max_files: 0}
  - {type: syslog, socket: /run/x, facility: 3, protocol: rfc3164, app_name: vg, format: json}
  - {type: webhook, url: "https://h/x", retries: 0, retry_backoff_ms: 5, ca_file: /ca.pem, tls_verify: false}
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(std::get<StdoutOutput>(config->outputs[0].sink).format, LineFormat::text);
  EXPECT_EQ(config->outputs[0].delivery.min_priority, Priority::informational);
  EXPECT_EQ(config->outputs[0].delivery.queue_size, 7u);
  const auto& file = std::get<FileOutput>(config->outputs[1].sink);
  EXPECT_EQ(file.max_size_bytes, 0u);
  EXPECT_EQ(file.max_files, 0u);
  const auto& syslog = std::get<SyslogOutput>(config->outputs[2].sink);
  EXPECT_EQ(syslog.facility, 3);
  EXPECT_EQ(syslog.protocol, SyslogProtocol::rfc3164);
  EXPECT_EQ(syslog.app_name, "vg");
  EXPECT_EQ(syslog.format, LineFormat::json);
  const auto& webhook = std::get<WebhookOutput>(config->outputs[3].sink);
  EXPECT_EQ(webhook.retries, 0u);
  EXPECT_EQ(webhook.retry_backoff_ms, 5u);
  EXPECT_EQ(webhook.ca_file, "/ca.pem");
  EXPECT_FALSE(webhook.tls_verify);
}

TEST(OutputsConfig, NoOutputsSectionIsNoOutputs) {
  auto config = parse("mode: log\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->outputs.empty());
  config = parse("outputs:\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->outputs.empty());
}

TEST(OutputsConfig, ErrorsNameTheLineTheOutputAndTheKey) {
  auto expect_error = [](const std::string& yaml, const std::string& fragment) {
    auto config = parse(yaml);
    ASSERT_FALSE(config) << yaml;
    EXPECT_NE(config.error().message.find(fragment), std::string::npos) << config.error().message;
  };
  expect_error("outputs: stdout\n", "vigil.yaml:1: outputs must be a list");
  expect_error("outputs:\n  - stdout\n", "vigil.yaml:2: outputs[0]: must be a mapping");
  expect_error("outputs:\n  - format: json\n", "outputs[0].type: missing");
  expect_error("outputs:\n  - type: kafka\n", "outputs[0].type: must be stdout, file, syslog or webhook, got 'kafka'");
  expect_error("outputs:\n  - type: stdout\n  - type: stdout\n    path: /x\n",
               "vigil.yaml:4: outputs[1].path: unknown key for a stdout output");
  expect_error("outputs:\n  - type: file\n", "outputs[0].path: missing");
  expect_error("outputs:\n  - {type: file, path: rel}\n", "outputs[0].path: must be an absolute path");
  expect_error("outputs:\n  - {type: file, path: /a, max_files: -1}\n",
               "outputs[0].max_files: must be a whole number from 0 to 1000, got '-1'");
  expect_error("outputs:\n  - {type: file, path: /a, max_size_mb: [1]}\n", "outputs[0].max_size_mb: must be a single value");
  expect_error("outputs:\n  - {type: stdout, min_priority: loud}\n", "outputs[0].min_priority: must be emergency");
  expect_error("outputs:\n  - {type: stdout, format: xml}\n", "outputs[0].format: must be json or text");
  expect_error("outputs:\n  - {type: stdout, queue_size: 0}\n", "outputs[0].queue_size: must be a whole number from 1");
  expect_error("outputs:\n  - {type: syslog, facility: local9}\n", "outputs[0].facility: must be a facility name");
  expect_error("outputs:\n  - {type: syslog, protocol: rfc9999}\n", "outputs[0].protocol: must be rfc5424 or rfc3164");
  expect_error("outputs:\n  - type: webhook\n", "outputs[0].url: missing");
  expect_error("outputs:\n  - {type: webhook, url: 'ftp://x/'}\n", "outputs[0].url: url 'ftp://x/': scheme must be http or https");
  expect_error("outputs:\n  - {type: webhook, url: 'http://x/', timeout_ms: 0}\n", "outputs[0].timeout_ms: must be a whole number from 1");
  expect_error("outputs:\n  - {type: webhook, url: 'http://x/', headers: [a]}\n", "outputs[0].headers: must map header names");
  expect_error("outputs:\n  - {type: webhook, url: 'http://x/', headers: {X-A: \"a\\r\\nX-B: b\"}}\n",
               "outputs[0].headers.X-A: header names and values must be one line");
  expect_error("outputs:\n  - {type: webhook, url: 'http://x/', tls_verify: maybe}\n",
               "outputs[0].tls_verify: must be true or false");
}
