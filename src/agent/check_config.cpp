#include "agent/check_config.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <span>

#include "agent/config.h"
#include "agent/default_rules.h"
#include "agent/integrity_engine.h"
#include "rules/rules.h"

namespace vigil::agent {
namespace {

void add_lines(std::vector<std::string>& out, const std::string& text, const std::string& kind,
               const std::string& fallback) {
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty()) out.push_back(diagnostic_line(line, kind, fallback));
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

void check_readable(ConfigCheck& check, const std::string& source, const std::string& what, const std::string& path) {
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
    check.errors.push_back(source + ": error: " + what + " " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

std::string diagnostic_line(const std::string& message, const std::string& kind, const std::string& fallback) {
  // file:line: or file:line:column: at the start (file names may hold colons; the digits anchor it).
  static const std::regex kLocated(R"(^(.*?:[0-9]+(:[0-9]+)?): (.*)$)");
  std::smatch match;
  if (std::regex_match(message, match, kLocated)) return match[1].str() + ": " + kind + ": " + match[3].str();
  return fallback + ": " + kind + ": " + message;
}

ConfigCheck check_config(const std::string& path) {
  ConfigCheck check;
  auto config = load_config(path);
  if (!config) {
    add_lines(check.errors, config.error().message, "error", path);
    return check;
  }
  const AgentConfig& cfg = *config;

  nlohmann::json policy = nullptr;
  if (auto ruleset = load_ruleset(cfg); !ruleset) {
    add_lines(check.errors, ruleset.error().message, "error", path);
  } else {
    for (const auto& warning : (*ruleset)->warnings) add_lines(check.warnings, warning, "warning", path);
    nlohmann::json keyrings = nlohmann::json::array();
    for (const auto& [name, keyring] : (*ruleset)->keyrings) keyrings.push_back(name);
    policy = {{"source", (*ruleset)->policy_source}, {"rules", (*ruleset)->policy.rules.size()}, {"keyrings", keyrings}};
  }

  nlohmann::json detection = {{"enabled", false}};
  if (cfg.runtime.enabled && cfg.runtime.rules.enabled) {
    rules::LoadReport report;
    std::vector<std::string> sources;
    if (cfg.runtime.rules.files.empty()) {
      rules::RuleSource source{std::string(kEmbeddedDefaultRulesName), std::string(embedded_default_rules())};
      (void)rules::RuleSet::load_sources(std::span(&source, 1), report);
      sources.push_back(source.name);
    } else {
      (void)rules::RuleSet::load_files(cfg.runtime.rules.files, report);
      sources = cfg.runtime.rules.files;
    }
    for (const auto& error : report.errors) add_lines(check.errors, error.to_string(), "error", path);
    for (const auto& warning : report.warnings) add_lines(check.warnings, warning.to_string(), "warning", path);
    detection = {{"enabled", true}, {"sources", sources}, {"loaded", report.loaded}, {"enabled_rules", report.enabled},
                 {"skipped", report.skipped}};
  }

  if (cfg.console.enabled) {
    check_readable(check, path, "console.tls_cert", cfg.console.tls_cert);
    check_readable(check, path, "console.tls_key", cfg.console.tls_key);
  }
  if (cfg.state_dir.empty() || cfg.state_dir[0] != '/') {
    check.warnings.push_back(path + ": warning: state_dir '" + cfg.state_dir +
                             "' is relative: it depends on the directory the agent starts in");
  }
  for (const auto& mount : cfg.watch) {
    std::error_code error;
    if (!std::filesystem::is_directory(mount, error)) {
      check.warnings.push_back(path + ": warning: watch: " + mount + " is not a directory on this host");
    }
  }

  check.summary = {{"config", path},
                   {"mode", mode_name(cfg.mode)},
                   {"state_dir", cfg.state_dir},
                   {"watch", cfg.watch},
                   {"policy", policy},
                   {"runtime", cfg.runtime.enabled},
                   {"rules", detection},
                   {"console", cfg.console.enabled ? cfg.console.address + ":" + std::to_string(cfg.console.port)
                                                   : std::string("off")}};
  return check;
}

}  // namespace vigil::agent
