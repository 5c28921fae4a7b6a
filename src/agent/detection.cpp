#include "agent/detection.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "agent/default_rules.h"
#include "agent/process_killer.h"
#include "agent/process_tree.h"
#include "common/time_text.h"
#include "event_header.h"
#include "path_filter.h"
#include "state/process_table.h"

namespace vigil::agent {
namespace {

using events::EventType;

// Both enums list Falco's priorities most severe first, with the same values.
static_assert(static_cast<int>(rules::Priority::emergency) == static_cast<int>(outputs::Priority::emergency) &&
              static_cast<int>(rules::Priority::debug) == static_cast<int>(outputs::Priority::debug));
outputs::Priority to_output_priority(rules::Priority priority) {
  return static_cast<outputs::Priority>(static_cast<int>(priority));
}

// Syscalls whose events keep descriptor state current for fd.* of later events.
constexpr EventType kDescriptorTracking[] = {EventType::socket, EventType::connect, EventType::accept,
                                             EventType::accept4, EventType::bind};
// Credential changes keep user.uid (effective ids) of the process table current.
constexpr EventType kCredentialTracking[] = {EventType::setuid, EventType::setreuid, EventType::setresuid,
                                             EventType::setgid, EventType::setregid, EventType::setresgid};

// Relative paths (fd.name, evt.arg.*) resolve against the process's cwd, which these keep
// current; they are rare, so capturing them costs nothing measurable.
constexpr EventType kDirectoryTracking[] = {EventType::chdir, EventType::fchdir};

bool is_syscall(EventType type) { return events::syscall_nr_of(type) >= 0; }

}  // namespace

Result<std::unique_ptr<Detection>> Detection::start(const RuntimeConfig& config,
                                                    std::unique_ptr<outputs::AlertSink> console_sink) {
  std::unique_ptr<Detection> detection(new Detection());
  detection->kill_enabled_ = config.rules.kill;
  detection->kernel_path_filter_ = config.rules.kernel_path_filter;
  detection->self_ = ::getpid();
  if (config.rules.files.empty()) {
    rules::RuleSource source{std::string(kEmbeddedDefaultRulesName), std::string(embedded_default_rules())};
    detection->rules_ = rules::RuleSet::load_sources(std::span(&source, 1), detection->report_);
    detection->sources_.push_back(source.name);
  } else {
    detection->rules_ = rules::RuleSet::load_files(config.rules.files, detection->report_);
    detection->sources_ = config.rules.files;
  }
  detection->interest_ = detection->rules_.interest();
  detection->summaries_ = detection->rules_.rules();
  const rules::LoadReport& report = detection->report_;
  if (!report.ok()) {
    std::string message = "rules: " + std::to_string(report.errors.size()) + " error(s):";
    for (const auto& error : report.errors) message += "\n  " + error.to_string();
    return fail(message);
  }
  for (const auto& warning : report.warnings) std::fprintf(stderr, "vigil agent: rules: %s\n", warning.to_string().c_str());
  std::fprintf(stderr, "vigil agent: rules: %zu loaded (%zu enabled), %zu skipped\n", report.loaded, report.enabled,
               report.skipped);

  outputs::OutputsConfig outputs_config = config.outputs;
  if (!config.outputs_given) {
    outputs::OutputConfig to_stdout;
    to_stdout.sink = outputs::StdoutOutput{.format = outputs::LineFormat::text};
    outputs::OutputConfig to_file;
    outputs::FileOutput file;
    file.path = (config.state_dir.empty() ? std::string("/var/lib/vigil") : config.state_dir) + "/alerts.jsonl";
    file.max_size_bytes = std::uint64_t{64} << 20;
    to_file.sink = file;
    outputs_config.outputs = {to_stdout, to_file};
  }
  auto outputs = outputs::make_outputs(outputs_config);
  if (!outputs) return fail("outputs: " + outputs.error().message);
  detection->outputs_ = std::move(*outputs);
  // Deep enough that a burst of alerts waits for the store instead of being dropped.
  if (console_sink) detection->outputs_->add(std::move(console_sink), outputs::DeliveryOptions{.min_priority = outputs::Priority::debug, .queue_size = 65536});
  return detection;
}

Detection::~Detection() {
  if (outputs_) outputs_->stop(std::chrono::seconds(2));
}

std::optional<std::vector<EventType>> Detection::wanted_types() const {
  const rules::Interest& interest = interest_;
  if (interest.all_event_types) return std::nullopt;
  std::vector<EventType> types;
  auto add = [&](EventType type) {
    if (is_syscall(type) && std::ranges::find(types, type) == types.end()) types.push_back(type);
  };
  for (std::size_t i = 0; i < events::kEventTypeCount; ++i)
    if (interest.event_types.test(i)) add(static_cast<EventType>(i));
  const bool uses_dups = interest.wants(EventType::dup) || interest.wants(EventType::dup2) || interest.wants(EventType::dup3);
  if (uses_dups)
    for (EventType type : kDescriptorTracking) add(type);
  for (EventType type : kCredentialTracking) add(type);
  bool uses_file_calls = false;
  for (EventType type : types) uses_file_calls |= events::record_type_of(type) == VIGIL_EVENT_SYSCALL_FILE;
  if (uses_file_calls)
    for (EventType type : kDirectoryTracking) add(type);
  return types;
}

std::map<EventType, probe::PathFilter> Detection::path_filters() const {
  std::map<EventType, probe::PathFilter> filters;
  if (!kernel_path_filter_) return filters;
  const rules::Interest& interest = interest_;
  if (interest.all_event_types) return filters;
  for (std::size_t i = 0; i < events::kEventTypeCount; ++i) {
    const auto type = static_cast<EventType>(i);
    if (!interest.event_types.test(i) || i >= interest.paths.size()) continue;
    const rules::PathInterest& paths = interest.paths[i];
    const std::int64_t nr = events::syscall_nr_of(type);
    if (paths.any_path || nr < 0 || !probe::path_filter_supported(static_cast<int>(nr))) continue;
    probe::PathFilter filter;
    filter.prefixes = paths.read_prefixes;
    filter.write_prefixes = paths.write_prefixes;
    // A prefix the kernel cannot hold (too long) falls back to its first 254 bytes: wider, never narrower.
    for (auto* list : {&filter.prefixes, &filter.write_prefixes})
      for (auto& prefix : *list)
        if (prefix.size() >= VIGIL_PATH_PREFIX_MAX) prefix.resize(VIGIL_PATH_PREFIX_MAX - 1);
    filters[type] = std::move(filter);
  }
  return filters;
}

std::vector<EventType> Detection::kernel_kill_types() const {
  std::vector<EventType> types;
  if (!kill_enabled_) return types;
  const auto kill = rules_.kernel_kill_types();
  for (std::size_t i = 0; i < events::kEventTypeCount; ++i)
    if (kill.test(i) && is_syscall(static_cast<EventType>(i))) types.push_back(static_cast<EventType>(i));
  return types;
}

void Detection::on_event(const events::Event& event, const state::ProcessTable& table, std::int64_t boot_to_wall_ns) {
  // The agent's own syscalls (its files, its eBPF map updates) are not evidence of anything.
  if (event.task.pid == static_cast<std::uint32_t>(self_)) {
    own_events_skipped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  rules_.evaluate(rules::EvalContext{event, &table, boot_to_wall_ns},
                  [&](const rules::Match& match) { raise(match, event, table, boot_to_wall_ns); });
}

void Detection::raise(const rules::Match& match, const events::Event& event, const state::ProcessTable& table,
                      std::int64_t boot_to_wall_ns) {
  outputs::Alert alert;
  alert.time_ns = static_cast<std::int64_t>(event.task.timestamp_ns) + boot_to_wall_ns;
  alert.rule = std::string(match.rule);
  alert.priority = to_output_priority(match.priority);
  alert.output = std::string(match.output);
  alert.tags.assign(match.tags.begin(), match.tags.end());
  for (const auto& field : match.fields) alert.output_fields[std::string(field.name)] = std::string(field.value);
  alert.pid = event.task.pid;
  alert.process_tree = process_tree_json(table, event.task.pid);
  {
    std::lock_guard lock(last_hit_mutex_);
    auto found = last_hit_ns_.find(match.rule);
    if (found == last_hit_ns_.end()) last_hit_ns_.emplace(std::string(match.rule), alert.time_ns);
    else found->second = std::max(found->second, alert.time_ns);
  }
  const state::Process* process = table.find(event.task.pid);
  if (process != nullptr && process->container) {
    if (process->container->id != "host") {
      alert.container_id = process->container->id;
      alert.container_name = process->container->name;
    }
  }
  if (match.action == rules::Action::kill) {
    if (!kill_enabled_) {
      alert.action = "kill-disabled";
    } else if (event.syscall.killed_in_kernel) {
      alert.action = "kill-in-kernel";
      kernel_kills_.fetch_add(1, std::memory_order_relaxed);
    } else {
      KillOutcome outcome = kill_process(KillTarget{.pid = static_cast<pid_t>(event.task.pid),
                                                    .start_boot_ns = process ? process->start_time_ns : 0,
                                                    .event_boot_ns = event.task.timestamp_ns});
      alert.action = outcome.killed ? "kill" : "kill-failed: " + outcome.detail;
      (outcome.killed ? kills_ : kill_failures_).fetch_add(1, std::memory_order_relaxed);
    }
  }
  alerts_.fetch_add(1, std::memory_order_relaxed);
  outputs_->publish(alert);
}

nlohmann::json Detection::status() const {
  nlohmann::json rules_status;
  rules_status["sources"] = sources_;
  rules_status["loaded"] = report_.loaded;
  rules_status["enabled"] = report_.enabled;
  rules_status["skipped"] = report_.skipped;
  nlohmann::json warnings = nlohmann::json::array();
  for (const auto& warning : report_.warnings) warnings.push_back(warning.to_string());
  rules_status["warnings"] = warnings;
  const rules::EvalCounters counters = rules_.counters();
  rules_status["events_evaluated"] = counters.events;
  rules_status["rule_evaluations"] = counters.rule_evaluations;
  rules_status["matches"] = counters.matches;
  rules_status["eval_ns"] = counters.eval_ns;
  nlohmann::json hits = nlohmann::json::object();
  for (const auto& rule : rules_.rule_counters())
    if (rule.matches != 0) hits[std::string(rule.rule)] = rule.matches;
  rules_status["hits"] = hits;
  rules_status["alerts"] = alerts_.load();
  rules_status["kills"] = kills_.load();
  rules_status["kernel_kills"] = kernel_kills_.load();
  rules_status["kill_failures"] = kill_failures_.load();
  rules_status["own_events_skipped"] = own_events_skipped_.load();
  nlohmann::json sinks = nlohmann::json::array();
  for (const auto& sink : outputs_->status()) {
    sinks.push_back({{"name", sink.name},
                     {"delivered", sink.delivered},
                     {"dropped", sink.dropped},
                     {"failed", sink.failed},
                     {"last_error", sink.last_error}});
  }
  rules_status["outputs"] = sinks;
  return rules_status;
}

std::vector<Detection::RuleHit> Detection::rule_hits() const {
  std::vector<RuleHit> hits;
  std::lock_guard lock(last_hit_mutex_);
  for (const auto& rule : rules_.rule_counters()) {
    RuleHit hit{std::string(rule.rule), rule.matches, 0};
    if (auto found = last_hit_ns_.find(rule.rule); found != last_hit_ns_.end()) hit.last_hit_ns = found->second;
    hits.push_back(std::move(hit));
  }
  return hits;
}

nlohmann::json Detection::rules_json() const {
  std::map<std::string, RuleHit> hits;
  for (auto& hit : rule_hits()) hits[hit.rule] = hit;
  nlohmann::json loaded = nlohmann::json::array();
  for (const auto& rule : summaries_) {
    nlohmann::json item = {{"name", rule.name},
                           {"description", rule.description},
                           {"priority", rules::priority_name(rule.priority)},
                           {"enabled", rule.enabled},
                           {"tags", rule.tags},
                           {"action", rules::action_name(rule.action)},
                           {"source", rule.file + ":" + std::to_string(rule.line)},
                           {"hits", 0}};
    if (auto found = hits.find(rule.name); found != hits.end()) {
      item["hits"] = found->second.hits;
      if (found->second.last_hit_ns != 0) item["last_hit"] = rfc3339_ns(found->second.last_hit_ns);
    }
    loaded.push_back(std::move(item));
  }
  // Rules left out are warnings on the rule's item that end in "skipped" (rules::RuleSet::load_*).
  nlohmann::json skipped = nlohmann::json::array();
  nlohmann::json warnings = nlohmann::json::array();
  constexpr std::string_view kRulePrefix = "rule '";
  for (const auto& warning : report_.warnings) {
    warnings.push_back(warning.to_string());
    const bool is_rule = warning.item.starts_with(kRulePrefix) && warning.item.ends_with("'");
    if (is_rule && warning.message.ends_with("skipped")) {
      skipped.push_back({{"name", warning.item.substr(kRulePrefix.size(), warning.item.size() - kRulePrefix.size() - 1)},
                         {"reason", warning.message},
                         {"source", warning.file + ":" + std::to_string(warning.line)}});
    }
  }
  const rules::EvalCounters counters = rules_.counters();
  return {{"enabled", true},
          {"sources", sources_},
          {"loaded", loaded},
          {"skipped", skipped},
          {"warnings", warnings},
          {"counters",
           {{"events_evaluated", counters.events}, {"matches", counters.matches}, {"eval_ns", counters.eval_ns}}}};
}

}  // namespace vigil::agent
