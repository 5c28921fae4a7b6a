#pragma once
// `vigil verifier`: HTTPS with mutual TLS (docs/attestation.md). On first start it makes its own
// CA and server certificate under the state directory and issues agent client certificates on
// request (`vigil verifier issue`); the agent id is the client certificate's CN.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "attest/net/registry.h"
#include "common/error.h"

namespace vigil::attest {

struct VerifierConfig {
  std::string state_dir = "/var/lib/vigil/verifier";
  std::string listen = "127.0.0.1:8881";     // port 0: pick one (tests)
  std::chrono::milliseconds interval{2000};  // rounds per agent
  int unreachable_after_intervals = 3;       // no evidence for this long: unreachable
  // The registry: "" for SQLite in state_dir/verifier.db, or a postgresql:// URL (docs/fleet.md)
  // with a pool of at most database_connections, whatever the number of cores or workers.
  std::string database;
  size_t database_connections = 4;
  // This verifier's name in the leases of a shared registry; "" = host:pid:random.
  std::string verifier_id;
  std::string alerts_path;                   // JSON lines of state changes to untrusted/unreachable; "" = state_dir/alerts.jsonl
  size_t worker_threads = 16;             // requests served at once (each may wait on the registry's fsync)
  // Connections open at once, in total and from one IPv4 address (or IPv6 /64); more are closed
  // as they are accepted. The total is lowered to fit RLIMIT_NOFILE (its soft limit raised to
  // the hard one first), keeping 64 descriptors for the rest of the verifier.
  int max_connections = 1024;
  int max_connections_per_peer = 64;
  // A TLS handshake must finish within this from the connection's accept, whatever the peer
  // trickles (handshakes run in one epoll thread, non-blocking, never in the workers).
  std::chrono::milliseconds handshake_deadline{5000};
};

// The CA and certificates under state_dir (ca.crt/ca.key, server.crt/server.key), created if
// missing (ECDSA P-256; the server certificate names 127.0.0.1, ::1 and localhost plus `hosts`).
Result<void> ensure_verifier_pki(const std::string& state_dir, const std::vector<std::string>& hosts = {});
// Issues a client certificate for agent `id` into out_dir: agent.crt, agent.key (0600), ca.crt.
// Its organization is "vigil agent": the role the verifier serves the agent routes to.
Result<void> issue_agent_certificate(const std::string& state_dir, const std::string& id, const std::string& out_dir);
// Issues an operator's client certificate (organization "vigil operator", CN `name`) into
// out_dir: operator.crt, operator.key (0600), ca.crt. Operators may read the registry over HTTPS
// (GET /v1/agents); they cannot act as agents, and agents cannot read the registry.
Result<void> issue_operator_certificate(const std::string& state_dir, const std::string& name,
                                        const std::string& out_dir);

// The role a client certificate of this verifier's CA carries, from its organization.
enum class ClientRole { none, agent, operator_ };
inline constexpr std::string_view kAgentOrganization = "vigil agent";
inline constexpr std::string_view kOperatorOrganization = "vigil operator";

class Verifier {
 public:
  static Result<std::unique_ptr<Verifier>> start(const VerifierConfig& config);
  virtual ~Verifier() = default;
  virtual int port() const = 0;
  virtual void stop() = 0;
  // The connection limits in force (max_connections as lowered to fit RLIMIT_NOFILE) and counts
  // of what they closed: {"max_connections", "max_connections_per_peer", "open", "accepted",
  // "refused_total_cap", "refused_peer_cap", "handshake_failed", "handshake_timeouts", ...}.
  virtual nlohmann::json connections() const = 0;
  virtual Registry& registry() = 0;
};

}  // namespace vigil::attest
