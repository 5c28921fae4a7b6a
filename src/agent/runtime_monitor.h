#pragma once
// The runtime-detection pillar inside `vigil agent`: the live eBPF event source feeding the
// process table (with container attribution), on one thread of its own, with counters for
// status.json (and, later, /metrics). Rules consume the same events in a later issue.
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "agent/config.h"

namespace vigil::agent {

class ConsoleFeed;

class RuntimeMonitor {
 public:
  // Opens the probes, seeds the process table from /proc and starts the reading thread. With a
  // console feed, alerts, activity series, sampled events and rule hits also go to its store.
  static Result<std::unique_ptr<RuntimeMonitor>> start(const RuntimeConfig& config, ConsoleFeed* console = nullptr,
                                                       unsigned events_sampled_per_bucket = 5);
  ~RuntimeMonitor();  // stops the thread, then detaches the probes
  nlohmann::json status() const;

  // For the console; each takes the table's lock briefly. See docs/api.md for the shapes.
  nlohmann::json processes_json(const std::optional<std::string>& container_id) const;
  nlohmann::json running_containers_json() const;
  nlohmann::json process_tree_json(std::uint32_t pid) const;
  // nullopt when rules are off.
  std::optional<nlohmann::json> rules_json() const;

 private:
  struct Pipeline;
  explicit RuntimeMonitor(std::unique_ptr<Pipeline> pipeline);
  void run();
  void record_rule_hits();

  std::unique_ptr<Pipeline> pipeline_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vigil::agent
