#include "agent/health.h"

#include "common/time_text.h"

namespace vigil::agent {
namespace {

std::uint64_t count_at(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return 0;
  const auto found = object.find(key);
  return found != object.end() && found->is_number_unsigned() ? found->get<std::uint64_t>() : 0;
}

const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  const auto found = object.find(key);
  return found != object.end() ? *found : kNull;
}

// Off parts report {"enabled": false}; running parts leave the key out.
bool part_on(const nlohmann::json& part) {
  if (!part.is_object()) return false;
  const auto enabled = part.find("enabled");
  return enabled == part.end() || !enabled->is_boolean() || enabled->get<bool>();
}

std::string counted(std::uint64_t n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

HealthTracker::Counters HealthTracker::counters_of(const nlohmann::json& status, Clock::time_point now) {
  Counters counters;
  counters.when = now;
  const nlohmann::json& runtime = member(status, "runtime");
  counters.events = count_at(runtime, "events");
  counters.drops = count_at(runtime, "drops");
  counters.timeouts = count_at(status, "timeouts");
  const nlohmann::json& outputs = member(member(runtime, "rules"), "outputs");
  if (outputs.is_array()) {
    for (const auto& sink : outputs) counters.output_failures += count_at(sink, "dropped") + count_at(sink, "failed");
  }
  return counters;
}

void HealthTracker::sample(const nlohmann::json& status, Clock::time_point now) {
  // At most one a second, however often clients ask: the history stays small.
  if (!samples_.empty() && now - samples_.back().when < std::chrono::seconds(1)) return;
  samples_.push_back(counters_of(status, now));
  // Keep just enough history for the longest window (one sample older than it, as its baseline).
  while (samples_.size() > 2 && now - samples_[1].when >= kProblemWindow) samples_.pop_front();
}

const HealthTracker::Counters* HealthTracker::baseline(Clock::time_point now, std::chrono::seconds window) const {
  for (const auto& sample : samples_) {
    if (now - sample.when <= window) return &sample;
  }
  return samples_.empty() ? nullptr : &samples_.back();
}

nlohmann::json HealthTracker::summary(const nlohmann::json& status, const StatusContext& context,
                                      Clock::time_point now) const {
  const Counters current = counters_of(status, now);
  const nlohmann::json& runtime = member(status, "runtime");
  const nlohmann::json& rules = member(runtime, "rules");
  const nlohmann::json& console = member(status, "console");
  const nlohmann::json& watch = member(status, "watch");
  const bool runtime_on = part_on(runtime);

  double events_per_second = 0;
  if (const Counters* base = baseline(now, kRateWindow); base && current.events >= base->events) {
    const double seconds = std::chrono::duration<double>(now - base->when).count();
    if (seconds >= 0.5) events_per_second = static_cast<double>(current.events - base->events) / seconds;
  }
  // Counters since the start of the problem window (or since the first sample, when younger).
  Counters recent;
  if (const Counters* base = baseline(now, kProblemWindow)) {
    auto delta = [](std::uint64_t now_value, std::uint64_t then) { return now_value >= then ? now_value - then : 0; };
    recent.drops = delta(current.drops, base->drops);
    recent.timeouts = delta(current.timeouts, base->timeouts);
    recent.output_failures = delta(current.output_failures, base->output_failures);
  } else {
    recent = current;
  }

  nlohmann::json problems = nlohmann::json::array();
  if (runtime.is_object() && runtime.contains("error")) {
    problems.push_back("the runtime pipeline stopped: " + runtime["error"].get<std::string>());
  }
  if (recent.drops > 0) problems.push_back(counted(recent.drops, "kernel events dropped in the last minute (ring buffer full)"));
  if (recent.timeouts > 0) {
    problems.push_back(counted(recent.timeouts, "permission decisions passed their deadline in the last minute"));
  }
  if (const std::uint64_t failures = count_at(status, "measurement_failures"); failures > 0) {
    problems.push_back(counted(failures, "files could not be measured: the measurement list is incomplete"));
  }
  if (recent.output_failures > 0) {
    problems.push_back(counted(recent.output_failures, "alerts could not be delivered to an output in the last minute"));
  }
  const nlohmann::json& reload = member(status, "reload");
  if (reload.is_object() && reload.value("result", "") == "failed") {
    problems.push_back("the last reload failed (" + reload.value("error", std::string()) +
                       "); the configuration before it stays in force");
  }

  const std::uint64_t allowed = count_at(status, "allowed"), denied = count_at(status, "denied");
  return {{"status", problems.empty() ? "healthy" : "degraded"},
          {"problems", problems},
          {"version", context.version},
          {"pid", context.pid},
          {"config", context.config},
          {"state_dir", context.state_dir},
          {"mode", member(status, "mode")},
          {"started", rfc3339_ns(context.started_ns)},
          {"uptime_s", context.uptime_s},
          {"pillars",
           {{"integrity", watch.is_array() && !watch.empty()},
            {"runtime", runtime_on},
            {"rules", runtime_on && rules.is_object()},
            {"console", part_on(console)}}},
          {"watch", watch.is_array() ? watch : nlohmann::json::array()},
          {"rules_loaded", count_at(rules, "loaded")},
          {"rules_enabled", count_at(rules, "enabled")},
          {"events", current.events},
          {"events_per_second", events_per_second},
          {"drops", current.drops},
          {"decisions",
           {{"total", allowed + denied}, {"allowed", allowed}, {"denied", denied}, {"timeouts", current.timeouts},
            {"cache_hits", count_at(status, "cache_hits")}}},
          {"denials", denied},
          {"alerts", count_at(rules, "alerts")},
          {"measurements", count_at(status, "measurement_list_entries")},
          {"measurement_failures", count_at(status, "measurement_failures")},
          {"console_url", console.is_object() ? console.value("url", std::string()) : std::string()},
          {"last_errors", member(status, "last_errors").is_array() ? member(status, "last_errors")
                                                                    : nlohmann::json::array()}};
}

}  // namespace vigil::agent
