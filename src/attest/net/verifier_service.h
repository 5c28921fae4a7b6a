#pragma once
// The verifier's protocol (docs/attestation.md) without the transport: each request, given the
// agent id its client certificate proved, becomes a status and a JSON body. verifier.cpp puts it
// behind mutual TLS; tests and benchmarks can drive it directly.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "attest/net/alert_log.h"
#include "attest/net/registry.h"
#include "attest/net/secret_vault.h"
#include "attest/runtime_policy.h"
#include "tpm/tpm_public.h"

namespace vigil::attest {

struct ServiceReply {
  int status = 200;
  std::string body;  // JSON; errors are {"error": "..."}
};

struct ServiceConfig {
  std::chrono::milliseconds interval{2000};
  int unreachable_after_intervals = 3;
  std::string vault_key_path;  // <state>/vault.key
  // This verifier among those sharing a registry (leases, docs/fleet.md): unique per process.
  std::string verifier_id = "verifier";
};

class VerifierService {
 public:
  VerifierService(ServiceConfig config, std::unique_ptr<Registry> registry, std::unique_ptr<AlertLog> alerts);

  ServiceReply enroll(const std::string& agent_id, std::string_view body);
  ServiceReply activate(const std::string& agent_id, std::string_view body);
  ServiceReply challenge(const std::string& agent_id);
  ServiceReply evidence(const std::string& agent_id, std::string_view body);
  ServiceReply secret(const std::string& agent_id, const std::string& name);
  ServiceReply agents();
  // Marks trusted agents without evidence for unreachable_after_intervals intervals unreachable.
  void check_reachability(int64_t now_ns);

  Registry& registry() { return *registry_; }
  const ServiceConfig& config() const { return config_; }

 private:
  struct PendingEnrolment {
    std::vector<uint8_t> ak_public;
    std::vector<uint8_t> secret;
  };
  struct ParsedPolicy {
    std::string json;
    std::shared_ptr<const RuntimePolicy> policy;
  };

  std::shared_ptr<std::mutex> agent_lock(const std::string& agent_id);
  Result<std::shared_ptr<const RuntimePolicy>> policy_for(const AgentRecord& agent);
  std::optional<std::vector<uint8_t>> take_nonce(const std::string& agent_id);
  // The agent's lease for this verifier (taken or renewed for 1.5 intervals); a reply when
  // another verifier holds it or the registry failed.
  std::optional<ServiceReply> hold_lease(const std::string& agent_id);
  void record_transition(const AgentRecord& before, const AgentRecord& after, int64_t failing_entry,
                         const std::string& failing_path, const std::string& kind);
  ServiceReply refuse_secret(const std::string& agent_id, const std::string& name, int status, const std::string& reason);

  ServiceConfig config_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<AlertLog> alerts_;

  std::mutex mutex_;  // guards the maps below (not the registry, which has its own)
  std::map<std::string, std::shared_ptr<std::mutex>> agent_locks_;
  std::map<std::string, PendingEnrolment> pending_;
  std::map<std::string, std::vector<uint8_t>> nonces_;
  std::map<std::string, ParsedPolicy> policies_;
  std::optional<SecretVault> vault_;
};

}  // namespace vigil::attest
