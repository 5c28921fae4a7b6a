// vigil rules check FILE... / vigil rules list [FILE...]: what a set of Falco-style rule files
// loads to, without running anything. vigil rules replay RULES... --capture FILE: the alerts
// those rules raise over a recorded capture, offline and without root.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "rules/replay.h"
#include "rules/rules.h"

namespace vigil::cli {
namespace {

struct RulesArgs {
  std::vector<std::string> files;
  bool json = false;
  bool unsupported_as_missing = false;
  bool interest = false;
  std::string capture;  // replay
  rules::LoadOptions options() const {
    rules::LoadOptions options;
    options.unsupported_fields_as_missing = unsupported_as_missing;
    return options;
  }
};

// `vigil rules list` without files: the tree's default rules, when there is one.
std::vector<std::string> default_rule_files() {
  for (const char* candidate : {"/etc/vigil/rules.yaml", "rules/default.yaml"}) {
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error)) return {candidate};
  }
  return {};
}

nlohmann::json diagnostics_json(const std::vector<rules::Diagnostic>& diagnostics) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : diagnostics) {
    list.push_back({{"file", d.file}, {"line", d.line}, {"column", d.column}, {"item", d.item}, {"message", d.message},
                    {"text", d.to_string()}});
  }
  return list;
}

// "file:line:col: error: rule 'x': message", the compiler convention.
void print_diagnostic(std::FILE* stream, const rules::Diagnostic& d, const char* kind) {
  std::string location = d.file;
  if (d.line > 0) location += ":" + std::to_string(d.line);
  if (d.line > 0 && d.column > 0) location += ":" + std::to_string(d.column);
  std::fprintf(stream, "%s: %s: %s%s%s\n", location.c_str(), kind, d.item.c_str(), d.item.empty() ? "" : ": ",
               d.message.c_str());
}

nlohmann::json counts_json(const rules::LoadReport& report) {
  return {{"loaded", report.loaded}, {"enabled", report.enabled}, {"skipped", report.skipped},
          {"failed", report.failed}, {"errors", report.errors.size()}, {"warnings", report.warnings.size()}};
}

int run_rules_check(const RulesArgs& args) {
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(args.files, report, args.options());
  if (args.json) {
    print_json({{"files", args.files},
                {"errors", diagnostics_json(report.errors)},
                {"warnings", diagnostics_json(report.warnings)},
                {"summary", counts_json(report)}});
  } else {
    for (const auto& d : report.errors) print_diagnostic(stdout, d, "error");
    for (const auto& d : report.warnings) print_diagnostic(stdout, d, "warning");
    std::printf("%zu rules loaded (%zu enabled), %zu skipped, %zu failed; %zu errors, %zu warnings\n", report.loaded,
                report.enabled, report.skipped, report.failed, report.errors.size(), report.warnings.size());
  }
  return report.ok() ? kExitOk : kExitFailures;
}

std::string event_types_text(const rules::RuleSummary& rule) {
  if (rule.all_event_types) return "*";
  std::string text;
  for (events::EventType type : rule.event_types) {
    if (!text.empty()) text += ",";
    text += events::event_type_name(type);
  }
  return text.empty() ? "-" : text;
}

nlohmann::json interest_json(const rules::Interest& interest) {
  nlohmann::json types = nlohmann::json::array();
  nlohmann::json paths = nlohmann::json::object();
  for (std::size_t index = 1; index < events::kEventTypeCount; ++index) {
    if (!interest.event_types.test(index)) continue;
    const auto type = static_cast<events::EventType>(index);
    types.push_back(events::event_type_name(type));
    const rules::PathInterest& path = interest.paths[index];
    if (!path.any_path)
      paths[std::string(events::event_type_name(type))] = {{"read_prefixes", path.read_prefixes},
                                                           {"write_prefixes", path.write_prefixes}};
  }
  return {{"all_event_types", interest.all_event_types}, {"event_types", types}, {"paths", paths}};
}

int run_rules_list(RulesArgs args) {
  if (args.files.empty()) args.files = default_rule_files();
  if (args.files.empty()) throw UsageError("no rule files given and no default rules found");
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(args.files, report, args.options());
  for (const auto& d : report.errors) print_diagnostic(stderr, d, "error");
  const std::vector<rules::RuleSummary> loaded = set.rules();
  if (args.interest) {
    // What the agent would program into the kernel for these rules.
    const nlohmann::json interest = interest_json(set.interest());
    if (args.json) {
      print_json(interest);
    } else {
      std::printf("all event types: %s\n", interest["all_event_types"].get<bool>() ? "yes" : "no");
      std::printf("event types: %s\n", interest["event_types"].dump().c_str());
      for (const auto& [type, prefixes] : interest["paths"].items())
        std::printf("%s: read %s write %s\n", type.c_str(), prefixes["read_prefixes"].dump().c_str(),
                    prefixes["write_prefixes"].dump().c_str());
    }
    return report.ok() ? kExitOk : kExitFailures;
  }
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& rule : loaded) {
      nlohmann::json types = nlohmann::json::array();
      for (events::EventType type : rule.event_types) types.push_back(events::event_type_name(type));
      list.push_back({{"name", rule.name},
                      {"priority", rules::priority_name(rule.priority)},
                      {"action", rules::action_name(rule.action)},
                      {"enabled", rule.enabled},
                      {"tags", rule.tags},
                      {"all_event_types", rule.all_event_types},
                      {"event_types", types},
                      {"file", rule.file},
                      {"line", rule.line}});
    }
    print_json({{"rules", list}, {"summary", counts_json(report)}});
  } else {
    for (const auto& rule : loaded) {
      std::printf("%s\t%s\t%s\t%s\t%s\t%s:%d\n", rule.name.c_str(), std::string(rules::priority_name(rule.priority)).c_str(),
                  event_types_text(rule).c_str(), std::string(rules::action_name(rule.action)).c_str(),
                  rule.enabled ? "enabled" : "disabled", rule.file.c_str(), rule.line);
    }
  }
  return report.ok() ? kExitOk : kExitFailures;
}

std::string wall_time_text(std::int64_t ns) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1'000'000'000));
  return text;
}

int run_rules_replay(const RulesArgs& args) {
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(args.files, report, args.options());
  for (const auto& d : report.errors) print_diagnostic(stderr, d, "error");
  if (!report.ok()) return kExitFailures;
  auto summary = rules::replay_capture(set, args.capture, [&](const rules::ReplayAlert& alert) {
    if (args.json) {
      nlohmann::json fields = nlohmann::json::object();
      for (const auto& [name, value] : alert.fields) fields[name] = value;
      print_json({{"time", wall_time_text(alert.time_ns)},
                  {"rule", alert.rule},
                  {"priority", rules::priority_name(alert.priority)},
                  {"output", alert.output},
                  {"output_fields", fields},
                  {"pid", alert.pid}});
    } else {
      std::printf("%s %s %s: %s\n", wall_time_text(alert.time_ns).c_str(),
                  std::string(rules::priority_name(alert.priority)).c_str(), alert.rule.c_str(), alert.output.c_str());
    }
  });
  if (!summary) throw UsageError(summary.error().message);
  std::fprintf(stderr, "vigil rules replay: %llu events, %llu alerts, %llu undecodable records\n",
               static_cast<unsigned long long>(summary->events), static_cast<unsigned long long>(summary->alerts),
               static_cast<unsigned long long>(summary->decode_errors));
  return kExitOk;
}

}  // namespace

void add_rules_command(CLI::App& app, int& exit_code) {
  CLI::App* rules = app.add_subcommand("rules", "Falco-compatible detection rules");
  rules->require_subcommand(1);

  auto check_args = std::make_shared<RulesArgs>();
  CLI::App* check = rules->add_subcommand("check", "Load rule files and report errors, warnings and counts");
  check->add_flag("--json", check_args->json, "Print one JSON document");
  check->add_flag("--unsupported-as-missing", check_args->unsupported_as_missing,
                  "Load rules that use fields vigil lacks, with those fields always missing");
  check->add_option("files", check_args->files, "Rule files, loaded in order")->required();
  check->callback([check_args, &exit_code] { exit_code = run_rules_check(*check_args); });

  auto list_args = std::make_shared<RulesArgs>();
  CLI::App* list = rules->add_subcommand("list", "List the rules the files load: name, priority, event types, action, source");
  list->add_flag("--json", list_args->json, "Print one JSON document");
  list->add_flag("--interest", list_args->interest,
                  "Print the interest analysis instead: event types and per-type path prefixes for the kernel");
  list->add_flag("--unsupported-as-missing", list_args->unsupported_as_missing,
                  "Load rules that use fields vigil lacks, with those fields always missing");
  list->add_option("files", list_args->files, "Rule files, loaded in order (default: rules/default.yaml)");
  list->callback([list_args, &exit_code] { exit_code = run_rules_list(*list_args); });

  auto replay_args = std::make_shared<RulesArgs>();
  CLI::App* replay = rules->add_subcommand(
      "replay", "Evaluate rules over a capture file (vigil capture -w) and print the alerts; no root needed");
  replay->add_option("--capture", replay_args->capture, "The capture file")->required()->check(CLI::ExistingFile);
  replay->add_flag("--json", replay_args->json, "Print one JSON object per alert and line");
  replay->add_flag("--unsupported-as-missing", replay_args->unsupported_as_missing,
                   "Load rules that use fields vigil lacks, with those fields always missing");
  replay->add_option("files", replay_args->files, "Rule files, loaded in order")->required();
  replay->callback([replay_args, &exit_code] { exit_code = run_rules_replay(*replay_args); });
}

}  // namespace vigil::cli
