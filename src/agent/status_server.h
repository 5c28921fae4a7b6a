#pragma once
// The agent's local status socket (`vigil status`): an AF_UNIX stream socket in the state
// directory. A client connects and reads one JSON document (HealthTracker::summary), then
// EOF; it sends nothing. Access is the file system's (the state directory is 0700, the socket
// 0600) and, checked again on every connection with SO_PEERCRED, only root or the agent's own
// user is answered. Between requests the server samples the agent's counters every
// kSampleInterval so the summary can tell rates and what happened in the last minute.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/health.h"
#include "common/error.h"

namespace vigil::agent {

class StatusServer {
 public:
  static constexpr std::chrono::seconds kSampleInterval{2};
  // `status`: Agent::status(); `context`: the process facts (uptime is filled in per request).
  // Fails when the path is too long for AF_UNIX, cannot be bound, or another agent answers
  // on it (two agents on one state directory would corrupt each other's measurement list).
  static Result<std::unique_ptr<StatusServer>> start(std::string socket_path,
                                                     std::function<nlohmann::json()> status, StatusContext context);
  ~StatusServer();  // stops the thread and removes the socket
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

 private:
  StatusServer() = default;
  void run();
  void answer(int client);

  std::string path_;
  std::function<nlohmann::json()> status_;
  StatusContext context_;
  HealthTracker tracker_;  // touched by the server thread only
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: written to stop the thread
  std::thread thread_;
};

// The default socket of an agent whose state directory is `state_dir`.
std::string status_socket_path(const std::string& state_dir);
// True when an agent answers on `socket_path` (checked before starting a second one).
bool agent_answers(const std::string& socket_path);

}  // namespace vigil::agent
