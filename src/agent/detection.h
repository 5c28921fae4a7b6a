#pragma once
// Rules on the runtime events inside `vigil agent`: the rule set (config `rules`), what it
// needs from the kernel (syscalls, path filters), alerts to the outputs (config `outputs`) and
// the `action: kill` of matching rules. Called from the runtime pipeline's thread.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "common/error.h"
#include "events/event.h"
#include "outputs/outputs.h"
#include "probe/probe.h"
#include "rules/rules.h"

namespace vigil::state {
class ProcessTable;
}

namespace vigil::agent {

class Detection {
 public:
  // Loads the rule files (or the embedded default) and sets up the outputs. Rule errors fail
  // the start (file:line: reason); rules skipped for unsupported fields are only warned about.
  // `console_sink`, when given, receives every alert besides the configured outputs (the
  // console's store).
  static Result<std::unique_ptr<Detection>> start(const RuntimeConfig& config,
                                                  std::unique_ptr<outputs::AlertSink> console_sink = nullptr);
  ~Detection();

  // The syscalls to record: what the rules match plus what the process table needs for the
  // fields they use (descriptor and credential tracking). nullopt: everything.
  std::optional<std::vector<events::EventType>> wanted_types() const;
  // The in-kernel path filters the rules allow (empty when kernel_path_filter is off).
  std::map<events::EventType, probe::PathFilter> path_filters() const;
  // Syscalls on which a kill rule matches every call: the kernel kills at the call's return
  // (empty when rules.kill is off).
  std::vector<events::EventType> kernel_kill_types() const;

  // One event, before the process table applies it (rules::RuleSet's contract).
  void on_event(const events::Event& event, const state::ProcessTable& table, std::int64_t boot_to_wall_ns);

  nlohmann::json status() const;
  // The rules as the console shows them (docs/api.md "Rules"): loaded with hits, skipped with
  // reasons, warnings. Safe from any thread.
  nlohmann::json rules_json() const;
  struct RuleHit {
    std::string rule;
    std::uint64_t hits = 0;
    std::int64_t last_hit_ns = 0;
  };
  std::vector<RuleHit> rule_hits() const;
  const rules::LoadReport& load_report() const { return report_; }

 private:
  Detection() = default;
  void raise(const rules::Match& match, const events::Event& event, const state::ProcessTable& table,
             std::int64_t boot_to_wall_ns);

  rules::RuleSet rules_;
  rules::LoadReport report_;
  rules::Interest interest_;  // of the loaded rules, computed once
  std::unique_ptr<outputs::AlertOutputs> outputs_;
  bool kill_enabled_ = true;
  bool kernel_path_filter_ = true;
  pid_t self_ = 0;
  std::vector<std::string> sources_;  // rule files loaded, for status
  std::vector<rules::RuleSummary> summaries_;  // what loaded, computed once
  mutable std::mutex last_hit_mutex_;         // raise() writes, the console reads
  std::map<std::string, std::int64_t, std::less<>> last_hit_ns_;
  std::atomic<std::uint64_t> alerts_{0}, kills_{0}, kernel_kills_{0}, kill_failures_{0}, own_events_skipped_{0};
};

}  // namespace vigil::agent
