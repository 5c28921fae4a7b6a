#include "outputs/config.h"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <set>

#include <yaml-cpp/yaml.h>

#include "outputs/webhook_sink.h"

namespace vigil::outputs {
namespace {

// Builds "<source>:<line>: outputs[i].key: ..." messages.
struct Place {
  const std::string& source;
  size_t index;

  std::unexpected<Error> error(const YAML::Node& node, const std::string& key, const std::string& what) const {
    std::string where = source;
    if (node.Mark().line >= 0) where += ":" + std::to_string(node.Mark().line + 1);
    return fail(where + ": outputs[" + std::to_string(index) + "]" + (key.empty() ? "" : "." + key) + ": " + what);
  }
};

Result<std::string> scalar(const Place& at, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return at.error(node, key, "must be a single value");
  return node.Scalar();
}

Result<uint64_t> number(const Place& at, const YAML::Node& node, const std::string& key, uint64_t low, uint64_t high) {
  auto text = scalar(at, node, key);
  if (!text) return std::unexpected(text.error());
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text->c_str(), &end, 10);
  if (text->empty() || (*text)[0] < '0' || (*text)[0] > '9' || *end != '\0' || errno != 0 || value < low ||
      value > high) {
    return at.error(node, key,
                    "must be a whole number from " + std::to_string(low) + " to " + std::to_string(high) + ", got '" +
                        *text + "'");
  }
  return value;
}

Result<bool> boolean(const Place& at, const YAML::Node& node, const std::string& key) {
  auto text = scalar(at, node, key);
  if (!text) return std::unexpected(text.error());
  if (*text == "true") return true;
  if (*text == "false") return false;
  return at.error(node, key, "must be true or false, got '" + *text + "'");
}

Result<LineFormat> line_format(const Place& at, const YAML::Node& node) {
  auto text = scalar(at, node, "format");
  if (!text) return std::unexpected(text.error());
  if (*text == "json") return LineFormat::json;
  if (*text == "text") return LineFormat::text;
  return at.error(node, "format", "must be json or text, got '" + *text + "'");
}

Result<int> facility(const Place& at, const YAML::Node& node) {
  static constexpr std::array<const char*, 24> kNames = {
      "kern",  "user", "mail", "daemon", "auth",   "syslog", "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
      "ntp",   "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5",
      "local6", "local7"};
  auto text = scalar(at, node, "facility");
  if (!text) return std::unexpected(text.error());
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (*text == kNames[i]) return static_cast<int>(i);
  }
  auto code = number(at, node, "facility", 0, 23);
  if (!code) return at.error(node, "facility", "must be a facility name (daemon, auth, local0..local7, ...) or 0..23, got '" + *text + "'");
  return static_cast<int>(*code);
}

// Keys every output type takes, then the type's own.
const std::set<std::string> kCommon = {"type", "min_priority", "queue_size"};
const std::set<std::string> kStdout = {"format"};
const std::set<std::string> kFile = {"path", "format", "max_size_mb", "max_files"};
const std::set<std::string> kSyslog = {"socket", "facility", "protocol", "app_name", "format"};
const std::set<std::string> kWebhook = {"url", "headers", "timeout_ms", "retries", "retry_backoff_ms", "ca_file",
                                        "tls_verify"};

Result<OutputConfig> one_output(const Place& at, const YAML::Node& node) {
  if (!node.IsMap()) return at.error(node, "", "must be a mapping with a type (stdout, file, syslog, webhook)");
  const YAML::Node type_node = node["type"];
  if (!type_node) return at.error(node, "type", "missing (stdout, file, syslog or webhook)");
  auto type = scalar(at, type_node, "type");
  if (!type) return std::unexpected(type.error());

  OutputConfig config;
  const std::set<std::string>* own = nullptr;
  if (*type == "stdout") {
    config.sink = StdoutOutput{};
    own = &kStdout;
  } else if (*type == "file") {
    config.sink = FileOutput{};
    own = &kFile;
  } else if (*type == "syslog") {
    config.sink = SyslogOutput{};
    own = &kSyslog;
  } else if (*type == "webhook") {
    config.sink = WebhookOutput{};
    own = &kWebhook;
  } else {
    return at.error(type_node, "type", "must be stdout, file, syslog or webhook, got '" + *type + "'");
  }

  for (const auto& item : node) {
    auto key_text = scalar(at, item.first, "");
    if (!key_text) return std::unexpected(key_text.error());
    const std::string& key = *key_text;
    const YAML::Node& value = item.second;
    if (!kCommon.contains(key) && !own->contains(key)) {
      return at.error(item.first, key, "unknown key for a " + *type + " output");
    }
    if (key == "type") continue;
    if (key == "min_priority") {
      auto text = scalar(at, value, key);
      if (!text) return std::unexpected(text.error());
      auto priority = priority_from_name(*text);
      if (!priority) {
        return at.error(value, key, "must be emergency, alert, critical, error, warning, notice, informational or debug, got '" +
                                        *text + "'");
      }
      config.delivery.min_priority = *priority;
      continue;
    }
    if (key == "queue_size") {
      auto n = number(at, value, key, 1, 1'000'000);
      if (!n) return std::unexpected(n.error());
      config.delivery.queue_size = *n;
      continue;
    }
    if (key == "format") {
      auto format = line_format(at, value);
      if (!format) return std::unexpected(format.error());
      if (auto* o = std::get_if<StdoutOutput>(&config.sink)) o->format = *format;
      if (auto* o = std::get_if<FileOutput>(&config.sink)) o->format = *format;
      if (auto* o = std::get_if<SyslogOutput>(&config.sink)) o->format = *format;
      continue;
    }
    if (auto* file = std::get_if<FileOutput>(&config.sink)) {
      if (key == "path") {
        auto path = scalar(at, value, key);
        if (!path) return std::unexpected(path.error());
        if (path->empty() || (*path)[0] != '/') return at.error(value, key, "must be an absolute path");
        file->path = *path;
      } else if (key == "max_size_mb") {
        auto n = number(at, value, key, 0, 1 << 20);
        if (!n) return std::unexpected(n.error());
        file->max_size_bytes = *n << 20;
      } else if (key == "max_files") {
        auto n = number(at, value, key, 0, 1000);
        if (!n) return std::unexpected(n.error());
        file->max_files = static_cast<unsigned>(*n);
      }
    } else if (auto* syslog = std::get_if<SyslogOutput>(&config.sink)) {
      if (key == "socket") {
        auto path = scalar(at, value, key);
        if (!path) return std::unexpected(path.error());
        if (path->empty() || (*path)[0] != '/') return at.error(value, key, "must be an absolute path");
        syslog->socket_path = *path;
      } else if (key == "facility") {
        auto code = facility(at, value);
        if (!code) return std::unexpected(code.error());
        syslog->facility = *code;
      } else if (key == "protocol") {
        auto text = scalar(at, value, key);
        if (!text) return std::unexpected(text.error());
        if (*text == "rfc5424") syslog->protocol = SyslogProtocol::rfc5424;
        else if (*text == "rfc3164") syslog->protocol = SyslogProtocol::rfc3164;
        else return at.error(value, key, "must be rfc5424 or rfc3164, got '" + *text + "'");
      } else if (key == "app_name") {
        auto text = scalar(at, value, key);
        if (!text) return std::unexpected(text.error());
        if (text->empty()) return at.error(value, key, "must not be empty");
        syslog->app_name = *text;
      }
    } else if (auto* webhook = std::get_if<WebhookOutput>(&config.sink)) {
      if (key == "url") {
        auto url = scalar(at, value, key);
        if (!url) return std::unexpected(url.error());
        auto target = parse_webhook_url(*url);
        if (!target) return at.error(value, key, target.error().message);
        webhook->url = *url;
      } else if (key == "headers") {
        if (!value.IsMap()) return at.error(value, key, "must map header names to values");
        for (const auto& header : value) {
          auto name = scalar(at, header.first, "headers");
          if (!name) return std::unexpected(name.error());
          auto text = scalar(at, header.second, "headers." + *name);
          if (!text) return std::unexpected(text.error());
          // A CR or LF in a header would let the config smuggle a second header or request.
          if (name->find_first_of("\r\n:") != std::string::npos || text->find_first_of("\r\n") != std::string::npos) {
            return at.error(header.first, "headers." + *name, "header names and values must be one line");
          }
          webhook->headers[*name] = *text;
        }
      } else if (key == "timeout_ms") {
        auto n = number(at, value, key, 1, 600'000);
        if (!n) return std::unexpected(n.error());
        webhook->timeout_ms = static_cast<unsigned>(*n);
      } else if (key == "retries") {
        auto n = number(at, value, key, 0, 100);
        if (!n) return std::unexpected(n.error());
        webhook->retries = static_cast<unsigned>(*n);
      } else if (key == "retry_backoff_ms") {
        auto n = number(at, value, key, 0, 60'000);
        if (!n) return std::unexpected(n.error());
        webhook->retry_backoff_ms = static_cast<unsigned>(*n);
      } else if (key == "ca_file") {
        auto path = scalar(at, value, key);
        if (!path) return std::unexpected(path.error());
        webhook->ca_file = *path;
      } else if (key == "tls_verify") {
        auto on = boolean(at, value, key);
        if (!on) return std::unexpected(on.error());
        webhook->tls_verify = *on;
      }
    }
  }

  if (auto* file = std::get_if<FileOutput>(&config.sink); file && file->path.empty()) {
    return at.error(node, "path", "missing: a file output needs a path");
  }
  if (auto* webhook = std::get_if<WebhookOutput>(&config.sink); webhook && webhook->url.empty()) {
    return at.error(node, "url", "missing: a webhook output needs a url");
  }
  return config;
}

}  // namespace

Result<OutputsConfig> outputs_config_from_yaml(const YAML::Node& outputs, const std::string& source) {
  OutputsConfig config;
  try {
    if (!outputs || outputs.IsNull()) return config;
    if (!outputs.IsSequence()) {
      std::string where = source;
      if (outputs.Mark().line >= 0) where += ":" + std::to_string(outputs.Mark().line + 1);
      return fail(where + ": outputs must be a list of outputs, each a mapping with a type");
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto output = one_output(Place{source, i}, outputs[i]);
      if (!output) return std::unexpected(output.error());
      config.outputs.push_back(std::move(*output));
    }
  } catch (const YAML::Exception& e) {
    return fail(source + ": outputs: " + e.what());
  }
  return config;
}

}  // namespace vigil::outputs
