#pragma once
// The agent's side of the protocol (`vigil attest`, `vigil secret get`): enrol (EK, AK,
// ActivateCredential), then a round per interval: fetch the challenge, quote, send the list delta.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil::attest {

struct ClientTls {
  std::string verifier_url;  // https://host:port
  std::string cert_path;     // agent.crt
  std::string key_path;      // agent.key
  std::string ca_path;       // ca.crt (the verifier's CA)
};

struct AttestClientConfig {
  ClientTls tls;
  std::string tpm = "swtpm:host=127.0.0.1,port=2321";
  std::string measurements_dir;  // holds binary_runtime_measurements (the agent's, or the kernel's securityfs dir)
  bool once = false;             // one round, then return
};

struct RoundOutcome {
  std::string state;    // the verifier's view after the round
  std::string reason;
  uint64_t entries_sent = 0;
};

// Enrols if the verifier does not know this AK yet, then runs rounds until `stop` is set
// (or one round with config.once). Each round's outcome goes to on_round.
Result<void> run_attest_client(const AttestClientConfig& config, const std::atomic<bool>& stop,
                               const std::function<void(const RoundOutcome&)>& on_round);

// GET the secret over mutual TLS; the verifier's refusal reason comes back as the error.
Result<std::vector<uint8_t>> fetch_secret(const ClientTls& tls, const std::string& name);

}  // namespace vigil::attest
