#pragma once
// The verifier's alerts: one JSON line per agent state change to untrusted or unreachable,
// appended to a file (default <state>/alerts.jsonl) that log shippers tail.
#include <cstdint>
#include <mutex>
#include <string>

#include "common/error.h"

namespace vigil::attest {

struct StateAlert {
  int64_t time_ns = 0;
  std::string agent;
  std::string state;           // the new state: "untrusted" or "unreachable"
  std::string previous_state;
  std::string kind;            // "quote", "list-replay", "policy", ..., or "unreachable"
  std::string reason;
  int64_t failing_entry = -1;  // the first failing entry of the agent's list, policy failures
  std::string failing_path;
};

class AlertLog {
 public:
  explicit AlertLog(std::string path) : path_(std::move(path)) {}
  // Appends one line; the file is created with mode 0640 if missing.
  Result<void> append(const StateAlert& alert);
  const std::string& path() const { return path_; }

 private:
  std::mutex mutex_;
  std::string path_;
};

}  // namespace vigil::attest
