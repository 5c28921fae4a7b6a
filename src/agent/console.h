#pragma once
// The console inside `vigil agent` (config `console`): the store the pillars feed, and the
// HTTP server (API, live stream, /metrics, dashboard) reading it and the agent's live state.
// Started in two steps: the store first, so the pillars can be given its feed as they start;
// the server last, once there is something to show.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/console_feed.h"
#include "common/error.h"
#include "web/http/server.h"

namespace vigil::agent {

class RuntimeMonitor;

// What the server asks the running agent (its parts may be absent: runtime off).
struct ConsoleSources {
  std::function<nlohmann::json()> status;     // Agent::status()
  std::function<nlohmann::json()> integrity;  // docs/api.md "Integrity"
  std::function<nlohmann::json()> policy;     // the IMA policy in force
  const RuntimeMonitor* runtime = nullptr;
  std::string mode;
  std::vector<std::string> watch;
};

// The most descriptors the console holds while it runs (its connections are capped at
// console.max_connections): the agent keeps them out of the fanotify listener's share.
int console_descriptor_budget(const ConsoleConfig& config);

class Console {
 public:
  // Opens (creating) the store and the token. Fails naming the file.
  static Result<std::unique_ptr<Console>> open(const ConsoleConfig& config);
  ~Console();
  ConsoleFeed& feed();
  // Binds the server; fails when the address is taken or TLS files do not load.
  Result<void> serve(ConsoleSources sources, web::StaticFiles files);
  // "http://127.0.0.1:7373/"; empty before serve().
  std::string url() const;
  // {"url", "store": {...}, "http_requests": {...}, "stream_clients"}
  nlohmann::json status() const;
  // Stops answering requests (before the parts the server reads from go away).
  void stop_serving();
  // Commits what the store has queued (after the pillars stopped feeding it).
  void flush();
  void stop();  // both

 private:
  struct Parts;
  explicit Console(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace vigil::agent
