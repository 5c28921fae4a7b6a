#include "web/http/server.h"

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "web/access.h"
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

}  // namespace

struct ConsoleServer::Impl {
  ServerOptions options;
  const Api& api;
  const ConsoleBackend& backend;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> listen_returned{false};
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
    return {{"http_requests", codes}, {"stream_clients", stream_clients.load()}, {"store", api.store_status()}};
  }
  // Sleeps up to `duration`; false when the server is stopping.
  bool wait(std::chrono::milliseconds duration) {
    std::unique_lock lock(stop_mutex);
    return !stop_signal.wait_for(lock, duration, [&] { return stopping.load(); });
  }
};

void ConsoleServer::Impl::install_routes() {
  httplib::Server& s = *server;
  s.new_task_queue = [threads = options.worker_threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    // The dashboard's own files hold no data, and a browser elsewhere must load them to reach
    // the page that asks for the token; everything with data (/api, /metrics) needs it.
    const bool has_data = req.path.rfind("/api", 0) == 0 || req.path == "/metrics";
    if (!has_data) return httplib::Server::HandlerResponse::Unhandled;
    switch (check_access(req.remote_addr, req.get_header_value("Authorization"), token_param(req), options.token)) {
      case Access::allowed:
        return httplib::Server::HandlerResponse::Unhandled;
      case Access::missing_token:
        res.set_header("WWW-Authenticate", "Bearer realm=\"vigil\"");
        send(res, error_response(401, "a bearer token is required from " + req.remote_addr +
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
  if (!o.tls_cert.empty()) {
    for (const std::string* file : {&o.tls_cert, &o.tls_key}) {
      if (::access(file->c_str(), R_OK) != 0) return fail_errno("console: TLS file " + *file);
    }
    auto tls = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    if (!tls->is_valid()) {
      return fail("console: cannot load the TLS certificate " + o.tls_cert + " and key " + o.tls_key + ": " +
                  openssl_errors());
    }
    impl->server = std::move(tls);
  } else {
    impl->server = std::make_unique<httplib::Server>();
  }
  // httplib's default sets SO_REUSEPORT, with which a second agent (or anything else of the same
  // user) binds the same port without an error and the kernel splits the connections between
  // them. SO_REUSEADDR alone still allows a restart while old connections are in TIME_WAIT.
  impl->server->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl->install_routes();
  if (o.port == 0) {
    impl->port = impl->server->bind_to_any_port(o.address);
  } else {
    impl->port = impl->server->bind_to_port(o.address, o.port) ? o.port : -1;
  }
  if (impl->port <= 0) {
    return fail("console: cannot listen on " + o.address + ":" + std::to_string(o.port) +
                " (in use, or not an address of this host)");
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server->listen_after_bind();
    raw->listen_returned = true;
  });
  // httplib's stop() does nothing until listen_after_bind() has marked the server running, so a
  // stop() right after start() would leave it listening and join() waiting forever: return
  // only once it runs (or has already given up).
  while (!raw->server->is_running() && !raw->listen_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

void ConsoleServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  {
    std::lock_guard lock(impl_->stop_mutex);
  }
  impl_->stop_signal.notify_all();
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int ConsoleServer::port() const { return impl_->port; }

std::string ConsoleServer::url() const {
  std::string host = impl_->options.address;
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options.tls_cert.empty() ? "http" : "https") + "://" + host + ":" +
         std::to_string(impl_->port) + "/";
}

nlohmann::json ConsoleServer::status() const { return impl_->status(); }

}  // namespace vigil::web
