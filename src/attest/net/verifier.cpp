// The verifier's HTTPS server: mutual TLS against its own CA (a client without a certificate
// from it does not get past the handshake), the agent id taken from the client certificate's
// CN, each route handed to VerifierService, and a watchdog thread for unreachable agents.
#include "attest/net/verifier.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <openssl/x509.h>

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include "attest/net/verifier_service.h"
#include "common/time_text.h"

namespace vigil::attest {
namespace {

// Evidence carries up to 64 MiB of records in base64 (docs/attestation.md caps).
constexpr size_t kMaxRequestBody = 96u << 20;
constexpr int kListenBacklog = 1024;  // the kernel caps it at net.core.somaxconn

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

// The CN of the verified client certificate; empty if there is none (cannot happen after the
// handshake demanded one, but a request is refused rather than trusted on that assumption).
std::string client_common_name(const httplib::Request& request) {
  if (request.ssl == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(request.ssl);
  if (cert == nullptr || SSL_get_verify_result(request.ssl) != X509_V_OK) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return name;
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
    auto registry = open_sqlite_registry(config.state_dir + "/verifier.db");
    if (!registry) return std::unexpected(registry.error());
    ServiceConfig service_config;
    service_config.interval = config.interval;
    service_config.unreachable_after_intervals = std::max(1, config.unreachable_after_intervals);
    service_config.vault_key_path = config.state_dir + "/vault.key";
    auto alerts = std::make_unique<AlertLog>(config.alerts_path.empty() ? config.state_dir + "/alerts.jsonl"
                                                                         : config.alerts_path);

    std::unique_ptr<TlsVerifier> verifier(new TlsVerifier());
    verifier->service_ = std::make_unique<VerifierService>(service_config, std::move(*registry), std::move(alerts));
    const std::string cert = config.state_dir + "/server.crt";
    const std::string key = config.state_dir + "/server.key";
    const std::string ca = config.state_dir + "/ca.crt";
    verifier->server_ = std::make_unique<httplib::SSLServer>([cert, key, ca](SSL_CTX& ctx) {
      return SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) == 1 &&
             SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) == 1 &&
             SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(&ctx) == 1 && SSL_CTX_load_verify_locations(&ctx, ca.c_str(), nullptr) == 1 &&
             (SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr), true);
    });
    if (!verifier->server_->is_valid()) {
      return fail("verifier: cannot set up TLS with " + cert + ", " + key + " and " + ca + ": " + openssl_errors());
    }
    verifier->install_routes();
    verifier->server_->new_task_queue = [threads = std::max<size_t>(1, config.worker_threads)] {
      return new httplib::ThreadPool(threads);
    };
    // httplib's default socket options add SO_REUSEPORT, which would let a second verifier bind
    // the same port without an error; and the listen backlog it compiles in is 5, so agents
    // connecting together (every interval, or all at once after a restart) had SYNs dropped and
    // waited a 1 s retransmit. Take the listening socket to set the backlog after the bind.
    int listening_socket = -1;
    verifier->server_->set_socket_options([&listening_socket](socket_t socket) {
      const int on = 1;
      ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      listening_socket = socket;
    });
    verifier->port_ = address->port == 0 ? verifier->server_->bind_to_any_port(address->host)
                                         : (verifier->server_->bind_to_port(address->host, address->port) ? address->port : -1);
    if (verifier->port_ <= 0) {
      return fail("verifier: cannot listen on " + config.listen + " (in use, or not an address of this host)");
    }
    if (listening_socket >= 0) ::listen(listening_socket, kListenBacklog);  // a second listen() only resizes the queue
    TlsVerifier* raw = verifier.get();
    verifier->server_thread_ = std::thread([raw] { raw->server_->listen_after_bind(); });
    // httplib's stop() does nothing before the listen loop runs, and the loop would then accept
    // forever: return only once it runs, so stop() right after start() still stops it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!verifier->server_->is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
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
    if (server_thread_.joinable()) server_thread_.join();
    if (watchdog_thread_.joinable()) watchdog_thread_.join();
  }

 private:
  TlsVerifier() = default;

  template <class Handler>
  auto with_agent(Handler handler) {
    return [handler](const httplib::Request& request, httplib::Response& response) {
      const std::string agent_id = client_common_name(request);
      if (agent_id.empty()) {
        send(response, {401, R"({"error":"no verified client certificate with a CN"})"});
        return;
      }
      send(response, handler(agent_id, request));
    };
  }

  void install_routes() {
    VerifierService* service = service_.get();
    server_->set_payload_max_length(kMaxRequestBody);
    // Answers are small: without TCP_NODELAY each one waits on the peer's delayed ACK (~40 ms).
    server_->set_tcp_nodelay(true);
    // A round is two requests on one connection; an idle connection holds a worker thread, so
    // it is closed soon after the round instead of httplib's default 5 s.
    server_->set_keep_alive_timeout(1);
    server_->Post("/v1/enroll", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->enroll(id, request.body);
    }));
    server_->Post("/v1/activate", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->activate(id, request.body);
    }));
    server_->Get("/v1/challenge", with_agent([service](const std::string& id, const httplib::Request&) {
      return service->challenge(id);
    }));
    server_->Post("/v1/evidence", with_agent([service](const std::string& id, const httplib::Request& request) {
      return service->evidence(id, request.body);
    }));
    server_->Get(R"(/v1/secrets/([A-Za-z0-9._:@+-]{1,128}))",
                 with_agent([service](const std::string& id, const httplib::Request& request) {
                   return service->secret(id, request.matches[1].str());
                 }));
    server_->Get("/v1/agents", with_agent([service](const std::string&, const httplib::Request&) {
      return service->agents();
    }));
    server_->set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
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
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = -1;
  std::thread server_thread_;
  std::thread watchdog_thread_;
  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
};

}  // namespace

Result<std::unique_ptr<Verifier>> Verifier::start(const VerifierConfig& config) { return TlsVerifier::start(config); }

}  // namespace vigil::attest
