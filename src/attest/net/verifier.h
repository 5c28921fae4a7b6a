#pragma once
// `vigil verifier`: HTTPS with mutual TLS (docs/attestation.md). On first start it makes its own
// CA and server certificate under the state directory and issues agent client certificates on
// request (`vigil verifier issue`); the agent id is the client certificate's CN.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "attest/net/registry.h"
#include "common/error.h"

namespace vigil::attest {

struct VerifierConfig {
  std::string state_dir = "/var/lib/vigil/verifier";
  std::string listen = "127.0.0.1:8881";     // port 0: pick one (tests)
  std::chrono::milliseconds interval{2000};  // rounds per agent
  int unreachable_after_intervals = 3;       // no evidence for this long: unreachable
  std::string alerts_path;                   // JSON lines of state changes to untrusted/unreachable; "" = state_dir/alerts.jsonl
  size_t worker_threads = 16;             // blocking I/O per connection (TLS, fsync): more than the cores
};

// The CA and certificates under state_dir (ca.crt/ca.key, server.crt/server.key), created if
// missing (ECDSA P-256; the server certificate names 127.0.0.1, ::1 and localhost plus `hosts`).
Result<void> ensure_verifier_pki(const std::string& state_dir, const std::vector<std::string>& hosts = {});
// Issues a client certificate for agent `id` into out_dir: agent.crt, agent.key (0600), ca.crt.
Result<void> issue_agent_certificate(const std::string& state_dir, const std::string& id, const std::string& out_dir);

class Verifier {
 public:
  static Result<std::unique_ptr<Verifier>> start(const VerifierConfig& config);
  virtual ~Verifier() = default;
  virtual int port() const = 0;
  virtual void stop() = 0;
  virtual Registry& registry() = 0;
};

}  // namespace vigil::attest
