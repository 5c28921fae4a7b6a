#pragma once
// Which outputs alerts go to, with their options: a plain struct the agent's config fills from
// its `outputs:` section (shape in docs/outputs.md). Defaults are the documented ones.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "outputs/alert.h"

namespace YAML {
class Node;
}

namespace vigil::outputs {

enum class LineFormat { json, text };

struct StdoutOutput {
  LineFormat format = LineFormat::json;
};

struct FileOutput {
  std::string path{};
  LineFormat format = LineFormat::json;
  uint64_t max_size_bytes = 0;  // rotate when the next line would pass this; 0: never rotate
  unsigned max_files = 5;       // rotated files kept as path.1 (newest) .. path.<max_files>
};

enum class SyslogProtocol { rfc5424, rfc3164 };

struct SyslogOutput {
  std::string socket_path = "/dev/log";  // a unix datagram socket
  SyslogProtocol protocol = SyslogProtocol::rfc5424;
  int facility = 16;  // local0; the numeric code, so PRI = facility * 8 + severity
  std::string app_name = "vigil";
  LineFormat format = LineFormat::text;  // text: the alert's output; json: the whole alert
};

struct WebhookOutput {
  std::string url{};  // http://host[:port]/path, or https:// (cpp-httplib is built with OpenSSL)
  std::map<std::string, std::string> headers{};
  unsigned timeout_ms = 2000;        // connect, and each read/write
  unsigned retries = 3;              // further attempts after a failed one
  unsigned retry_backoff_ms = 250;   // wait before the first retry; doubles per retry, capped at 30 s
  std::string ca_file{};              // https: CA bundle; empty: the system's
  bool tls_verify = true;            // https: verify the server's certificate
};

// Delivery settings every output has.
struct DeliveryOptions {
  Priority min_priority = Priority::debug;  // deliver alerts at least this urgent
  size_t queue_size = 1024;                 // alerts waiting for this output; beyond it they are dropped
};

struct OutputConfig {
  DeliveryOptions delivery{};
  std::variant<StdoutOutput, FileOutput, SyslogOutput, WebhookOutput> sink{};
};

struct OutputsConfig {
  std::vector<OutputConfig> outputs;
};

// Reads the value of the `outputs:` key: a list of mappings, each with a `type`. A null node
// is no outputs. Errors read "<source>:<line>: outputs[<i>].<key>: what was expected".
Result<OutputsConfig> outputs_config_from_yaml(const YAML::Node& outputs, const std::string& source);

}  // namespace vigil::outputs
