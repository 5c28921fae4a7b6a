#pragma once
// `vigil agent`: the integrity pillar running as a daemon. Owns the fanotify listener, the
// decision engine, the measurement list and PCR backend, and the audit log.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/console.h"
#include "common/error.h"
#include "image/image.h"

namespace vigil::agent {

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> start(AgentConfig config);
  ~Agent();
  // Re-reads policy and keyrings; on any error the old ones stay in force.
  Result<void> reload();
  void stop();
  nlohmann::json status() const;
  // Keeps `message` among the last errors status() reports (the daemon's logged errors).
  void note_error(std::string message);
  const AgentConfig& config() const;
  // Appends a verified container image to the measurement list (agent/image_socket.h).
  Result<void> record_image(const image::ImageMeasurement& measurement);
  // Where the console serves (empty when it is off).
  std::string console_url() const;

 private:
  struct Parts;
  explicit Agent(std::unique_ptr<Parts> parts);
  ConsoleSources console_sources() const;
  Result<void> reload_now();
  std::unique_ptr<Parts> parts_;
};

// Runs until SIGINT/SIGTERM; SIGHUP reloads. Prints one line when ready. Returns an exit code.
int run_agent(const std::string& config_path, const std::string& mode_override);

}  // namespace vigil::agent
