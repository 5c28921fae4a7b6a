#pragma once
// HTTP/1.1 (and HTTPS) connections under limits, for the console and the verifier.
//
// cpp-httplib parses and routes each request (its Server::process_request, reached through
// RequestRouter); the sockets are ours, because httplib's own accept loop takes every connection
// the kernel offers, queues it without bound and lets one slow client hold a worker thread (and,
// for TLS, do its handshake in one) for as long as it trickles bytes. Here:
//  - one thread accepts and watches every connection that is not being served (epoll); a
//    connection over the total or per-peer cap is closed the moment it is accepted, so the
//    server never holds more descriptors than max_connections (+ its listening socket);
//  - TLS handshakes run there too, non-blocking, each with a total deadline: a peer trickling a
//    handshake costs a descriptor (within its peer's cap) and nothing else;
//  - a worker takes a connection only once a request has begun to arrive and gives it back
//    when the response is written; the request's line and headers must arrive within a total
//    deadline, and reading stops at a byte budget (head + allowed body), so neither a slow nor a
//    huge request holds a worker or memory for long.
#include <openssl/ssl.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::web {

struct ConnectionLimits {
  int max_connections = 64;  // open at once, all peers (each holds one descriptor)
  int max_per_peer = 16;     // from one IPv4 address or IPv6 /64
  int worker_threads = 8;    // requests served at once
  std::chrono::milliseconds handshake_deadline{5000};  // TLS: the whole handshake
  std::chrono::milliseconds request_deadline{10000};   // a request's line and headers, from its first byte
  std::chrono::milliseconds idle_timeout{5000};        // waiting for a request (the first, or the next one)
  std::chrono::milliseconds io_timeout{5000};          // any one wait to read or write while serving
  std::size_t max_request_head = 64 * 1024;            // request line and headers, in bytes
  std::size_t max_request_body = 0;                    // reading stops past head + this many bytes
  int max_requests_per_connection = 100;
  int listen_backlog = 1024;  // the kernel caps it at net.core.somaxconn
  bool tcp_nodelay = false;
};

// An httplib::Server with its handlers installed the usual way; ConnectionServer feeds it
// requests (it never listens itself).
class RequestRouter : public httplib::Server {
 public:
  bool serve_request(httplib::Stream& stream, bool close_connection, bool& connection_closed,
                     const std::function<void(httplib::Request&)>& setup_request) {
    return process_request(stream, close_connection, connection_closed, setup_request);
  }
  // httplib ends a response stream (chunked or provided content) once its listening socket is
  // gone; it has none here, so ConnectionServer marks the router serving while it runs (a value
  // httplib only compares, never uses as a descriptor).
  void set_serving(bool serving) { svr_sock_ = serving ? INT_MAX : INVALID_SOCKET; }
};

struct TlsContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
using TlsContext = std::unique_ptr<SSL_CTX, TlsContextFree>;

class ConnectionServer {
 public:
  // Binds address:port (port 0: any free port) and starts serving with `router`, which must
  // outlive the server. With `tls`, every connection is HTTPS with that context (client
  // certificates as the context demands; handlers find the session in Request::ssl).
  static Result<std::unique_ptr<ConnectionServer>> start(RequestRouter& router, const std::string& address, int port,
                                                         ConnectionLimits limits, TlsContext tls = nullptr);
  ~ConnectionServer();  // stop()
  ConnectionServer(const ConnectionServer&) = delete;
  ConnectionServer& operator=(const ConnectionServer&) = delete;

  // Stops accepting, ends idle connections at once and busy ones at their next read or write
  // (the peer's socket is shut down), and waits for the workers. Handlers that wait on their own
  // (a live stream) must end when their owner tells them to, before or during this call.
  void stop();
  bool stopping() const;
  int port() const;
  // {"open", "accepted", "refused_total_cap", "refused_peer_cap", "handshake_failed",
  //  "handshake_timeouts", "idle_timeouts", "request_timeouts", "oversized_requests"}
  nlohmann::json counts() const;

  // Called by a handler: the connection closes once this response is written (an unread
  // request body must not be taken for the next request).
  static void close_after_response();

 private:
  struct Impl;
  explicit ConnectionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The peer an address counts as for per-peer caps: the IPv4 address itself ("::ffff:a.b.c.d"
// as "a.b.c.d"), an IPv6 address's /64 ("2001:db8:1:2::/64").
std::string peer_of(const std::string& address);

}  // namespace vigil::web
