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

class RuntimeMonitor {
 public:
  // Opens the probes, seeds the process table from /proc and starts the reading thread.
  static Result<std::unique_ptr<RuntimeMonitor>> start(const RuntimeConfig& config);
  ~RuntimeMonitor();  // stops the thread, then detaches the probes
  nlohmann::json status() const;

 private:
  struct Pipeline;
  explicit RuntimeMonitor(std::unique_ptr<Pipeline> pipeline);
  void run();

  std::unique_ptr<Pipeline> pipeline_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vigil::agent
