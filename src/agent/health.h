#pragma once
// What `vigil status` shows: a summary of Agent::status() (pillars, rates, decisions,
// measurements, last errors) and a verdict, healthy or degraded, with the reasons. Pure: the
// status server feeds it samples of the agent's status and asks for the summary, so the rules
// are unit-tested on made-up statuses.
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include <nlohmann/json.hpp>

namespace vigil::agent {

// Facts about the running process that Agent::status() does not carry.
struct StatusContext {
  std::string version;
  std::int64_t pid = 0;
  std::string config;       // the config file ("built-in" without one)
  std::string state_dir;
  std::int64_t started_ns = 0;  // wall clock, for display
  std::int64_t uptime_s = 0;
};

class HealthTracker {
 public:
  using Clock = std::chrono::steady_clock;
  // How far back "recent" drops, timeouts and output failures count, and the rate's window.
  static constexpr std::chrono::seconds kProblemWindow{60};
  static constexpr std::chrono::seconds kRateWindow{10};

  // Remembers the counters of one Agent::status() (call every few seconds).
  void sample(const nlohmann::json& status, Clock::time_point now);
  // The summary documented in docs/install.md ("vigil status"), from the newest status.
  nlohmann::json summary(const nlohmann::json& status, const StatusContext& context, Clock::time_point now) const;

 private:
  struct Counters {
    Clock::time_point when;
    std::uint64_t events = 0, drops = 0, timeouts = 0, output_failures = 0;
  };
  static Counters counters_of(const nlohmann::json& status, Clock::time_point now);
  // The oldest sample no older than `window` (the newest when all are older); null when none.
  const Counters* baseline(Clock::time_point now, std::chrono::seconds window) const;

  std::deque<Counters> samples_;
};

}  // namespace vigil::agent
