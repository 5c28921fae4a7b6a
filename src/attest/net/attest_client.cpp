// The agent's side: mutual TLS to the verifier (its CA only, host name checked), enrolment
// through the TPM, then rounds: challenge, quote, the list from list_start, evidence.
#include "attest/net/attest_client.h"

#include <unistd.h>

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "attest/evidence_json.h"
#include "attest/net/list_reader.h"
#include "attest/net/secret_binding.h"
#include "tpm/attestation.h"

namespace vigil::attest {
namespace {

constexpr int kConnectTimeoutSeconds = 10;
constexpr int kReadTimeoutSeconds = 60;

struct Endpoint {
  std::string host;
  int port = 443;
};

Result<Endpoint> parse_https_url(const std::string& url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return fail("verifier URL \"" + url + "\" must start with https://");
  std::string rest = url.substr(kScheme.size());
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  Endpoint endpoint;
  size_t port_colon = std::string::npos;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return fail("verifier URL \"" + url + "\": unclosed [");
    endpoint.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return fail("verifier URL \"" + url + "\": bad port");
      port_colon = close + 1;
    }
  } else {
    port_colon = rest.rfind(':');
    endpoint.host = rest.substr(0, port_colon);
  }
  if (port_colon != std::string::npos) {
    const std::string port = rest.substr(port_colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535) {
      return fail("verifier URL \"" + url + "\": bad port");
    }
    endpoint.port = std::stoi(port);
  }
  if (endpoint.host.empty()) return fail("verifier URL \"" + url + "\" has no host");
  return endpoint;
}

Result<std::unique_ptr<httplib::SSLClient>> connect(const ClientTls& tls) {
  auto endpoint = parse_https_url(tls.verifier_url);
  if (!endpoint) return std::unexpected(endpoint.error());
  for (const std::string* file : {&tls.cert_path, &tls.key_path, &tls.ca_path}) {
    if (file->empty()) return fail("mutual TLS needs --cert, --key and --ca");
    if (::access(file->c_str(), R_OK) != 0) return fail_errno("cannot read " + *file);
  }
  auto client = std::make_unique<httplib::SSLClient>(endpoint->host, endpoint->port, tls.cert_path, tls.key_path);
  if (!client->is_valid()) {
    return fail("cannot load the client certificate " + tls.cert_path + " and key " + tls.key_path + ": " +
                openssl_errors());
  }
  client->set_ca_cert_path(tls.ca_path);
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(kConnectTimeoutSeconds, 0);
  client->set_read_timeout(kReadTimeoutSeconds, 0);
  client->set_write_timeout(kReadTimeoutSeconds, 0);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);  // small request bodies: no Nagle wait for the delayed ACK
  return client;
}

std::string string_field(const nlohmann::json& object, const char* name);

// The error text of a refused request: the verifier's {"error"} or the transport failure.
std::string describe_failure(const httplib::Result& result, const httplib::SSLClient& client) {
  if (!result) {
    std::string message = "cannot reach the verifier: " + httplib::to_string(result.error());
    if (const long verify = client.get_openssl_verify_result(); verify != X509_V_OK) {
      message += std::string(" (server certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    return message;
  }
  auto body = nlohmann::json::parse(result->body, nullptr, false);
  if (const std::string error = body.is_object() ? string_field(body, "error") : ""; !error.empty()) {
    return "verifier refused (" + std::to_string(result->status) + "): " + error;
  }
  return "verifier answered " + std::to_string(result->status);
}

Result<std::string> request(httplib::SSLClient& client, const std::string& method, const std::string& path,
                            const std::string& body = {}) {
  httplib::Result result = method == "GET" ? client.Get(path) : client.Post(path, body, "application/json");
  if (!result || result->status != 200) return fail(describe_failure(result, client));
  return result->body;
}

Result<void> enrol(httplib::SSLClient& client, tpm::AttestationTpm& tpm) {
  EnrollRequest enrol_request;
  auto ek = tpm.endorsement_key();
  if (!ek) return std::unexpected(ek.error());
  enrol_request.ek_public = std::move(*ek);
  auto ak = tpm.attestation_key();
  if (!ak) return std::unexpected(ak.error());
  enrol_request.ak_public = std::move(*ak);
  if (auto certificate = tpm.endorsement_certificate(); certificate && *certificate) {
    enrol_request.ek_certificate = std::move(**certificate);
  }
  auto answer = request(client, "POST", "/v1/enroll", to_json(enrol_request));
  if (!answer) return fail("enrolment: " + answer.error().message);
  auto challenge = parse_enroll_challenge(*answer);
  if (!challenge) return fail("enrolment: " + challenge.error().message);
  auto secret = tpm.activate_credential(challenge->credential_blob, challenge->encrypted_secret);
  if (!secret) return fail("enrolment: ActivateCredential: " + secret.error().message);
  auto activated = request(client, "POST", "/v1/activate", to_json(ActivateRequest{*secret}));
  if (!activated) return fail("activation: " + activated.error().message);
  return {};
}

struct RoundReply {
  RoundOutcome outcome;
  uint32_t interval_ms = 2000;
};

Result<RoundReply> run_round(httplib::SSLClient& client, tpm::AttestationTpm& tpm, IncrementalListReader& list) {
  auto challenge_text = request(client, "GET", "/v1/challenge");
  if (!challenge_text) return fail("challenge: " + challenge_text.error().message);
  auto challenge = parse_round_challenge(*challenge_text);
  if (!challenge) return fail("challenge: " + challenge.error().message);
  // Quote first, then read the list: the list then holds every entry the quote covers (the
  // verifier takes the prefix that replays to the quoted PCR 10).
  auto quote = tpm.quote(challenge->nonce, challenge->selection);
  if (!quote) return fail("quote: " + quote.error().message);
  RoundEvidence evidence;
  evidence.quote = std::move(*quote);
  evidence.list_start = challenge->list_start;
  auto entries = list.read_from(challenge->list_start);
  if (!entries && list.indexed_records() < challenge->list_start) {
    // The list is shorter than what the verifier has verified: a new list since a reboot (or
    // an agent restart). Send it from the start; the verifier accepts that only with a quote
    // showing a TPM reset, and otherwise calls it a gap.
    evidence.list_start = 0;
    entries = list.read_from(0);
  }
  if (!entries) return std::unexpected(entries.error());
  evidence.entries = std::move(*entries);
  auto answer = request(client, "POST", "/v1/evidence", to_json(evidence));
  if (!answer) return fail("evidence: " + answer.error().message);
  auto body = nlohmann::json::parse(*answer, nullptr, false);
  if (!body.is_object()) return fail("evidence: the verifier's answer is not JSON");
  RoundReply reply;
  reply.outcome.state = string_field(body, "state");
  reply.outcome.reason = string_field(body, "state_reason");
  reply.outcome.entries_sent = evidence.entries.size();
  reply.interval_ms = challenge->interval_ms;
  return reply;
}

std::string string_field(const nlohmann::json& object, const char* name) {
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

void sleep_unless_stopped(std::chrono::milliseconds duration, const std::atomic<bool>& stop) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (!stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50),
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()) +
            std::chrono::milliseconds(1)));
  }
}

}  // namespace

Result<void> run_attest_client(const AttestClientConfig& config, const std::atomic<bool>& stop,
                               const std::function<void(const RoundOutcome&)>& on_round) {
  auto client = connect(config.tls);
  if (!client) return std::unexpected(client.error());
  auto tpm = tpm::open_attestation_tpm(config.tpm);
  if (!tpm) return std::unexpected(tpm.error());
  if (auto enrolled = enrol(**client, **tpm); !enrolled) return enrolled;
  IncrementalListReader list(config.measurements_dir + "/binary_runtime_measurements");
  std::chrono::milliseconds interval(2000);
  while (!stop.load()) {
    auto round = run_round(**client, **tpm, list);
    if (!round) {
      if (config.once) return std::unexpected(round.error());
      // The verifier may be restarting or the network down: it marks us unreachable; keep trying.
      on_round(RoundOutcome{"error", round.error().message, 0});
    } else {
      interval = std::chrono::milliseconds(std::max<uint32_t>(round->interval_ms, 10));
      on_round(round->outcome);
      if (config.once) return {};
    }
    // Close between rounds: an idle keep-alive connection would hold one of the verifier's
    // worker threads for the whole interval, and a verifier serves many agents with few threads.
    (*client)->stop();
    sleep_unless_stopped(interval, stop);
  }
  return {};
}

Result<std::vector<uint8_t>> fetch_secret(const ClientTls& tls, const std::string& name) {
  if (auto valid = check_secret_name(name); !valid) return std::unexpected(valid.error());
  auto client = connect(tls);
  if (!client) return std::unexpected(client.error());
  auto answer = request(**client, "GET", "/v1/secrets/" + name);
  if (!answer) return std::unexpected(answer.error());
  auto body = nlohmann::json::parse(*answer, nullptr, false);
  if (!body.is_object() || !body.contains("data") || !body["data"].is_string()) {
    return fail("the verifier's answer has no data");
  }
  return base64_decode(string_field(body, "data"));
}

}  // namespace vigil::attest
