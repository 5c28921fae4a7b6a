#pragma once
// The console on HTTP(S): access control, the JSON API, the live alert stream (SSE), /metrics
// and the dashboard's files, on one listening socket with a pool of worker threads.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "web/api.h"

namespace vigil::web {

// One file of the dashboard (the agent embeds them; tests pass their own).
struct StaticFile {
  std::string_view content_type;
  std::string_view body;
};
using StaticFiles = std::function<std::optional<StaticFile>(std::string_view path)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 7373;  // 0: any free port (see ConsoleServer::port())
  std::string tls_cert, tls_key;  // both set: HTTPS
  std::string token;              // required from non-loopback peers (and from all with token_for_loopback)
  bool token_for_loopback = false;
  std::vector<std::string> allowed_hosts;  // Host names accepted besides localhost and this server's addresses
  StaticFiles files;              // null: no dashboard
  int worker_threads = 16;
  int max_stream_clients = 8;     // more live streams are refused with 503
  // Connections open at once (each a descriptor: the agent counts them in its budget, see
  // console_descriptor_budget()) and from one peer; more are closed as they are accepted.
  int max_connections = 64;
  int max_connections_per_peer = 16;
  std::chrono::milliseconds request_deadline{5000};  // a request's line and headers, from its first byte
  std::chrono::milliseconds idle_timeout{5000};      // a connection waiting for a request
  std::chrono::milliseconds io_timeout{5000};        // any one wait to read or write
  std::size_t max_body_bytes = 1024;                  // the API is GET-only: larger bodies get 413 unread
  std::chrono::milliseconds stream_poll{100};        // how soon a committed alert is streamed
  std::chrono::milliseconds stream_keepalive{15000};
};

// The most descriptors a console with these options holds: its connections, its listening
// socket, epoll and wake-up descriptors.
int console_descriptor_budget(const ServerOptions& options);

class ConsoleServer {
 public:
  // Binds and starts serving on a thread of its own. Fails when the address cannot be bound
  // or the TLS files cannot be loaded (naming them).
  static Result<std::unique_ptr<ConsoleServer>> start(ServerOptions options, const Api& api,
                                                      const ConsoleBackend& backend);
  ~ConsoleServer();  // stop()
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  void stop();
  int port() const;
  // "http://127.0.0.1:7373/" (the address as bound; a wildcard shows as 127.0.0.1).
  std::string url() const;
  // {"http_requests": {"200": n, ...}, "stream_clients": n, "connections": {...}}
  nlohmann::json status() const;

 private:
  struct Impl;
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::web
