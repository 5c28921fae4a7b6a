#include <chrono>
#include <cctype>
#include <fstream>
#include <sstream>

#include "rules/compiler.h"
#include "rules/extractor.h"
#include "rules/interest.h"
#include "rules/rules.h"

namespace vigil::rules {

namespace {

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

std::string_view priority_name(Priority priority) noexcept {
  switch (priority) {
    case Priority::emergency: return "Emergency";
    case Priority::alert: return "Alert";
    case Priority::critical: return "Critical";
    case Priority::error: return "Error";
    case Priority::warning: return "Warning";
    case Priority::notice: return "Notice";
    case Priority::informational: return "Informational";
    case Priority::debug: return "Debug";
  }
  return "?";
}

bool parse_priority(std::string_view name, Priority& out) noexcept {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  constexpr std::pair<std::string_view, Priority> kNames[] = {
      {"emergency", Priority::emergency}, {"alert", Priority::alert},     {"critical", Priority::critical},
      {"error", Priority::error},         {"warning", Priority::warning}, {"notice", Priority::notice},
      {"informational", Priority::informational}, {"info", Priority::informational}, {"debug", Priority::debug}};
  for (const auto& [text, priority] : kNames) {
    if (lower == text) {
      out = priority;
      return true;
    }
  }
  return false;
}

std::string_view action_name(Action action) noexcept { return action == Action::kill ? "kill" : "alert"; }

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (line > 0 && column > 0) out += ":" + std::to_string(column);
  out += ": ";
  if (!item.empty()) out += item + ": ";
  out += message;
  return out;
}

struct CompiledRule {
  std::string name;
  std::string description;
  Priority priority = Priority::warning;
  Action action = Action::alert;
  std::vector<std::string> tags;
  bool enabled = true;
  Node root;
  OutputTemplate output;
  TypeSet types;
  bool uses_dns_names = false;  // fd.*ip.name: the DNS answers (recvfrom/recvmsg) must be captured
  Location where;
  std::uint64_t evaluations = 0;
  std::uint64_t matches = 0;
};

struct RuleSet::Impl {
  std::vector<CompiledRule> rules;
  std::vector<std::vector<std::uint32_t>> by_type = std::vector<std::vector<std::uint32_t>>(events::kEventTypeCount);
  Extractor extractor;
  EvalCounters counters;
  std::uint64_t event_number = 0;
  // Match path buffers, reused.
  std::string output_line;
  std::vector<std::string> field_values;
  std::vector<OutputField> fields;

  void index() {
    for (auto& list : by_type) list.clear();
    for (std::uint32_t i = 0; i < rules.size(); ++i) {
      if (!rules[i].enabled) continue;
      for (std::size_t type = 0; type < events::kEventTypeCount; ++type) {
        if (rules[i].types.types.test(type)) by_type[type].push_back(i);
      }
    }
  }

  void load(std::span<const RuleSource> sources, LoadReport& report, const LoadOptions& options) {
    Definitions defs;
    for (const RuleSource& source : sources) read_rule_file(source.text, source.name, defs, report);
    SlotTable slots;
    Compiler compiler(defs, slots);
    for (const RuleDef& def : defs.rules) {
      const std::string label = "rule '" + def.name + "'";
      if (def.source != "syscall") {
        report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label,
                                             "source '" + def.source + "' is not supported (only syscall): skipped"});
        ++report.skipped;
        continue;
      }
      CompiledCondition condition;
      if (auto error = compiler.compile_rule(def, condition)) {
        report.errors.push_back(std::move(*error));
        ++report.failed;
        continue;
      }
      std::set<std::string> output_unsupported;
      OutputTemplate output;
      if (auto error = compiler.compile_output(def, output, output_unsupported)) {
        report.errors.push_back(std::move(*error));
        ++report.failed;
        continue;
      }
      if (!condition.unsupported_fields.empty() && options.compatibility_mode && options.unsupported_fields_as_missing) {
        report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label,
                                             "field(s) vigil does not support are always missing: " +
                                                 join(condition.unsupported_fields)});
      } else if (!condition.unsupported_fields.empty()) {
        const std::string message = "uses field(s) vigil does not support: " + join(condition.unsupported_fields);
        if (options.compatibility_mode) {
          report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label, message + "; skipped"});
          ++report.skipped;
        } else {
          report.errors.push_back(Diagnostic{def.where.file, def.where.line, 0, label, message});
          ++report.failed;
        }
        continue;
      }
      if (!output_unsupported.empty()) {
        report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label,
                                             "output field(s) vigil does not support print <NA>: " +
                                                 join(output_unsupported)});
      }
      CompiledRule rule;
      rule.name = def.name;
      rule.description = def.description;
      rule.priority = def.priority;
      rule.action = def.action;
      rule.tags = def.tags;
      rule.enabled = def.enabled;
      rule.root = std::move(condition.root);
      rule.output = std::move(output);
      rule.types = event_types_of(rule.root);
      rule.uses_dns_names = condition.uses_dns_names;
      for (const OutputTemplate::Piece& piece : rule.output.pieces) {
        if (piece.field && (piece.field->id == FieldId::fd_sip_name || piece.field->id == FieldId::fd_cip_name ||
                            piece.field->id == FieldId::fd_lip_name || piece.field->id == FieldId::fd_rip_name)) {
          rule.uses_dns_names = true;
        }
      }
      rule.where = def.where;
      if (rule.types.types.none()) {
        report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label,
                                             "can never match: vigil captures none of its event types"});
      } else if (!condition.uncaptured_event_types.empty()) {
        report.warnings.push_back(Diagnostic{def.where.file, def.where.line, 0, label,
                                             "event type(s) vigil does not capture never match: " +
                                                 join(condition.uncaptured_event_types)});
      }
      ++report.loaded;
      if (rule.enabled) ++report.enabled;
      rules.push_back(std::move(rule));
    }
    for (Diagnostic& error : compiler.check_unused_macros()) report.errors.push_back(std::move(error));
    extractor.set_slot_count(slots.size());
    std::size_t most_fields = 0;
    for (const CompiledRule& rule : rules) most_fields = std::max(most_fields, rule.output.field_count);
    field_values.resize(most_fields);
    fields.resize(most_fields);
    index();
  }

  void emit(CompiledRule& rule, MatchSink& sink) {
    output_line.clear();
    std::size_t field = 0;
    for (const OutputTemplate::Piece& piece : rule.output.pieces) {
      output_line += piece.literal;
      if (!piece.has_field) continue;
      std::string& value = field_values[field];
      if (!piece.field || !extractor.render(*piece.field, piece.slot, value)) value.assign("<NA>");
      output_line += value;
      fields[field] = OutputField{piece.field_text, value};
      ++field;
    }
    Match match;
    match.rule = rule.name;
    match.priority = rule.priority;
    match.action = rule.action;
    match.tags = rule.tags;
    match.output = output_line;
    match.fields = std::span<const OutputField>(fields.data(), field);
    sink(match);
  }
};

RuleSet::RuleSet() : impl_(std::make_unique<Impl>()) {}
RuleSet::~RuleSet() = default;
RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;

RuleSet RuleSet::load_sources(std::span<const RuleSource> sources, LoadReport& report, const LoadOptions& options) {
  RuleSet set;
  set.impl_->load(sources, report, options);
  return set;
}

RuleSet RuleSet::load_files(std::span<const std::string> paths, LoadReport& report, const LoadOptions& options) {
  std::vector<RuleSource> sources;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      report.errors.push_back(Diagnostic{path, 0, 0, "", "cannot read the file"});
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    sources.push_back(RuleSource{path, text.str()});
  }
  return load_sources(sources, report, options);
}

std::size_t RuleSet::size() const { return impl_->rules.size(); }

std::vector<RuleSummary> RuleSet::rules() const {
  std::vector<RuleSummary> out;
  for (const CompiledRule& rule : impl_->rules) {
    RuleSummary summary;
    summary.name = rule.name;
    summary.description = rule.description;
    summary.priority = rule.priority;
    summary.action = rule.action;
    summary.tags = rule.tags;
    summary.enabled = rule.enabled;
    summary.file = rule.where.file;
    summary.line = rule.where.line;
    std::bitset<events::kEventTypeCount> every;
    every.set();
    every.reset(0);
    summary.all_event_types = rule.types.types == every;
    if (!summary.all_event_types) {
      for (std::size_t type = 1; type < events::kEventTypeCount; ++type) {
        if (rule.types.types.test(type)) summary.event_types.push_back(static_cast<events::EventType>(type));
      }
    }
    out.push_back(std::move(summary));
  }
  return out;
}

bool RuleSet::set_enabled(std::string_view name, bool enabled) {
  bool found = false;
  for (CompiledRule& rule : impl_->rules) {
    if (rule.name == name) {
      rule.enabled = enabled;
      found = true;
    }
  }
  if (found) impl_->index();
  return found;
}

void RuleSet::evaluate(const EvalContext& context, MatchSink sink) {
  Impl& impl = *impl_;
  const auto start = std::chrono::steady_clock::now();
  ++impl.counters.events;
  impl.extractor.begin(context, ++impl.event_number);
  const auto type = static_cast<std::size_t>(context.event.type);
  if (type < events::kEventTypeCount) {
    for (const std::uint32_t index : impl.by_type[type]) {
      CompiledRule& rule = impl.rules[index];
      ++rule.evaluations;
      ++impl.counters.rule_evaluations;
      if (!evaluate_node(rule.root, impl.extractor)) continue;
      ++rule.matches;
      ++impl.counters.matches;
      impl.emit(rule, sink);
    }
  }
  impl.counters.eval_ns += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}

std::bitset<events::kEventTypeCount> RuleSet::kernel_kill_types() const {
  std::bitset<events::kEventTypeCount> types;
  for (const CompiledRule& rule : impl_->rules)
    if (rule.enabled && rule.action == Action::kill && rule.types.exact) types |= rule.types.types;
  return types;
}

Interest RuleSet::interest() const {
  Interest interest;
  std::vector<bool> seen_path(events::kEventTypeCount, false);
  std::bitset<events::kEventTypeCount> every;
  every.set();
  every.reset(0);
  for (const CompiledRule& rule : impl_->rules) {
    if (!rule.enabled) continue;
    if (rule.types.types == every) interest.all_event_types = true;
    if (rule.uses_dns_names) {
      interest.event_types.set(static_cast<std::size_t>(events::EventType::recvfrom));
      interest.event_types.set(static_cast<std::size_t>(events::EventType::recvmsg));
    }
    for (std::size_t index = 1; index < events::kEventTypeCount; ++index) {
      if (!rule.types.types.test(index)) continue;
      const auto type = static_cast<events::EventType>(index);
      if (!is_path_event_type(type)) {
        interest.event_types.set(index);
        continue;
      }
      const PathSet paths = path_constraint(rule.root, type);
      if (paths.never) continue;
      interest.event_types.set(index);
      PathInterest& path = interest.paths[index];
      if (!seen_path[index]) {
        path = PathInterest{false, {}, {}};
        seen_path[index] = true;
      }
      add_path_interest(path, paths);
    }
  }
  for (std::size_t index = 0; index < events::kEventTypeCount; ++index) {
    if (seen_path[index]) finish_path_interest(interest.paths[index]);
  }
  return interest;
}

std::vector<RuleCounters> RuleSet::rule_counters() const {
  std::vector<RuleCounters> out;
  for (const CompiledRule& rule : impl_->rules) out.push_back(RuleCounters{rule.name, rule.evaluations, rule.matches});
  return out;
}

EvalCounters RuleSet::counters() const { return impl_->counters; }

}  // namespace vigil::rules
