// The verifier's HTTPS server: mutual TLS against its own CA (a client without a certificate
// from it does not get past the handshake), the agent id taken from the client certificate's
// CN and its role from its organization, each route handed to VerifierService, and a watchdog
// thread for unreachable agents. Connections are web::ConnectionServer's: handshakes off the
// worker threads with a total deadline, caps per peer and in total.
#include "attest/net/verifier.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <unistd.h>
#include <openssl/x509.h>
#include <sys/resource.h>

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include "attest/net/verifier_service.h"
#include "common/time_text.h"
#include "web/http/connection_server.h"

namespace vigil::attest {
namespace {

// Evidence carries up to 64 MiB of records in base64 (docs/attestation.md caps).
constexpr size_t kMaxRequestBody = 96u << 20;
constexpr std::size_t kMaxRequestHead = 64 * 1024;
// Descriptors the verifier keeps for itself (registry, alert log, vault key, CA files) when it
// fits its connections into RLIMIT_NOFILE.
constexpr rlim_t kOwnDescriptors = 64;

struct ListenAddress {
  std::string host;
  int port = 0;
};

Result<ListenAddress> parse_listen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return fail("listen address \"" + listen + "\" is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos) {
    return fail("listen address \"" + listen + "\": bad port");
  }
  const int port = std::stoi(port_text);
  if (port > 65535) return fail("listen address \"" + listen + "\": bad port");
  return ListenAddress{host, port};
}

struct ClientIdentity {
  std::string name;  // the CN
  ClientRole role = ClientRole::none;
};

std::string subject_entry(X509_NAME* subject, int nid) {
  const int index = X509_NAME_get_index_by_NID(subject, nid, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

// The CN and role of the verified client certificate; empty if there is none (cannot happen
// after the handshake demanded one, but a request is refused rather than trusted on that
// assumption). Only this verifier's CA issues certificates it accepts, so the organization it
// wrote is the role.
ClientIdentity client_identity(const httplib::Request& request) {
  if (request.ssl == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(request.ssl);
  if (cert == nullptr || SSL_get_verify_result(request.ssl) != X509_V_OK) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  ClientIdentity identity;
  identity.name = subject_entry(subject, NID_commonName);
  const std::string organization = subject_entry(subject, NID_organizationName);
  if (organization == kAgentOrganization) identity.role = ClientRole::agent;
  else if (organization == kOperatorOrganization) identity.role = ClientRole::operator_;
  return identity;
}

// Raises the soft RLIMIT_NOFILE to the hard one and returns how many connections fit in it.
int connections_that_fit(int wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur == RLIM_INFINITY) return wanted;
  const rlim_t room = limit.rlim_cur > kOwnDescriptors + 16 ? limit.rlim_cur - kOwnDescriptors : 16;
  return static_cast<int>(std::min<rlim_t>(static_cast<rlim_t>(std::max(1, wanted)), room));
}

web::TlsContext verifier_tls_context(const std::string& cert, const std::string& key, const std::string& ca) {
  web::TlsContext context(SSL_CTX_new(TLS_server_method()));
  if (!context) return context;
  SSL_CTX* ctx = context.get();
  const bool ready = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
                     SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1 &&
                     SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
                     SSL_CTX_check_private_key(ctx) == 1 && SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1;
  if (!ready) return nullptr;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return context;
}

// host:pid:8 hex digits: unique per process, so a restarted verifier does not inherit the
// leases of the one it replaces (they expire instead).
std::string generated_verifier_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  unsigned char random[4] = {};
  RAND_bytes(random, sizeof random);
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x", random[0], random[1], random[2], random[3]);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + suffix;
}

ServiceReply refusal(int status, const std::string& message) {
  return {status, nlohmann::json{{"error", message}}.dump()};
}

void send(httplib::Response& response, const ServiceReply& reply) {
  response.status = reply.status;
  response.set_content(reply.body, "application/json");
}

class TlsVerifier final : public Verifier {
 public:
  ~TlsVerifier() override { stop(); }

  static Result<std::unique_ptr<Verifier>> start(const VerifierConfig& config) {
    auto address = parse_listen(config.listen);
    if (!address) return std::unexpected(address.error());
    if (config.interval.count() <= 0) return fail("the round interval must be positive");
    if (auto pki = ensure_verifier_pki(config.state_dir, {address->host}); !pki) return std::unexpected(pki.error());
    auto registry = open_registry(config.database, config.state_dir + "/verifier.db", config.database_connections);
    if (!registry) return std::unexpected(registry.error());
    ServiceConfig service_config;
    service_config.interval = config.interval;
    service_config.unreachable_after_intervals = std::max(1, config.unreachable_after_intervals);
    service_config.vault_key_path = config.state_dir + "/vault.key";
    service_config.verifier_id = config.verifier_id.empty() ? generated_verifier_id() : config.verifier_id;
    auto alerts = std::make_unique<AlertLog>(config.alerts_path.empty() ? config.state_dir + "/alerts.jsonl"
                                                                         : config.alerts_path);

    std::unique_ptr<TlsVerifier> verifier(new TlsVerifier());
    verifier->service_ = std::make_unique<VerifierService>(service_config, std::move(*registry), std::move(alerts));
    const std::string cert = config.state_dir + "/server.crt";
    const std::string key = config.state_dir + "/server.key";
    const std::string ca = config.state_dir + "/ca.crt";
    web::TlsContext tls = verifier_tls_context(cert, key, ca);
    if (!tls) return fail("verifier: cannot set up TLS with " + cert + ", " + key + " and " + ca + ": " + openssl_errors());
    verifier->install_routes();
    web::ConnectionLimits limits;
    limits.max_connections = connections_that_fit(config.max_connections);
    limits.max_per_peer = std::max(1, config.max_connections_per_peer);
    limits.worker_threads = static_cast<int>(std::max<size_t>(1, config.worker_threads));
    limits.handshake_deadline = config.handshake_deadline;
    limits.request_deadline = std::chrono::seconds(10);
    // A round is two requests on one connection, with the quote in between; an idle connection
    // holds only a descriptor, so it may wait for the next round.
    limits.idle_timeout = std::chrono::seconds(5);
    limits.io_timeout = std::chrono::seconds(5);
    limits.max_request_head = kMaxRequestHead;
    limits.max_request_body = kMaxRequestBody;
    limits.tcp_nodelay = true;  // answers are small: without it each waits on the peer's delayed ACK (~40 ms)
    verifier->limits_ = limits;
    auto server = web::ConnectionServer::start(verifier->router_, address->host, address->port, limits, std::move(tls));
    if (!server) return fail("verifier: " + server.error().message);
    verifier->server_ = std::move(*server);
    verifier->port_ = verifier->server_->port();
    TlsVerifier* raw = verifier.get();
    verifier->watchdog_thread_ = std::thread([raw, period = config.interval] { raw->watch(period); });
    return std::unique_ptr<Verifier>(std::move(verifier));
  }

  int port() const override { return port_; }
  Registry& registry() override { return service_->registry(); }

  void stop() override {
    {
      std::lock_guard lock(stop_mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    stop_signal_.notify_all();
    if (server_) server_->stop();
    if (watchdog_thread_.joinable()) watchdog_thread_.join();
  }

  nlohmann::json connections() const override {
    nlohmann::json counts = server_ ? server_->counts() : nlohmann::json::object();
    counts["max_connections"] = limits_.max_connections;
    counts["max_connections_per_peer"] = limits_.max_per_peer;
    return counts;
  }

 private:
  TlsVerifier() = default;

  // Routes for agents: the id is the certificate's CN; operators' certificates are refused (an
  // operator named like an agent must not speak for it).
  template <class Handler>
  auto with_agent(Handler handler) {
    return [handler](const httplib::Request& request, httplib::Response& response) {
      const ClientIdentity client = client_identity(request);
      if (client.name.empty()) {
        send(response, {401, R"({"error":"no verified client certificate with a CN"})"});
        return;
      }
      if (client.role != ClientRole::agent) {
        send(response, refusal(403, "this route is for agents: the client certificate is not an agent's (organization \"vigil agent\")"));
        return;
      }
      send(response, handler(client.name, request));
    };
  }

  // Routes for operators (`vigil verifier issue --operator`): what every agent's state and
  // failures are is not for the agents, one of which may be compromised.
  template <class Handler>
  auto with_operator(Handler handler) {
    return [handler](const httplib::Request& request, httplib::Response& response) {
      const ClientIdentity client = client_identity(request);
      if (client.name.empty()) {
        send(response, {401, R"({"error":"no verified client certificate with a CN"})"});
        return;
      }
      if (client.role != ClientRole::operator_) {
        send(response, refusal(403, "operators only: the client certificate is not an operator's (vigil verifier issue --operator)"));
        return;
      }
      send(response, handler(client.name, request));
    };
  }

  void install_routes() {
    VerifierService* service = service_.get();
    httplib::Server& server = router_;
    server.Post("/v1/enroll", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->enroll(id, request.body);
    }));
    server.Post("/v1/activate", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->activate(id, request.body);
    }));
    server.Get("/v1/challenge", with_agent([service](const std::string& id, const httplib::Request&) {
      return service->challenge(id);
    }));
    server.Post("/v1/evidence", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->evidence(id, request.body);
    }));
    server.Get(R"(/v1/secrets/([A-Za-z0-9._:@+-]{1,128}))",
               with_agent([service](const std::string& id, const httplib::Request& request) {
                 return service->secret(id, request.matches[1].str());
               }));
    server.Get("/v1/agents", with_operator([service](const std::string&, const httplib::Request&) {
      return service->agents();
    }));
    server.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
      send(response, {500, R"({"error":"internal error"})"});
    });
  }

  // Checks reachability a few times per interval, so an agent goes unreachable within a
  // quarter interval of its deadline.
  void watch(std::chrono::milliseconds interval) {
    const auto period = std::max(std::chrono::milliseconds(10), interval / 4);
    std::unique_lock lock(stop_mutex_);
    while (!stop_signal_.wait_for(lock, period, [this] { return stopping_; })) {
      lock.unlock();
      service_->check_reachability(wall_clock_ns());
      lock.lock();
    }
  }

  std::unique_ptr<VerifierService> service_;
  web::RequestRouter router_;
  web::ConnectionLimits limits_;
  std::unique_ptr<web::ConnectionServer> server_;
  int port_ = -1;
  std::thread watchdog_thread_;
  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
};

}  // namespace

Result<std::unique_ptr<Verifier>> Verifier::start(const VerifierConfig& config) { return TlsVerifier::start(config); }

}  // namespace vigil::attest
