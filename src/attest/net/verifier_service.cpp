#include "attest/net/verifier_service.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "attest/appraisal.h"
#include "attest/evidence_json.h"
#include "attest/net/secret_binding.h"
#include "common/time_text.h"

namespace vigil::attest {
namespace {

using nlohmann::json;

constexpr size_t kNonceSize = 32;
constexpr size_t kActivationSecretSize = 32;
// The boot PCRs and IMA's PCR 10, in the sha256 bank (docs/attestation.md).
const std::vector<uint32_t> kQuotedPcrs = {0, 1, 2, 3, 4, 5, 6, 7, 10};

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

ServiceReply error_reply(int status, const std::string& message) { return {status, dump(json{{"error", message}})}; }

ServiceReply registry_failure(const Error& error) { return error_reply(500, "registry: " + error.message); }

Result<std::vector<uint8_t>> random_bytes(size_t size) {
  std::vector<uint8_t> bytes(size);
  if (RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) return fail("no randomness: " + openssl_errors());
  return bytes;
}

// The EK pinned by `verifier agent add`: a DER SubjectPublicKeyInfo, or a TPM2B_PUBLIC.
Result<crypto::Key> pinned_key(const std::vector<uint8_t>& pinned) {
  const unsigned char* cursor = pinned.data();
  if (EVP_PKEY* key = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(pinned.size()));
      key != nullptr && cursor == pinned.data() + pinned.size()) {
    return crypto::Key(key);
  } else if (key != nullptr) {
    EVP_PKEY_free(key);
  }
  openssl_errors();  // a TPM2B_PUBLIC is not DER: drop the parse error
  auto tpm_public = tpm::parse_tpm_public(pinned);
  if (!tpm_public) return fail("the registered EK is neither a public key nor a TPM2B_PUBLIC: " + tpm_public.error().message);
  return tpm_public->key;
}

std::string_view quote_problem_label(QuoteProblem problem) {
  switch (problem) {
    case QuoteProblem::none: return "";
    case QuoteProblem::malformed: return "malformed";
    case QuoteProblem::signature: return "signature";
    case QuoteProblem::different_signer: return "different signer";
    case QuoteProblem::nonce: return "nonce";
    case QuoteProblem::selection: return "selection";
    case QuoteProblem::pcr_digest: return "pcr digest";
  }
  return "unknown";
}

// "quote/nonce: ...", "policy: entry 12 /usr/bin/x: ...": the kind first, so a reader (and a
// test) sees at once which check failed.
std::string failure_label(const RoundResult& result) {
  std::string label(failure_kind_name(result.kind));
  if (result.kind == FailureKind::quote && result.quote_problem != QuoteProblem::none) {
    label += "/" + std::string(quote_problem_label(result.quote_problem));
  }
  return label;
}

json agent_json(const AgentRecord& agent) {
  return json{
      {"id", agent.id},
      {"state", agent_state_name(agent.state)},
      {"reason", agent.reason},
      {"activated", agent.activated},
      {"rounds", agent.rounds},
      {"entries_verified", agent.progress.entries_verified},
      {"last_round", agent.last_round_ns > 0 ? json(rfc3339_ns(agent.last_round_ns)) : json(nullptr)},
  };
}

}  // namespace

VerifierService::VerifierService(ServiceConfig config, std::unique_ptr<Registry> registry,
                                 std::unique_ptr<AlertLog> alerts)
    : config_(std::move(config)), registry_(std::move(registry)), alerts_(std::move(alerts)) {}

std::shared_ptr<std::mutex> VerifierService::agent_lock(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  auto& slot = agent_locks_[agent_id];
  if (!slot) slot = std::make_shared<std::mutex>();
  return slot;
}

std::optional<std::vector<uint8_t>> VerifierService::take_nonce(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  auto found = nonces_.find(agent_id);
  if (found == nonces_.end()) return std::nullopt;
  std::vector<uint8_t> nonce = std::move(found->second);
  nonces_.erase(found);
  return nonce;
}

Result<std::shared_ptr<const RuntimePolicy>> VerifierService::policy_for(const AgentRecord& agent) {
  {
    std::lock_guard lock(mutex_);
    auto found = policies_.find(agent.id);
    if (found != policies_.end() && found->second.json == agent.policy_json) return found->second.policy;
  }
  auto parsed = parse_runtime_policy(agent.policy_json, "policy of agent " + agent.id);
  if (!parsed) return std::unexpected(parsed.error());
  auto policy = std::make_shared<const RuntimePolicy>(std::move(*parsed));
  std::lock_guard lock(mutex_);
  policies_[agent.id] = ParsedPolicy{agent.policy_json, policy};
  return policy;
}

void VerifierService::record_transition(const AgentRecord& before, const AgentRecord& after, int64_t failing_entry,
                                        const std::string& failing_path, const std::string& kind) {
  if (before.state == after.state) return;
  if (after.state != AgentState::untrusted && after.state != AgentState::unreachable) return;
  StateAlert alert;
  alert.time_ns = wall_clock_ns();
  alert.agent = after.id;
  alert.state = agent_state_name(after.state);
  alert.previous_state = agent_state_name(before.state);
  alert.kind = kind;
  alert.reason = after.reason;
  alert.failing_entry = failing_entry;
  alert.failing_path = failing_path;
  if (auto written = alerts_->append(alert); !written) {
    // The verdict is in the registry either way; the alert file is a copy for log shippers.
    std::fprintf(stderr, "vigil verifier: %s\n", written.error().message.c_str());
  }
}

ServiceReply VerifierService::enroll(const std::string& agent_id, std::string_view body) {
  auto guard = agent_lock(agent_id);
  std::lock_guard lock(*guard);
  auto record = registry_->agent(agent_id);
  if (!record) return registry_failure(record.error());
  if (!*record) return error_reply(403, "agent ID is not registered");
  auto request = parse_enroll_request(body);
  if (!request) return error_reply(400, "bad enrolment request: " + request.error().message);
  auto ek = tpm::parse_tpm_public(request->ek_public);
  if (!ek) return error_reply(400, "bad ek_public: " + ek.error().message);
  auto pinned = pinned_key((*record)->expected_ek);
  if (!pinned) return error_reply(500, pinned.error().message);
  if (!ek->key.same_public_key(*pinned)) return error_reply(403, "EK does not match the registered one");
  if (auto usable = tpm::check_endorsement_key(*ek); !usable) {
    return error_reply(403, "endorsement key refused: " + usable.error().message);
  }
  auto ak = tpm::parse_tpm_public(request->ak_public);
  if (!ak) return error_reply(400, "bad ak_public: " + ak.error().message);
  if (auto usable = tpm::check_attestation_key(*ak); !usable) {
    return error_reply(403, "attestation key refused: " + usable.error().message);
  }
  auto secret = random_bytes(kActivationSecretSize);
  if (!secret) return error_reply(500, secret.error().message);
  auto credential = tpm::make_credential(*ek, ak->name, *secret);
  if (!credential) return error_reply(500, "MakeCredential: " + credential.error().message);
  {
    std::lock_guard maps(mutex_);
    pending_[agent_id] = PendingEnrolment{request->ak_public, std::move(*secret)};
  }
  return {200, to_json(EnrollChallenge{credential->credential_blob, credential->encrypted_secret})};
}

ServiceReply VerifierService::activate(const std::string& agent_id, std::string_view body) {
  auto guard = agent_lock(agent_id);
  std::lock_guard lock(*guard);
  auto request = parse_activate_request(body);
  if (!request) return error_reply(400, "bad activation request: " + request.error().message);
  std::optional<PendingEnrolment> pending;
  {
    std::lock_guard maps(mutex_);
    auto found = pending_.find(agent_id);
    if (found != pending_.end()) {
      pending = std::move(found->second);
      pending_.erase(found);  // one try per enrolment
    }
  }
  if (!pending) return error_reply(409, "no enrolment in progress (POST /v1/enroll first)");
  if (request->secret.size() != pending->secret.size() ||
      CRYPTO_memcmp(request->secret.data(), pending->secret.data(), pending->secret.size()) != 0) {
    return error_reply(403, "activation secret does not match: the AK is not in the TPM of the registered EK");
  }
  auto record = registry_->agent(agent_id);
  if (!record) return registry_failure(record.error());
  if (!*record) return error_reply(403, "agent ID is not registered");
  AgentRecord agent = std::move(**record);
  agent.ak_public = std::move(pending->ak_public);
  agent.activated = true;
  if (auto stored = registry_->put_agent(agent); !stored) return registry_failure(stored.error());
  return {200, dump(json{{"state", agent_state_name(agent.state)}})};
}

std::optional<ServiceReply> VerifierService::hold_lease(const std::string& agent_id) {
  // 1.5 intervals: the agent's next round (one interval later) renews it with room for jitter;
  // a dead verifier's agents are free within 1.5 intervals of its last round.
  const int64_t duration_ms = config_.interval.count() * 3 / 2;
  auto lease = registry_->take_lease(agent_id, config_.verifier_id, std::max<int64_t>(duration_ms, 1));
  if (!lease) return registry_failure(lease.error());
  if (lease->granted) return std::nullopt;
  return ServiceReply{409, dump(json{{"error", "agent is attested by verifier " + lease->holder + " (its lease runs " +
                                                   std::to_string(lease->remaining_ms) + " ms more)"},
                                     {"verifier", lease->holder},
                                     {"retry_after_ms", std::max<int64_t>(lease->remaining_ms, 0)}})};
}

ServiceReply VerifierService::challenge(const std::string& agent_id) {
  auto guard = agent_lock(agent_id);
  std::lock_guard lock(*guard);
  auto record = registry_->agent(agent_id);
  if (!record) return registry_failure(record.error());
  if (!*record) return error_reply(403, "agent ID is not registered");
  if (!(*record)->activated) return error_reply(403, "agent has not completed enrolment (POST /v1/enroll, /v1/activate)");
  if (auto refused = hold_lease(agent_id)) return *refused;
  auto nonce = random_bytes(kNonceSize);
  if (!nonce) return error_reply(500, nonce.error().message);
  RoundChallenge challenge;
  challenge.nonce = *nonce;
  challenge.list_start = (*record)->progress.entries_verified;
  challenge.selection = tpm::PcrSelection{crypto::HashAlgo::sha256, kQuotedPcrs};
  challenge.interval_ms = static_cast<uint32_t>(config_.interval.count());
  {
    std::lock_guard maps(mutex_);
    nonces_[agent_id] = std::move(*nonce);  // a new challenge replaces an unanswered one
  }
  return {200, to_json(challenge)};
}

ServiceReply VerifierService::evidence(const std::string& agent_id, std::string_view body) {
  auto guard = agent_lock(agent_id);
  std::lock_guard lock(*guard);
  auto record = registry_->agent(agent_id);
  if (!record) return registry_failure(record.error());
  if (!*record) return error_reply(403, "agent ID is not registered");
  const AgentRecord before = **record;
  if (!before.activated) return error_reply(403, "agent has not completed enrolment (POST /v1/enroll, /v1/activate)");
  auto parsed = parse_round_evidence(body);
  if (!parsed) return error_reply(400, "bad evidence: " + parsed.error().message);
  // The nonce is the one this verifier issued, whatever the body claims: a replayed body then
  // fails the quote's nonce check and the agent becomes untrusted.
  auto nonce = take_nonce(agent_id);
  if (!nonce) return error_reply(409, "no challenge outstanding (GET /v1/challenge first)");
  // Judged and recorded only under this verifier's lease: if another took the agent over since
  // the challenge, this round is not counted here.
  if (auto refused = hold_lease(agent_id)) return *refused;

  json reply;
  AgentRecord after = before;
  if (before.state == AgentState::untrusted) {
    // Sticky: only `vigil verifier agent reset` clears it; the evidence is not judged.
    reply = json{{"verdict", "untrusted"}, {"reason", before.reason}};
  } else {
    auto ak = tpm::parse_tpm_public(before.ak_public);
    if (!ak) return error_reply(500, "registered AK: " + ak.error().message);
    auto policy = policy_for(before);
    if (!policy) return error_reply(500, "runtime policy: " + policy.error().message);
    const RoundResult result = appraise_round(*ak, *nonce, before.progress, *parsed, **policy);
    ++after.rounds;
    std::string kind;
    if (result.verdict == Verdict::trusted) {
      after.state = AgentState::trusted;
      after.reason.clear();
      after.progress = result.progress;
      after.last_round_ns = wall_clock_ns();
    } else {
      kind = failure_label(result);
      after.state = AgentState::untrusted;
      after.reason = kind + ": " + result.reason;
    }
    if (auto stored = registry_->put_agent(after); !stored) return registry_failure(stored.error());
    record_transition(before, after, result.failing_entry, result.failing_path, kind);
    reply = json::parse(to_json(result), nullptr, false);
    if (!reply.is_object()) reply = json::object();
  }
  reply["state"] = agent_state_name(after.state);
  reply["state_reason"] = after.reason;
  reply["entries_verified"] = after.progress.entries_verified;
  reply["interval_ms"] = config_.interval.count();
  return {200, dump(reply)};
}

ServiceReply VerifierService::refuse_secret(const std::string& agent_id, const std::string& name, int status,
                                            const std::string& reason) {
  if (auto logged = registry_->log_secret_access({wall_clock_ns(), agent_id, name, false, reason}); !logged) {
    return registry_failure(logged.error());
  }
  return error_reply(status, reason);
}

ServiceReply VerifierService::secret(const std::string& agent_id, const std::string& name) {
  auto guard = agent_lock(agent_id);
  std::lock_guard lock(*guard);
  auto record = registry_->agent(agent_id);
  if (!record) return registry_failure(record.error());
  if (!*record) return refuse_secret(agent_id, name, 403, "agent ID is not registered");
  const AgentRecord& agent = **record;
  auto stored = registry_->secret(name);
  if (!stored) return registry_failure(stored.error());
  if (!*stored) return refuse_secret(agent_id, name, 404, "no secret named \"" + name + "\"");
  if (!selector_matches((*stored)->selector, agent_id)) {
    return refuse_secret(agent_id, name, 403, "agent is not selected by the secret's policy (" + (*stored)->selector + ")");
  }
  if (agent.state != AgentState::trusted) {
    std::string reason = "agent is " + std::string(agent_state_name(agent.state));
    if (!agent.reason.empty()) reason += " (" + agent.reason + ")";
    return refuse_secret(agent_id, name, 403, reason);
  }
  // Trusted means trusted now: the last good round is at most one and a half intervals old.
  const int64_t age_ms = (wall_clock_ns() - agent.last_round_ns) / 1'000'000;
  if (age_ms * 2 > config_.interval.count() * 3) {
    return refuse_secret(agent_id, name, 403,
                         "last good round is " + std::to_string(age_ms) + " ms old (more than 1.5 intervals of " +
                             std::to_string(config_.interval.count()) + " ms)");
  }
  auto cipher = vault_cipher_from_name((*stored)->cipher);
  if (!cipher) return refuse_secret(agent_id, name, 500, cipher.error().message);
  const SecretVault* vault = nullptr;
  {
    std::lock_guard maps(mutex_);
    if (!vault_) {
      auto opened = SecretVault::open(config_.vault_key_path);
      if (opened) vault_ = std::move(*opened);
      else return refuse_secret(agent_id, name, 500, opened.error().message);
    }
    vault = &*vault_;
  }
  auto plaintext = vault->unseal(*cipher, (*stored)->sealed, secret_associated_data(name, (*stored)->selector));
  if (!plaintext) return refuse_secret(agent_id, name, 500, plaintext.error().message);
  // Logged before it leaves: a release that cannot be logged does not happen.
  const std::string why = "trusted, last good round " + std::to_string(age_ms) + " ms ago";
  if (auto logged = registry_->log_secret_access({wall_clock_ns(), agent_id, name, true, why}); !logged) {
    return registry_failure(logged.error());
  }
  ServiceReply reply{200, dump(json{{"name", name}, {"data", base64_encode(*plaintext)}})};
  OPENSSL_cleanse(plaintext->data(), plaintext->size());
  return reply;
}

ServiceReply VerifierService::agents() {
  auto all = registry_->agents();
  if (!all) return registry_failure(all.error());
  json list = json::array();
  for (const AgentRecord& agent : *all) list.push_back(agent_json(agent));
  return {200, dump(json{{"agents", list}})};
}

void VerifierService::check_reachability(int64_t now_ns) {
  const int64_t limit_ns = static_cast<int64_t>(config_.unreachable_after_intervals) *
                           std::chrono::duration_cast<std::chrono::nanoseconds>(config_.interval).count();
  auto all = registry_->agents();
  if (!all) return;
  for (const AgentRecord& listed : *all) {
    if (listed.state != AgentState::trusted || now_ns - listed.last_round_ns <= limit_ns) continue;
    auto guard = agent_lock(listed.id);
    std::lock_guard lock(*guard);
    auto record = registry_->agent(listed.id);  // again, under the agent's lock: a round may have just landed
    if (!record || !*record) continue;
    const AgentRecord before = **record;
    if (before.state != AgentState::trusted || now_ns - before.last_round_ns <= limit_ns) continue;
    AgentRecord after = before;
    after.state = AgentState::unreachable;
    after.reason = "no evidence for " + std::to_string((now_ns - before.last_round_ns) / 1'000'000) + " ms (" +
                   std::to_string(config_.unreachable_after_intervals) + " intervals)";
    if (!registry_->put_agent(after)) continue;
    record_transition(before, after, -1, "", "unreachable");
  }
}

}  // namespace vigil::attest
