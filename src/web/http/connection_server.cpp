#include "web/http/connection_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace vigil::web {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kListenToken = 0;
constexpr std::uint64_t kWakeToken = 1;
constexpr std::uint64_t kFirstConnectionId = 2;
// After accept() runs out of descriptors (or memory), the listening socket rests this long
// instead of waking the loop for the same queued connection again and again.
constexpr std::chrono::milliseconds kAcceptPause{100};

thread_local bool close_requested = false;

std::string address_text(const sockaddr_storage& address, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    if (port) *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      ::inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
    if (port) *port = ntohs(v6->sin6_port);
  }
  return text;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

enum class State { handshake, idle, busy };

struct Connection {
  std::uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  std::string peer;  // peer_of(remote address): the per-peer cap's key
  std::string remote_address, local_address;
  int remote_port = 0, local_port = 0;
  State state = State::idle;
  Clock::time_point deadline;
  int requests = 0;

  ~Connection() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};

// httplib's view of one connection while a worker serves it: buffered reads and whole writes,
// each wait bounded, the request's head bounded in time and the request in bytes.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& connection, std::chrono::milliseconds io_timeout)
      : connection_(connection), io_timeout_(io_timeout) {}

  void begin_request(std::size_t byte_budget, Clock::time_point head_deadline) {
    budget_ = byte_budget;
    head_deadline_ = head_deadline;
    head_done_ = false;
    head_match_ = 0;
    failed_ = timed_out_in_head_ = over_budget_ = false;
  }
  bool failed() const { return failed_; }
  bool timed_out_in_head() const { return timed_out_in_head_; }
  bool over_budget() const { return over_budget_; }
  bool has_buffered() const { return begin_ < end_ || (connection_.ssl && SSL_pending(connection_.ssl) > 0); }

  bool is_readable() const override {
    return has_buffered() || wait_for(POLLIN, std::chrono::milliseconds(io_timeout_)) > 0;
  }
  bool is_writable() const override {
    if (wait_for(POLLOUT, io_timeout_) <= 0) return false;
    // A peer that went away shows as readable with nothing to read.
    pollfd readable{connection_.fd, POLLIN, 0};
    if (::poll(&readable, 1, 0) == 1) {
      char byte;
      const ssize_t got = ::recv(connection_.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
    }
    return true;
  }

  ssize_t read(char* out, std::size_t size) override {
    if (failed_) return -1;
    if (budget_ == 0) {
      failed_ = over_budget_ = true;
      return -1;
    }
    if (begin_ == end_ && !fill()) return failed_ ? -1 : 0;
    const std::size_t count = std::min({size, end_ - begin_, budget_});
    std::memcpy(out, buffer_ + begin_, count);
    if (!head_done_) note_head_bytes(buffer_ + begin_, count);
    begin_ += count;
    budget_ -= count;
    return static_cast<ssize_t>(count);
  }

  ssize_t write(const char* data, std::size_t size) override {
    if (failed_) return -1;
    std::size_t done = 0;
    while (done < size) {
      const std::size_t chunk = std::min<std::size_t>(size - done, INT_MAX);
      short wait_event = POLLOUT;
      if (connection_.ssl) {
        ERR_clear_error();
        const int written = SSL_write(connection_.ssl, data + done, static_cast<int>(chunk));
        if (written > 0) {
          done += static_cast<std::size_t>(written);
          continue;
        }
        const int error = SSL_get_error(connection_.ssl, written);
        if (error == SSL_ERROR_WANT_READ) wait_event = POLLIN;
        else if (error != SSL_ERROR_WANT_WRITE) return fail();
      } else {
        const ssize_t written = ::send(connection_.fd, data + done, chunk, MSG_NOSIGNAL);
        if (written > 0) {
          done += static_cast<std::size_t>(written);
          continue;
        }
        if (written < 0 && errno == EINTR) continue;
        if (written == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return fail();
      }
      if (wait_for(wait_event, io_timeout_) <= 0) return fail();
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = connection_.remote_address;
    port = connection_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = connection_.local_address;
    port = connection_.local_port;
  }
  socket_t socket() const override { return connection_.fd; }

 private:
  ssize_t fail() {
    failed_ = true;
    return -1;
  }

  // Waits for `events`; > 0 ready, 0 timed out, < 0 error.
  int wait_for(short events, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      pollfd entry{connection_.fd, events, 0};
      const int ready = ::poll(&entry, 1, remaining_ms(deadline));
      if (ready < 0 && errno == EINTR) continue;
      return ready;
    }
  }

  // One read into the buffer: true with data, false at the end of the stream or on failure
  // (failed_ set) or when a wait ran past its time (failed_ too).
  bool fill() {
    begin_ = end_ = 0;
    for (;;) {
      short wait_event = POLLIN;
      if (connection_.ssl) {
        ERR_clear_error();
        const int got = SSL_read(connection_.ssl, buffer_, sizeof buffer_);
        if (got > 0) {
          end_ = static_cast<std::size_t>(got);
          return true;
        }
        const int error = SSL_get_error(connection_.ssl, got);
        if (error == SSL_ERROR_ZERO_RETURN) return false;
        if (error == SSL_ERROR_WANT_WRITE) wait_event = POLLOUT;
        else if (error != SSL_ERROR_WANT_READ) {
          failed_ = true;
          return false;
        }
      } else {
        const ssize_t got = ::recv(connection_.fd, buffer_, sizeof buffer_, 0);
        if (got > 0) {
          end_ = static_cast<std::size_t>(got);
          return true;
        }
        if (got == 0) return false;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          failed_ = true;
          return false;
        }
      }
      auto timeout = io_timeout_;
      const bool head_bound = !head_done_ && head_deadline_ - Clock::now() < timeout;
      if (head_bound) timeout = std::chrono::duration_cast<std::chrono::milliseconds>(head_deadline_ - Clock::now());
      if (timeout.count() <= 0 || wait_for(wait_event, timeout) <= 0) {
        failed_ = true;
        timed_out_in_head_ = !head_done_;
        return false;
      }
    }
  }

  // The head ends at the first CRLFCRLF (httplib accepts no bare-LF lines).
  void note_head_bytes(const char* bytes, std::size_t count) {
    static constexpr char kEnd[] = "\r\n\r\n";
    for (std::size_t i = 0; i < count && !head_done_; ++i) {
      if (bytes[i] == kEnd[head_match_]) ++head_match_;
      else head_match_ = bytes[i] == '\r' ? 1 : 0;
      if (head_match_ == 4) head_done_ = true;
    }
  }

  Connection& connection_;
  std::chrono::milliseconds io_timeout_;
  char buffer_[16384];
  std::size_t begin_ = 0, end_ = 0;
  std::size_t budget_ = 0;
  Clock::time_point head_deadline_;
  bool head_done_ = false;
  int head_match_ = 0;
  bool failed_ = false, timed_out_in_head_ = false, over_budget_ = false;
};

}  // namespace

std::string peer_of(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return address;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) != 1) return address;
  char text[INET6_ADDRSTRLEN] = {};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    ::inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof text);
    return text;
  }
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return "::1";
  std::memset(&v6.s6_addr[8], 0, 8);
  ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  return std::string(text) + "/64";
}

struct ConnectionServer::Impl {
  RequestRouter& router;
  ConnectionLimits limits;
  TlsContext tls;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::thread dispatcher;
  std::vector<std::thread> workers;

  mutable std::mutex mutex;  // guards everything below
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  std::map<std::string, int> per_peer;
  std::uint64_t next_id = kFirstConnectionId;
  std::deque<std::shared_ptr<Connection>> ready;  // requests arriving, for the workers
  std::condition_variable work;
  bool listening_paused = false;
  Clock::time_point resume_listening;
  std::uint64_t accepted = 0, refused_total_cap = 0, refused_peer_cap = 0, handshake_failed = 0,
                handshake_timeouts = 0, idle_timeouts = 0, request_timeouts = 0, oversized_requests = 0;

  Impl(RequestRouter& r, ConnectionLimits l, TlsContext t) : router(r), limits(l), tls(std::move(t)) {}
  ~Impl() {
    for (int fd : {listen_fd, epoll_fd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void wake() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd, &one, sizeof one);
  }

  // Removes a connection the caller holds the lock for; its descriptor closes with the last
  // reference (a worker may still hold one for a moment).
  void forget(const std::shared_ptr<Connection>& connection) {
    if (connections.erase(connection->id) == 0) return;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, nullptr);
    auto peer = per_peer.find(connection->peer);
    if (peer != per_peer.end() && --peer->second <= 0) per_peer.erase(peer);
    ::shutdown(connection->fd, SHUT_RDWR);
  }

  void watch(const std::shared_ptr<Connection>& connection, std::uint32_t events, int operation) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = connection->id;
    ::epoll_ctl(epoll_fd, operation, connection->fd, &event);
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage remote{};
      socklen_t length = sizeof remote;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&remote), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          std::lock_guard lock(mutex);
          ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
          listening_paused = true;
          resume_listening = Clock::now() + kAcceptPause;
        }
        return;  // EAGAIN: all taken
      }
      auto connection = std::make_shared<Connection>();
      connection->fd = fd;
      connection->remote_address = address_text(remote, &connection->remote_port);
      connection->peer = peer_of(connection->remote_address);
      sockaddr_storage local{};
      length = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
        connection->local_address = address_text(local, &connection->local_port);
      }
      std::lock_guard lock(mutex);
      if (static_cast<int>(connections.size()) >= limits.max_connections) {
        ++refused_total_cap;
        continue;  // connection's destructor closes it
      }
      int& from_peer = per_peer[connection->peer];
      if (from_peer >= limits.max_per_peer) {
        ++refused_peer_cap;
        continue;
      }
      if (tls) {
        connection->ssl = SSL_new(tls.get());
        if (connection->ssl == nullptr || SSL_set_fd(connection->ssl, fd) != 1) {
          ERR_clear_error();
          ++handshake_failed;
          if (from_peer == 0) per_peer.erase(connection->peer);
          continue;
        }
      }
      ++from_peer;
      ++accepted;
      if (limits.tcp_nodelay) {
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      }
      connection->id = next_id++;
      if (tls) {
        SSL_set_accept_state(connection->ssl);
        SSL_set_mode(connection->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        connection->state = State::handshake;
        connection->deadline = Clock::now() + limits.handshake_deadline;
      } else {
        connection->state = State::idle;
        connection->deadline = Clock::now() + limits.idle_timeout;
      }
      connections.emplace(connection->id, connection);
      watch(connection, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
  }

  // Hands a connection whose request has begun to arrive to the workers (lock held).
  void dispatch(const std::shared_ptr<Connection>& connection) {
    connection->state = State::busy;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, nullptr);
    ready.push_back(connection);
    work.notify_one();
  }

  // One step of a TLS handshake (lock held; non-blocking, so short).
  void continue_handshake(const std::shared_ptr<Connection>& connection) {
    ERR_clear_error();
    const int result = SSL_do_handshake(connection->ssl);
    if (result == 1) {
      connection->state = State::idle;
      connection->deadline = Clock::now() + limits.idle_timeout;
      if (SSL_has_pending(connection->ssl)) {
        dispatch(connection);
      } else {
        watch(connection, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
      }
      return;
    }
    const int error = SSL_get_error(connection->ssl, result);
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_READ) {
      watch(connection, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    } else if (error == SSL_ERROR_WANT_WRITE) {
      watch(connection, EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_MOD);
    } else {
      ++handshake_failed;
      forget(connection);
    }
  }

  void on_event(std::uint64_t id) {
    std::lock_guard lock(mutex);
    auto found = connections.find(id);
    if (found == connections.end()) return;
    const std::shared_ptr<Connection> connection = found->second;
    if (connection->state == State::handshake) {
      continue_handshake(connection);
    } else if (connection->state == State::idle) {
      dispatch(connection);  // a request, or the end: the worker reads which
    }
  }

  // Ends handshakes and idle connections past their deadline; how long until the next one.
  int expire() {
    std::lock_guard lock(mutex);
    const auto now = Clock::now();
    auto next = now + std::chrono::seconds(1);
    std::vector<std::shared_ptr<Connection>> expired;
    for (const auto& [id, connection] : connections) {
      if (connection->state == State::busy) continue;
      if (connection->deadline <= now) {
        expired.push_back(connection);
      } else {
        next = std::min(next, connection->deadline);
      }
    }
    for (const auto& connection : expired) {
      ++(connection->state == State::handshake ? handshake_timeouts : idle_timeouts);
      forget(connection);
    }
    if (listening_paused) {
      if (resume_listening <= now) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = kListenToken;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
        listening_paused = false;
      } else {
        next = std::min(next, resume_listening);
      }
    }
    return std::max(1, remaining_ms(next));
  }

  void run_dispatcher() {
    epoll_event events[64];
    int timeout = 0;
    while (!stopping) {
      const int count = ::epoll_wait(epoll_fd, events, 64, timeout);
      for (int i = 0; i < count; ++i) {
        const std::uint64_t token = events[i].data.u64;
        if (token == kListenToken) {
          accept_all();
        } else if (token == kWakeToken) {
          std::uint64_t value;
          [[maybe_unused]] const ssize_t got = ::read(wake_fd, &value, sizeof value);
        } else {
          on_event(token);
        }
      }
      timeout = expire();
    }
  }

  void run_worker() {
    for (;;) {
      std::shared_ptr<Connection> connection;
      {
        std::unique_lock lock(mutex);
        work.wait(lock, [&] { return stopping || !ready.empty(); });
        if (ready.empty()) return;
        connection = std::move(ready.front());
        ready.pop_front();
      }
      serve(connection);
    }
  }

  void serve(const std::shared_ptr<Connection>& connection) {
    ConnectionStream stream(*connection, limits.io_timeout);
    SSL* ssl = connection->ssl;
    const std::function<void(httplib::Request&)> setup = [ssl](httplib::Request& request) { request.ssl = ssl; };
    bool keep = true;
    while (keep) {
      stream.begin_request(limits.max_request_head + limits.max_request_body, Clock::now() + limits.request_deadline);
      close_requested = false;
      const bool last = stopping || ++connection->requests >= limits.max_requests_per_connection;
      bool closed = false;
      const bool served = router.serve_request(stream, last, closed, ssl ? setup : nullptr);
      if (stream.timed_out_in_head() || stream.over_budget()) {
        std::lock_guard lock(mutex);
        ++(stream.timed_out_in_head() ? request_timeouts : oversized_requests);
      }
      keep = served && !closed && !last && !close_requested && !stream.failed() && !stopping;
      if (keep && !stream.has_buffered()) {
        std::lock_guard lock(mutex);
        if (stopping || !connections.count(connection->id)) break;
        connection->state = State::idle;
        connection->deadline = Clock::now() + limits.idle_timeout;
        watch(connection, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
        return;
      }
    }
    if (ssl && !stream.failed()) {
      ERR_clear_error();
      SSL_shutdown(ssl);  // close_notify, best effort (non-blocking)
      ERR_clear_error();
    }
    std::lock_guard lock(mutex);
    forget(connection);
  }
};

ConnectionServer::ConnectionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnectionServer::~ConnectionServer() { stop(); }

void ConnectionServer::close_after_response() { close_requested = true; }

Result<std::unique_ptr<ConnectionServer>> ConnectionServer::start(RequestRouter& router, const std::string& address,
                                                                 int port, ConnectionLimits limits, TlsContext tls) {
  limits.max_connections = std::max(1, limits.max_connections);
  limits.max_per_peer = std::max(1, limits.max_per_peer);
  limits.worker_threads = std::max(1, limits.worker_threads);
  limits.max_requests_per_connection = std::max(1, limits.max_requests_per_connection);
  auto impl = std::make_unique<Impl>(router, limits, std::move(tls));
  // httplib writes these into responses (Keep-Alive: timeout=, max=) and reads bodies up to the
  // payload limit; past it, our byte budget has already stopped the reading.
  router.set_keep_alive_timeout(std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(limits.idle_timeout).count()));
  router.set_keep_alive_max_count(static_cast<std::size_t>(limits.max_requests_per_connection));
  router.set_payload_max_length(limits.max_request_body);

  const std::string where = address + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int error = ::getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &found);
      error != 0) {
    return fail("cannot listen on " + where + ": " + ::gai_strerror(error));
  }
  int bind_errno = 0;
  for (addrinfo* candidate = found; candidate != nullptr && impl->listen_fd < 0; candidate = candidate->ai_next) {
    const int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR allows a restart while old connections linger in TIME_WAIT; no SO_REUSEPORT,
    // with which a second server would share the port silently.
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) != 0 || ::listen(fd, limits.listen_backlog) != 0) {
      bind_errno = errno;
      ::close(fd);
      continue;
    }
    impl->listen_fd = fd;
  }
  ::freeaddrinfo(found);
  if (impl->listen_fd < 0) {
    return fail("cannot listen on " + where + ": " + std::strerror(bind_errno ? bind_errno : EADDRNOTAVAIL) +
                    " (in use, or not an address of this host)",
                bind_errno);
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound), &length);
  address_text(bound, &impl->port);

  impl->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0) return fail_errno("cannot listen on " + where + ": epoll");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenToken;
  ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->listen_fd, &event);
  event.data.u64 = kWakeToken;
  ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->wake_fd, &event);

  router.set_serving(true);
  Impl* raw = impl.get();
  for (int i = 0; i < limits.worker_threads; ++i) raw->workers.emplace_back([raw] { raw->run_worker(); });
  raw->dispatcher = std::thread([raw] { raw->run_dispatcher(); });
  return std::unique_ptr<ConnectionServer>(new ConnectionServer(std::move(impl)));
}

void ConnectionServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  impl_->router.set_serving(false);  // ends streamed responses at their next step
  impl_->wake();
  if (impl_->dispatcher.joinable()) impl_->dispatcher.join();
  {
    std::lock_guard lock(impl_->mutex);
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
    // Busy connections: their worker's next read or write fails at once.
    std::vector<std::shared_ptr<Connection>> waiting;
    for (const auto& [id, connection] : impl_->connections) {
      if (connection->state == State::busy) {
        ::shutdown(connection->fd, SHUT_RDWR);
      } else {
        waiting.push_back(connection);
      }
    }
    for (const auto& connection : waiting) impl_->forget(connection);
    impl_->work.notify_all();
  }
  for (auto& worker : impl_->workers) {
    if (worker.joinable()) worker.join();
  }
  std::lock_guard lock(impl_->mutex);
  impl_->ready.clear();
  impl_->connections.clear();
}

bool ConnectionServer::stopping() const { return impl_->stopping; }

int ConnectionServer::port() const { return impl_->port; }

nlohmann::json ConnectionServer::counts() const {
  std::lock_guard lock(impl_->mutex);
  return {{"open", impl_->connections.size()},
          {"accepted", impl_->accepted},
          {"refused_total_cap", impl_->refused_total_cap},
          {"refused_peer_cap", impl_->refused_peer_cap},
          {"handshake_failed", impl_->handshake_failed},
          {"handshake_timeouts", impl_->handshake_timeouts},
          {"idle_timeouts", impl_->idle_timeouts},
          {"request_timeouts", impl_->request_timeouts},
          {"oversized_requests", impl_->oversized_requests}};
}

}  // namespace vigil::web
