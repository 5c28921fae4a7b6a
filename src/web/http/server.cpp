#include "web/http/server.h"

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "web/access.h"
#include "web/http/connection_server.h"
#include "web/metrics.h"
#include "web/record_json.h"

namespace vigil::web {

namespace {

constexpr std::string_view kDashboardPolicy =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'";

void send(httplib::Response& res, const ApiResponse& response) {
  res.status = response.status;
  res.set_content(response.body, response.content_type.c_str());
}

std::optional<std::string_view> token_param(const httplib::Request& req) {
  auto found = req.params.find("token");
  if (found == req.params.end()) return std::nullopt;
  return std::string_view(found->second);
}

// A proxy names the client it forwards in one of these; the loopback peer is then only the proxy.
bool names_a_forwarded_client(const httplib::Request& req) {
  return req.has_header("Forwarded") || req.has_header("X-Forwarded-For") || req.has_header("X-Real-IP");
}

// The body a request declares: its Content-Length, or "unbounded" for chunked (or any other
// transfer coding) and for a length that does not parse.
std::uint64_t declared_body_size(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return UINT64_MAX;
  if (!req.has_header("Content-Length")) return 0;
  const std::string text = req.get_header_value("Content-Length");
  std::uint64_t size = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return UINT64_MAX;
  return size;
}

Result<TlsContext> server_tls_context(const std::string& cert, const std::string& key) {
  TlsContext context(SSL_CTX_new(TLS_server_method()));
  if (!context || SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(context.get(), cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(context.get()) != 1) {
    return fail("console: cannot load the TLS certificate " + cert + " and key " + key + ": " + openssl_errors());
  }
  return context;
}

}  // namespace

int console_descriptor_budget(const ServerOptions& options) { return std::max(1, options.max_connections) + 3; }

struct ConsoleServer::Impl {
  ServerOptions options;
  const Api& api;
  const ConsoleBackend& backend;
  RequestRouter router;
  std::unique_ptr<ConnectionServer> connections;
  std::atomic<bool> stopping{false};
  std::mutex stop_mutex;
  std::condition_variable stop_signal;
  std::atomic<int> stream_clients{0};
  mutable std::mutex counts_mutex;
  std::map<int, std::uint64_t> requests_by_status;

  Impl(ServerOptions o, const Api& a, const ConsoleBackend& b) : options(std::move(o)), api(a), backend(b) {}

  void install_routes();
  void serve_stream(const httplib::Request& req, httplib::Response& res);
  void serve_file(const httplib::Request& req, httplib::Response& res);
  nlohmann::json status() const {
    nlohmann::json codes = nlohmann::json::object();
    {
      std::lock_guard lock(counts_mutex);
      for (const auto& [code, count] : requests_by_status) codes[std::to_string(code)] = count;
    }
    return {{"http_requests", codes},
            {"stream_clients", stream_clients.load()},
            {"connections", connections ? connections->counts() : nlohmann::json::object()},
            {"store", api.store_status()}};
  }
  // Sleeps up to `duration`; false when the server is stopping.
  bool wait(std::chrono::milliseconds duration) {
    std::unique_lock lock(stop_mutex);
    return !stop_signal.wait_for(lock, duration, [&] { return stopping.load(); });
  }
};

void ConsoleServer::Impl::install_routes() {
  httplib::Server& s = router;
  // A body larger than the API ever needs is refused from its headers alone, before anything of
  // it is read (and before httplib's "100 Continue" would invite it).
  auto body_too_large = [this](const httplib::Request& req) { return declared_body_size(req) > options.max_body_bytes; };
  s.set_expect_100_continue_handler([body_too_large](const httplib::Request& req, httplib::Response& res) {
    if (!body_too_large(req)) return 100;
    ConnectionServer::close_after_response();
    send(res, error_response(413, "request bodies are refused (the API is read-only)"));
    return 413;
  });
  s.set_pre_routing_handler([this, body_too_large](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    if (declared_body_size(req) > 0) {
      // httplib leaves a GET's body unread: it must not be parsed as the next request.
      ConnectionServer::close_after_response();
      if (body_too_large(req)) {
        send(res, error_response(413, "request bodies of more than " + std::to_string(options.max_body_bytes) +
                                          " bytes are refused (the API is read-only)"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    // DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 reaches
    // this server from the browser's loopback, but names its own host. Nothing is answered to a
    // Host that is not this console's, the dashboard's files included.
    if (req.get_header_value_count("Host") != 1 ||
        !host_is_local(req.get_header_value("Host"), options.address, req.local_addr, options.allowed_hosts)) {
      send(res, error_response(421, "Host '" + req.get_header_value("Host").substr(0, 100) +
                                        "' is not this console's name (localhost, its address, or console.allowed_hosts)"));
      return httplib::Server::HandlerResponse::Handled;
    }
    // The dashboard's own files hold no data, and a browser elsewhere must load them to reach
    // the page that asks for the token; everything with data (/api, /metrics) needs it.
    const bool has_data = req.path.rfind("/api", 0) == 0 || req.path == "/metrics";
    if (!has_data) return httplib::Server::HandlerResponse::Unhandled;
    AccessOptions access;
    access.forwarded = names_a_forwarded_client(req);
    access.token_for_loopback = options.token_for_loopback;
    switch (check_access(req.remote_addr, req.get_header_value("Authorization"), token_param(req), options.token, access)) {
      case Access::allowed:
        return httplib::Server::HandlerResponse::Unhandled;
      case Access::missing_token:
        res.set_header("WWW-Authenticate", "Bearer realm=\"vigil\"");
        send(res, error_response(401, "a bearer token is required from " +
                                          (access.forwarded ? "a forwarded client" : req.remote_addr) +
                                          " (Authorization: Bearer <token>, or ?token=); the agent keeps it in console.token"));
        return httplib::Server::HandlerResponse::Handled;
      case Access::wrong_token:
        res.set_header("WWW-Authenticate", "Bearer realm=\"vigil\", error=\"invalid_token\"");
        send(res, error_response(401, "the bearer token is not this agent's"));
        return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    std::lock_guard lock(counts_mutex);
    ++requests_by_status[res.status];
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send(res, error_response(500, "internal error"));
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only fill bodies the handlers left empty (httplib's own 400/404/413...).
    if (res.body.empty() && !res.is_chunked_content_provider_)
      send(res, error_response(res.status, res.status == 404 ? "no such path: " + req.path : "request failed with status " + std::to_string(res.status)));
  });

  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.params.empty() && !(req.params.size() == 1 && req.params.count("token"))) {
      send(res, error_response(400, "/metrics takes no parameters"));
      return;
    }
    nlohmann::json status = backend.status();
    if (!status.is_object()) status = nlohmann::json::object();  // ["console"] would throw on anything else
    status["console"] = this->status();
    res.set_content(render_metrics(status), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/api/stream", [this](const httplib::Request& req, httplib::Response& res) { serve_stream(req, res); });
  auto api_handler = [this](const httplib::Request& req, httplib::Response& res) {
    ApiRequest request;
    request.method = req.method;
    request.path = req.path;
    for (const auto& [name, value] : req.params) request.params.emplace(name, value);
    send(res, api.handle(request));
  };
  s.Get(R"(/api(/.*)?)", api_handler);
  s.Post(R"(/api(/.*)?)", api_handler);
  s.Put(R"(/api(/.*)?)", api_handler);
  s.Delete(R"(/api(/.*)?)", api_handler);
  s.Patch(R"(/api(/.*)?)", api_handler);
  s.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) { serve_file(req, res); });
}

void ConsoleServer::Impl::serve_file(const httplib::Request& req, httplib::Response& res) {
  if (!options.files) {
    send(res, error_response(404, "this agent was built without the dashboard"));
    return;
  }
  std::string path = req.path.empty() || req.path == "/" ? "/index.html" : req.path;
  auto file = options.files(path);
  // The dashboard routes in the page (#/alerts); any other path that is not a file shows it too,
  // but a missing asset stays a 404 so a broken build is visible.
  if (!file && path.rfind("/assets/", 0) != 0) file = options.files("/index.html");
  if (!file) {
    send(res, error_response(404, "no such file: " + req.path));
    return;
  }
  res.set_header("Content-Security-Policy", std::string(kDashboardPolicy));
  // Hashed asset names never change content; index.html must be re-read after an upgrade.
  // set_header() adds a header: replace the pre-routing handler's no-store instead of sending both.
  if (path.rfind("/assets/", 0) == 0) {
    res.headers.erase("Cache-Control");
    res.set_header("Cache-Control", "public, max-age=31536000, immutable");
  }
  res.set_content(std::string(file->body), std::string(file->content_type).c_str());
}

void ConsoleServer::Impl::serve_stream(const httplib::Request& req, httplib::Response& res) {
  std::int64_t after = -1;
  std::string resume = req.get_header_value("Last-Event-ID");
  if (resume.empty() && req.has_param("since_id")) resume = req.get_param_value("since_id");
  for (const auto& [name, value] : req.params) {
    if (name != "token" && name != "since_id") {
      send(res, error_response(400, "unknown parameter '" + name + "'; /api/stream takes since_id"));
      return;
    }
  }
  if (!resume.empty()) {
    ApiRequest as_param;
    as_param.params.emplace("since_id", resume);
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(resume.data(), resume.data() + resume.size(), value);
    if (error != std::errc{} || end != resume.data() + resume.size() || value < 0) {
      send(res, error_response(400, "Last-Event-ID / since_id: expected an alert id"));
      return;
    }
    after = value;
  }
  if (after < 0) {
    auto latest = api.latest_alert_id();
    if (!latest) {
      send(res, error_response(500, "store: " + latest.error().message));
      return;
    }
    after = *latest;
  }
  if (stream_clients.fetch_add(1) >= options.max_stream_clients) {
    stream_clients.fetch_sub(1);
    send(res, error_response(503, "too many live streams open (" + std::to_string(options.max_stream_clients) + ")"));
    return;
  }
  res.set_header("X-Accel-Buffering", "no");
  struct StreamState {
    std::int64_t last_id;
    bool greeted = false;
    std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  };
  auto state = std::make_shared<StreamState>(StreamState{after});
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state](size_t, httplib::DataSink& sink) {
        if (!state->greeted) {
          // The retry hint and a first comment let the client see the stream open at once.
          const std::string hello = "retry: 2000\n: vigil alert stream\n\n";
          state->greeted = true;
          return sink.write(hello.data(), hello.size());
        }
        if (!wait(options.stream_poll)) return false;
        if (!sink.is_writable()) return false;
        auto alerts = api.alerts_after(state->last_id, 200);
        if (alerts && !alerts->empty()) {
          std::string chunk;
          for (const auto& alert : *alerts) {
            chunk += "id: " + std::to_string(alert.id) + "\nevent: alert\ndata: ";
            chunk += alert_json(alert, false).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            chunk += "\n\n";
            state->last_id = alert.id;
          }
          state->last_write = std::chrono::steady_clock::now();
          return sink.write(chunk.data(), chunk.size());
        }
        if (std::chrono::steady_clock::now() - state->last_write >= options.stream_keepalive) {
          state->last_write = std::chrono::steady_clock::now();
          static constexpr std::string_view kKeepAlive = ": keep-alive\n\n";
          return sink.write(kKeepAlive.data(), kKeepAlive.size());
        }
        return true;
      },
      [this](bool) { stream_clients.fetch_sub(1); });
}

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConsoleServer::~ConsoleServer() { stop(); }

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::start(ServerOptions options, const Api& api,
                                                           const ConsoleBackend& backend) {
  auto impl = std::make_unique<Impl>(std::move(options), api, backend);
  const ServerOptions& o = impl->options;
  if (o.tls_cert.empty() != o.tls_key.empty()) return fail("console: tls_cert and tls_key go together");
  TlsContext tls;
  if (!o.tls_cert.empty()) {
    for (const std::string* file : {&o.tls_cert, &o.tls_key}) {
      if (::access(file->c_str(), R_OK) != 0) return fail_errno("console: TLS file " + *file);
    }
    auto context = server_tls_context(o.tls_cert, o.tls_key);
    if (!context) return std::unexpected(context.error());
    tls = std::move(*context);
  }
  impl->install_routes();
  ConnectionLimits limits;
  limits.max_connections = o.max_connections;
  limits.max_per_peer = o.max_connections_per_peer;
  limits.worker_threads = o.worker_threads;
  limits.handshake_deadline = o.request_deadline;
  limits.request_deadline = o.request_deadline;
  limits.idle_timeout = o.idle_timeout;
  limits.io_timeout = o.io_timeout;
  limits.max_request_head = 64 * 1024;
  limits.max_request_body = o.max_body_bytes;
  auto connections = ConnectionServer::start(impl->router, o.address, o.port, limits, std::move(tls));
  if (!connections) return fail("console: " + connections.error().message);
  impl->connections = std::move(*connections);
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

void ConsoleServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  {
    std::lock_guard lock(impl_->stop_mutex);
  }
  impl_->stop_signal.notify_all();
  if (impl_->connections) impl_->connections->stop();
}

int ConsoleServer::port() const { return impl_->connections->port(); }

std::string ConsoleServer::url() const {
  std::string host = impl_->options.address;
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options.tls_cert.empty() ? "http" : "https") + "://" + host + ":" +
         std::to_string(port()) + "/";
}

nlohmann::json ConsoleServer::status() const { return impl_->status(); }

}  // namespace vigil::web
