// The console on HTTP (src/web/http/server.h), end to end in-process: the real server on an
// ephemeral loopback port, a real SQLite store in a temp dir and a fake backend, spoken to by a
// small raw-socket HTTP client whose every read has a deadline, so a broken server fails a test
// instead of hanging it. Covers access on the wire, headers, the dashboard files, /metrics,
// the live alert stream (SSE), bad requests and the server's start/stop life cycle.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <thread>
#include <utility>

#include "store/store.h"
#include "support/test_support.h"
#include "web/api.h"
#include "web/http/server.h"
#include "web_fake_backend.h"

namespace vigil::web {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";
constexpr auto kIoTimeout = 10s;  // any single exchange; far beyond what a working server needs

// ---- a minimal HTTP/1.1 client ------------------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// A non-blocking socket connected to address:port, or an invalid Fd.
Fd connect_to(const std::string& address, int port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof *v6;
  } else {
    return Fd();
  }
  Fd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Fd();
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    if (errno != EINPROGRESS) return Fd();
    pollfd poll_fd{fd.get(), POLLOUT, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(std::chrono::milliseconds(kIoTimeout).count())) != 1) return Fd();
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) return Fd();
  }
  return fd;
}

bool send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    pollfd poll_fd{fd, POLLOUT, 0};
    if (::poll(&poll_fd, 1, remaining_ms(deadline)) != 1) return false;
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (sent <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

enum class Read { data, eof, timeout };

// Appends what arrives before the deadline.
Read read_some(int fd, std::string& into, Clock::time_point deadline) {
  for (;;) {
    pollfd poll_fd{fd, POLLIN, 0};
    const int ready = ::poll(&poll_fd, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return Read::timeout;
    char buffer[65536];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) return Read::eof;  // orderly close or reset
    into.append(buffer, static_cast<std::size_t>(got));
    return Read::data;
  }
}

struct HttpResponse {
  int status = 0;  // 0: no (complete) response
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
  std::size_t count(const std::string& name) const { return headers.count(name); }
  json body_json() const { return json::parse(body, nullptr, false); }
  std::string error() const {
    const json parsed = body_json();
    return parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()
               ? parsed["error"].get<std::string>()
               : "(no error document: " + body + ")";
  }
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The status line and headers, once `raw` holds them all; the offset of the body.
std::optional<std::size_t> parse_head(const std::string& raw, HttpResponse& out) {
  const std::size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  std::size_t at = raw.find("\r\n");
  const std::string status_line = raw.substr(0, at);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
  out.status = std::atoi(status_line.c_str() + 9);
  while (at < end) {
    const std::size_t next = raw.find("\r\n", at + 2);
    const std::string line = raw.substr(at + 2, next - at - 2);
    at = next;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.headers.emplace(lower(line.substr(0, colon)), value);
  }
  return end + 4;
}

// Decodes Transfer-Encoding: chunked as bytes arrive.
class ChunkDecoder {
 public:
  // Appends the complete chunks of what was fed so far to `out`.
  void feed(std::string_view data, std::string& out) {
    pending_ += data;
    while (!finished_) {
      const std::size_t line_end = pending_.find("\r\n");
      if (line_end == std::string::npos) return;
      const std::size_t size = std::strtoul(pending_.substr(0, line_end).c_str(), nullptr, 16);
      if (size == 0) {
        finished_ = true;
        return;
      }
      if (pending_.size() < line_end + 2 + size + 2) return;
      out.append(pending_, line_end + 2, size);
      pending_.erase(0, line_end + 2 + size + 2);
    }
  }
  bool finished() const { return finished_; }

 private:
  std::string pending_;
  bool finished_ = false;
};

std::string request_text(const std::string& method, const std::string& target, const std::vector<std::string>& headers,
                         bool close) {
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (close) text += "Connection: close\r\n";
  for (const auto& header : headers) text += header + "\r\n";
  return text + "\r\n";
}

// Sends raw bytes and returns everything the server answers until it closes (or the deadline).
std::string exchange_raw(const std::string& address, int port, std::string_view bytes, bool* timed_out = nullptr) {
  Fd fd = connect_to(address, port);
  if (fd.get() < 0) return {};
  const auto deadline = Clock::now() + kIoTimeout;
  send_all(fd.get(), bytes, deadline);
  std::string raw;
  Read result;
  while ((result = read_some(fd.get(), raw, deadline)) == Read::data) {
  }
  if (timed_out) *timed_out = result == Read::timeout;
  return raw;
}

HttpResponse fetch_from(const std::string& address, int port, const std::string& target,
                        const std::vector<std::string>& headers = {}, const std::string& method = "GET") {
  bool timed_out = false;
  const std::string raw = exchange_raw(address, port, request_text(method, target, headers, true), &timed_out);
  HttpResponse response;
  if (timed_out) {
    ADD_FAILURE() << method << " " << target << ": no complete answer within " << kIoTimeout.count() << " s";
    return response;
  }
  auto body_at = parse_head(raw, response);
  if (!body_at) {
    response.status = 0;
    return response;
  }
  if (lower(response.header("transfer-encoding")) == "chunked") {
    ChunkDecoder decoder;
    decoder.feed(std::string_view(raw).substr(*body_at), response.body);
  } else {
    response.body = raw.substr(*body_at);
  }
  return response;
}

// One block of an event stream: an event (id/event/data) or only comments.
struct SseBlock {
  std::string id, event, data, retry;
  std::vector<std::string> comments;
};

// A live GET of an event stream, read incrementally.
class EventStream {
 public:
  EventStream(const std::string& address, int port, const std::string& target,
              const std::vector<std::string>& headers = {}) {
    fd_ = connect_to(address, port);
    if (fd_.get() < 0) return;
    const auto deadline = Clock::now() + kIoTimeout;
    if (!send_all(fd_.get(), request_text("GET", target, headers, false), deadline)) return;
    std::string raw;
    std::optional<std::size_t> body_at;
    while (!(body_at = parse_head(raw, head_))) {
      if (read_some(fd_.get(), raw, deadline) != Read::data) return;
    }
    chunked_ = lower(head_.header("transfer-encoding")) == "chunked";
    if (chunked_) {
      decoder_.feed(std::string_view(raw).substr(*body_at), decoded_);
    } else {
      // An error document: its Content-Length bytes.
      head_.body = raw.substr(*body_at);
      const std::size_t length = std::strtoul(head_.header("content-length").c_str(), nullptr, 10);
      while (head_.body.size() < length && read_some(fd_.get(), head_.body, deadline) == Read::data) {
      }
    }
  }

  const HttpResponse& head() const { return head_; }

  // The next block within `timeout`; nullopt when none came or the stream ended.
  std::optional<SseBlock> next(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const std::size_t end = decoded_.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = decoded_.substr(0, end);
        decoded_.erase(0, end + 2);
        return parse(block);
      }
      if (!chunked_ || ended_ || decoder_.finished()) return std::nullopt;
      std::string raw;
      const Read result = read_some(fd_.get(), raw, deadline);
      if (result == Read::eof) ended_ = true;
      if (result != Read::data) return std::nullopt;
      decoder_.feed(raw, decoded_);
    }
  }

  // The next block that is an event, skipping comments.
  std::optional<SseBlock> next_event(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto block = next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!block) return std::nullopt;
      if (!block->event.empty() || !block->data.empty()) return block;
    }
    return std::nullopt;
  }

  // True when the server closes the stream within `timeout`.
  bool closes_within(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!ended_ && !decoder_.finished()) {
      std::string raw;
      const Read result = read_some(fd_.get(), raw, deadline);
      if (result == Read::timeout) return false;
      if (result == Read::eof) ended_ = true;
      decoder_.feed(raw, decoded_);
    }
    return true;
  }

  void close() { fd_.reset(); }

 private:
  static SseBlock parse(const std::string& block) {
    SseBlock out;
    std::size_t at = 0;
    while (at <= block.size()) {
      std::size_t newline = block.find('\n', at);
      if (newline == std::string::npos) newline = block.size();
      const std::string line = block.substr(at, newline - at);
      at = newline + 1;
      if (line.empty()) continue;
      if (line[0] == ':') {
        out.comments.push_back(line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1));
        continue;
      }
      const std::size_t colon = line.find(':');
      const std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "id") out.id = value;
      else if (field == "event") out.event = value;
      else if (field == "data") out.data += (out.data.empty() ? "" : "\n") + value;
      else if (field == "retry") out.retry = value;
    }
    return out;
  }

  Fd fd_;
  HttpResponse head_;
  bool chunked_ = false;
  bool ended_ = false;
  ChunkDecoder decoder_;
  std::string decoded_;
};

// Waits for `condition` up to `timeout`.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// An IPv4 address of this host that is not loopback (connecting to it from here makes a
// non-loopback peer without root), if there is one.
std::optional<std::string> non_loopback_ipv4() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
    if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) == nullptr) continue;
    if (std::string(text).rfind("127.", 0) == 0) continue;
    found = text;
  }
  ::freeifaddrs(list);
  return found;
}


// A connection to 127.0.0.1:port from another loopback address (another peer to the server),
// established, or an invalid Fd.
Fd connect_from(const std::string& source, int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Fd();
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return Fd();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    if (errno != EINPROGRESS) return Fd();
    pollfd poll_fd{fd.get(), POLLOUT, 0};
    if (::poll(&poll_fd, 1, 10000) != 1) return Fd();
  }
  return fd;
}

// True when the server closes the connection (EOF or reset) within `timeout`; what it sent
// meanwhile lands in *received.
bool server_closes(int fd, std::chrono::milliseconds timeout, std::string* received = nullptr) {
  std::string ignored;
  std::string& into = received ? *received : ignored;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const Read result = read_some(fd, into, deadline);
    if (result == Read::eof) return true;
    if (result == Read::timeout) return false;
  }
}

// ---- the fixture -------------------------------------------------------------------------------

constexpr std::string_view kIndex = "<!doctype html><title>vigil</title>";
constexpr std::string_view kScript = "console.log('vigil')";

std::optional<StaticFile> dashboard_files(std::string_view path) {
  if (path == "/index.html") return StaticFile{"text/html; charset=utf-8", kIndex};
  if (path == "/assets/index-abc123.js") return StaticFile{"text/javascript", kScript};
  return std::nullopt;
}

class WebServer : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreConfig config;
    config.path = dir_ / "console.db";
    config.max_age = std::chrono::hours(24 * 365 * 200);
    config.flush_interval = 10ms;
    auto opened = store::open_sqlite_store(config);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
    api_ = std::make_unique<Api>(*store_, backend_);
  }

  static ServerOptions options() {
    ServerOptions options;
    options.port = 0;
    options.token = std::string(kToken);
    options.files = dashboard_files;
    options.worker_threads = 4;
    options.stream_poll = 20ms;
    return options;
  }

  ConsoleServer& start(ServerOptions options = WebServer::options()) {
    auto started = ConsoleServer::start(std::move(options), *api_, backend_);
    if (!started) {
      ADD_FAILURE() << started.error().message;
      throw std::runtime_error(started.error().message);
    }
    server_ = std::move(*started);
    return *server_;
  }

  HttpResponse fetch(const std::string& target, const std::vector<std::string>& headers = {},
                     const std::string& method = "GET") const {
    return fetch_from("127.0.0.1", server_->port(), target, headers, method);
  }

  std::int64_t add_alert(const std::string& rule, int priority = 4, const std::string& container = "") {
    store::AlertRecord alert;
    alert.time_ns = 1'795'456'800'000'000'000 + static_cast<std::int64_t>(++alerts_added_) * 1'000'000'000;
    alert.rule = rule;
    alert.priority = priority;
    alert.output = "output of " + rule;
    alert.container_id = container;
    alert.container_name = container.empty() ? "" : "name-" + container;
    alert.pid = 4242;
    alert.action = "alert";
    alert.json = json{{"hostname", "h1"}}.dump();
    EXPECT_TRUE(store_->add_alert(alert));
    EXPECT_TRUE(store_->flush(10s));
    return alerts_added_;
  }

  test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  test::FakeConsoleBackend backend_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<ConsoleServer> server_;
  int alerts_added_ = 0;
};

// ---- the API on HTTP ------------------------------------------------------------------------------

TEST_F(WebServer, ServesTheApiToLoopbackWithoutAToken) {
  start();
  const HttpResponse health = fetch("/api/health");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.header("content-type"), "application/json");
  EXPECT_EQ(health.body_json()["status"], "ok");
  EXPECT_EQ(health.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(health.count("cache-control"), 1u);
  EXPECT_EQ(health.header("cache-control"), "no-store");
  add_alert("Terminal shell");
  add_alert("Read sensitive file");
  // Parameters arrive decoded.
  const HttpResponse filtered = fetch("/api/alerts?rule=Terminal%20shell&limit=5");
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  ASSERT_EQ(filtered.body_json()["items"].size(), 1u);
  EXPECT_EQ(filtered.body_json()["items"][0]["rule"], "Terminal shell");
  EXPECT_EQ(fetch("/api/alerts?rule=Read+sensitive+file").body_json()["items"].size(), 1u);
  EXPECT_EQ(fetch("/api/alerts/1").body_json()["rule"], "Terminal shell");
  EXPECT_EQ(fetch("/api/health", {}, "HEAD").status, 200);
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()) + "/");
}

TEST_F(WebServer, BadInputIsAJsonErrorNeverACrash) {
  ServerOptions o = options();
  o.worker_threads = 16;
  start(std::move(o));
  struct Case {
    std::string method, target;
    int status;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/api/alerts?limit=0", 400, "'limit'"},
           {"GET", "/api/alerts?since=2026-02-30T00:00:00Z", 400, "'since'"},
           {"GET", "/api/alerts?priority=%ff%fe", 400, "'priority'"},
           {"GET", "/api/alerts?since=%zz", 400, "'since'"},
           {"GET", "/api/events?pid=1&pid=2", 400, "'pid'"},
           {"GET", "/api/events?bogus", 400, "'bogus'"},
           {"GET", "/api/nope", 404, "no such path"},
           {"GET", "/api", 404, "no such path"},
           {"GET", "/api/alerts/999", 404, "no alert 999"},
           {"GET", "/api/alerts/x", 404, "no alert x"},
           {"POST", "/api/alerts", 405, "read-only"},
           {"DELETE", "/api/alerts/1", 405, "read-only"},
           {"GET", "/metrics?x=1", 400, "no parameters"},
       }) {
    const HttpResponse response = fetch(c.target, {"Content-Length: 0"}, c.method);
    EXPECT_EQ(response.status, c.status) << c.method << " " << c.target << ": " << response.body;
    EXPECT_EQ(response.header("content-type"), "application/json") << c.target;
    EXPECT_NE(response.error().find(c.says), std::string::npos) << c.target << ": " << response.body;
  }
  // Requests httplib itself refuses, or that are not HTTP at all: an answer or a closed
  // connection, never a hang or a dead server. (httplib keeps some of these connections until
  // its 5 s read timeout: they run side by side.)
  const std::vector<std::string> raws = {
      std::string("\0\1\2\3\r\n\r\n", 8), "GET\r\n\r\n", "GET /api/health\r\n\r\n",
      "GET /api/health HTTP/1.1\r\nConnection: close\r\nno colon here\r\n\r\n",
      "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -5\r\n\r\n",
      "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "BREW /api/alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /api/alerts?limit=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
  std::vector<std::future<std::pair<bool, std::string>>> answers;
  for (const std::string& raw : raws) {
    answers.push_back(std::async(std::launch::async, [port = server_->port(), raw] {
      bool timed_out = false;
      std::string answer = exchange_raw("127.0.0.1", port, raw, &timed_out);
      return std::make_pair(timed_out, std::move(answer));
    }));
  }
  for (std::size_t i = 0; i < raws.size(); ++i) {
    const auto [timed_out, answer] = answers[i].get();
    EXPECT_FALSE(timed_out) << raws[i].substr(0, 60);
    EXPECT_EQ(answer.find("root:"), std::string::npos);
    if (!answer.empty()) {
      EXPECT_EQ(answer.rfind("HTTP/1.1 ", 0), 0u) << answer.substr(0, 200);
    }
  }
  EXPECT_EQ(fetch("/api/health").status, 200);
}

TEST_F(WebServer, ConcurrentClients) {
  start();
  add_alert("r");
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        const std::string target = (i + t) % 3 == 0 ? "/api/alerts" : (i + t) % 3 == 1 ? "/api/health" : "/metrics";
        if (fetch_from("127.0.0.1", server_->port(), target).status == 200) ++ok;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), 8 * 15);
  EXPECT_TRUE(eventually([&] { return server_->status()["http_requests"].value("200", 0) >= 8 * 15; }));
}

// ---- requests that must not reach the API ------------------------------------------------------------

// DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 talks to the
// console from the browser's loopback, sending its own name as Host. Refused, data or not.
TEST_F(WebServer, HostThatIsNotThisConsoleIsRefusedEvenFromLoopback) {
  start();
  add_alert("Terminal shell");
  const std::string port = std::to_string(server_->port());
  for (const std::string target : {"/api/alerts", "/api/health", "/metrics", "/api/stream", "/"}) {
    const std::string raw = exchange_raw("127.0.0.1", server_->port(),
                                         "GET " + target + " HTTP/1.1\r\nHost: attacker.example:" + port +
                                             "\r\nConnection: close\r\n\r\n");
    HttpResponse response;
    ASSERT_TRUE(parse_head(raw, response)) << target << ": " << raw.substr(0, 200);
    EXPECT_EQ(response.status, 421) << target << ": " << raw.substr(0, 300);
    EXPECT_EQ(raw.find("Terminal shell"), std::string::npos) << target;
  }
  for (const std::string& host : std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port, "127.0.0.1", "LOCALHOST"}) {
    const std::string raw = exchange_raw(
        "127.0.0.1", server_->port(), "GET /api/alerts HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    HttpResponse response;
    ASSERT_TRUE(parse_head(raw, response)) << host;
    EXPECT_EQ(response.status, 200) << host << ": " << raw.substr(0, 300);
  }
  // No Host at all, or two: not a browser's request to this console either.
  for (const std::string& head : {std::string("GET /api/alerts HTTP/1.1\r\nConnection: close\r\n\r\n"),
                                  std::string("GET /api/alerts HTTP/1.0\r\n\r\n")}) {
    HttpResponse response;
    ASSERT_TRUE(parse_head(exchange_raw("127.0.0.1", server_->port(), head), response));
    EXPECT_EQ(response.status, 421);
  }
}

TEST_F(WebServer, AllowedHostsAreConfiguredNames) {
  ServerOptions o = options();
  o.allowed_hosts = {"console.example.org"};
  start(std::move(o));
  // Two Host headers (the fixture's own and another) are one too many, whichever is allowed.
  EXPECT_EQ(fetch("/api/health", {"Host: console.example.org"}).status, 421);
  const std::string raw = exchange_raw("127.0.0.1", server_->port(),
                                       "GET /api/health HTTP/1.1\r\nHost: Console.Example.Org:443\r\nConnection: close\r\n\r\n");
  HttpResponse response;
  ASSERT_TRUE(parse_head(raw, response));
  EXPECT_EQ(response.status, 200) << raw.substr(0, 300);
}

// A proxy on this host (or an SSH forward, a container with host networking behind one) makes
// every client look like loopback; a request that names its real client is treated as remote.
TEST_F(WebServer, ForwardedRequestsNeedTheToken) {
  start();
  for (const std::string header : {"X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9",
                                    "X-Real-IP: 203.0.113.9", "x-forwarded-for: 127.0.0.1"}) {
    const HttpResponse refused = fetch("/api/alerts", {header});
    EXPECT_EQ(refused.status, 401) << header << ": " << refused.body;
    EXPECT_NE(refused.error().find("forwarded client"), std::string::npos) << refused.body;
    EXPECT_EQ(fetch("/api/alerts", {header, "Authorization: Bearer " + std::string(kToken)}).status, 200) << header;
  }
  EXPECT_EQ(fetch("/api/alerts").status, 200);
}

TEST_F(WebServer, TokenForLoopbackTrustsNoPeer) {
  ServerOptions o = options();
  o.token_for_loopback = true;
  start(std::move(o));
  EXPECT_EQ(fetch("/api/health").status, 401);
  EXPECT_EQ(fetch("/metrics").status, 401);
  EXPECT_EQ(fetch("/api/health", {"Authorization: Bearer " + std::string(kToken)}).status, 200);
  EXPECT_EQ(fetch("/api/health?token=" + std::string(kToken)).status, 200);
  EXPECT_EQ(fetch("/").status, 200);  // the page that asks for the token
}

// The API is read-only: a body is refused from its headers, before a byte of it is read, and
// the connection closes so no part of it is taken for the next request.
TEST_F(WebServer, BodiesAreRefusedBeforeTheyAreRead) {
  start();
  for (const std::string& head : {
           std::string("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 314572800\r\n\r\n"),
           std::string("POST /api/alerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n"),
           std::string("PUT /api/alerts HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"),
           std::string("GET /api/health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\n\r\n"),
           std::string("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 314572800\r\nExpect: 100-continue\r\n\r\n"),
           // Even with a Host that is refused: the body check comes first.
           std::string("POST /x HTTP/1.1\r\nHost: attacker.example\r\nContent-Length: 314572800\r\n\r\n")}) {
    Fd fd = connect_to("127.0.0.1", server_->port());
    ASSERT_GE(fd.get(), 0);
    ASSERT_TRUE(send_all(fd.get(), head, Clock::now() + kIoTimeout));
    std::string answer;
    EXPECT_TRUE(server_closes(fd.get(), 5000ms, &answer)) << head.substr(0, 60) << ": connection kept open";
    HttpResponse response;
    ASSERT_TRUE(parse_head(answer, response)) << head.substr(0, 60) << ": " << answer.substr(0, 200);
    EXPECT_EQ(response.status, 413) << head.substr(0, 60) << ": " << answer.substr(0, 300);
    EXPECT_EQ(answer.find("100 Continue"), std::string::npos);
  }
  // A small body on a GET is answered, and its connection closed after (httplib leaves a GET's
  // body unread: it must not be taken for the next request).
  Fd fd = connect_to("127.0.0.1", server_->port());
  ASSERT_TRUE(send_all(fd.get(),
                       "GET /api/health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 36\r\n\r\n"
                       "GET /api/alerts HTTP/1.1\r\nHost: x\r\n",
                       Clock::now() + kIoTimeout));
  std::string answer;
  EXPECT_TRUE(server_closes(fd.get(), 5000ms, &answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 200);
  EXPECT_EQ(answer.find("HTTP/1.1", 5), std::string::npos) << "the body was read as a second request";
  EXPECT_GE(server_->status()["connections"]["accepted"].get<int>(), 7);
  EXPECT_EQ(fetch("/api/health").status, 200);
}

// ---- connections under limits ----------------------------------------------------------------------

TEST_F(WebServer, ConnectionsOverTheCapsAreClosedAtOnce) {
  ServerOptions o = options();
  o.max_connections = 6;
  o.max_connections_per_peer = 4;
  o.idle_timeout = 20s;  // the held connections stay until the test lets them go
  start(std::move(o));
  // Ten idle connections from 127.0.0.2: four are kept, six closed as soon as they are accepted.
  std::vector<Fd> held;
  int closed_at_once = 0;
  for (int i = 0; i < 10; ++i) {
    Fd fd = connect_from("127.0.0.2", server_->port());
    ASSERT_GE(fd.get(), 0);
    if (server_closes(fd.get(), 300ms)) ++closed_at_once;
    else held.push_back(std::move(fd));
  }
  EXPECT_EQ(held.size(), 4u);
  EXPECT_EQ(closed_at_once, 6);
  // Another peer gets the two places left, then the total cap closes the rest.
  Fd third = connect_from("127.0.0.3", server_->port());
  Fd fourth = connect_from("127.0.0.3", server_->port());
  EXPECT_FALSE(server_closes(third.get(), 300ms));
  EXPECT_FALSE(server_closes(fourth.get(), 300ms));
  Fd over = connect_from("127.0.0.4", server_->port());
  EXPECT_TRUE(server_closes(over.get(), 2000ms)) << "a seventh connection was kept";
  const json counts = server_->status()["connections"];
  EXPECT_EQ(counts["open"], 6) << counts.dump();
  EXPECT_EQ(counts["refused_peer_cap"], 6) << counts.dump();
  EXPECT_EQ(counts["refused_total_cap"], 1) << counts.dump();
  // The held connections still work, and their places come back when they go.
  ASSERT_TRUE(send_all(third.get(), request_text("GET", "/api/health", {}, true), Clock::now() + kIoTimeout));
  std::string answer;
  EXPECT_TRUE(server_closes(third.get(), 5000ms, &answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 200);
  held.clear();
  EXPECT_TRUE(eventually([&] { return fetch("/api/health").status == 200; }));
}

// Slow-loris: a request whose head trickles in is cut at the request deadline, and a slow client
// does not stop others (here with a single worker thread).
TEST_F(WebServer, ATricklingRequestIsCutAtItsDeadline) {
  ServerOptions o = options();
  o.worker_threads = 1;
  o.request_deadline = 500ms;
  start(std::move(o));
  Fd slow = connect_to("127.0.0.1", server_->port());
  ASSERT_GE(slow.get(), 0);
  const auto began = Clock::now();
  const std::string head = "GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ";
  ASSERT_TRUE(send_all(slow.get(), head, Clock::now() + kIoTimeout));
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // a byte every 100 ms, up to 4 s
    cut = server_closes(slow.get(), 100ms);
    if (!cut) ::send(slow.get(), "a", 1, MSG_NOSIGNAL);
  }
  const auto took = Clock::now() - began;
  EXPECT_TRUE(cut) << "the trickling request was still open after 4 s";
  EXPECT_LT(took, 2s);
  // An idle connection (nothing sent at all) ends at the idle timeout, also without a worker.
  EXPECT_EQ(fetch("/api/health").status, 200);
  EXPECT_GE(server_->status()["connections"]["request_timeouts"].get<int>(), 1);
}

TEST_F(WebServer, IdleConnectionsAreClosedWithoutHoldingAWorker) {
  ServerOptions o = options();
  o.worker_threads = 1;
  o.idle_timeout = 300ms;
  start(std::move(o));
  std::vector<Fd> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(connect_to("127.0.0.1", server_->port()));
  // Eight idle connections and one worker: a request is still answered at once.
  const auto before = Clock::now();
  EXPECT_EQ(fetch("/api/health").status, 200);
  EXPECT_LT(Clock::now() - before, 250ms);
  for (auto& fd : idle) EXPECT_TRUE(server_closes(fd.get(), 3000ms));
  EXPECT_GE(server_->status()["connections"]["idle_timeouts"].get<int>(), 8);
}

// A request head of endless header lines stops at the head budget: bounded memory, an answer
// or a closed connection, and the server goes on.
TEST_F(WebServer, AnEndlessRequestHeadStopsAtItsBudget) {
  start();
  Fd fd = connect_to("127.0.0.1", server_->port());
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(send_all(fd.get(), "GET /api/health HTTP/1.1\r\nHost: localhost\r\n", Clock::now() + kIoTimeout));
  const std::string line = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  std::size_t sent = 0;
  bool closed = false;
  std::string answer;
  const auto deadline = Clock::now() + 10s;
  while (!closed && sent < (64u << 20) && Clock::now() < deadline) {
    pollfd ready{fd.get(), POLLIN | POLLOUT, 0};
    if (::poll(&ready, 1, 100) <= 0) continue;
    if (ready.revents & (POLLIN | POLLHUP | POLLERR)) {
      closed = read_some(fd.get(), answer, Clock::now() + 100ms) != Read::data;
      continue;
    }
    const ssize_t put = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) sent += static_cast<std::size_t>(put);
    else if (errno != EAGAIN) closed = true;
  }
  EXPECT_TRUE(closed || !answer.empty()) << "the server read " << (sent >> 20) << " MiB of headers";
  EXPECT_LT(sent, std::size_t{16} << 20);
  if (!answer.empty()) {
    EXPECT_EQ(answer.rfind("HTTP/1.1 4", 0), 0u) << answer.substr(0, 200);
  }
  EXPECT_EQ(fetch("/api/health").status, 200);
}

// ---- access on the wire ----------------------------------------------------------------------------

TEST_F(WebServer, NonLoopbackPeersNeedTheToken) {
  const std::optional<std::string> address = non_loopback_ipv4();
  if (!address) GTEST_SKIP() << "this host has no non-loopback IPv4 address to be a remote peer from";
  ServerOptions o = options();
  o.address = "0.0.0.0";
  start(std::move(o));
  const int port = server_->port();
  // The same server, through loopback: no token needed.
  EXPECT_EQ(fetch_from("127.0.0.1", port, "/api/health").status, 200);
  const HttpResponse missing = fetch_from(*address, port, "/api/health");
  EXPECT_EQ(missing.status, 401) << missing.body;
  EXPECT_NE(missing.error().find("bearer token"), std::string::npos) << missing.body;
  EXPECT_NE(missing.header("www-authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(missing.count("cache-control"), 1u);
  EXPECT_EQ(fetch_from(*address, port, "/metrics").status, 401);
  EXPECT_EQ(fetch_from(*address, port, "/api/alerts?limit=0").status, 401);  // access before parameters
  EXPECT_EQ(fetch_from(*address, port, "/api/nope").status, 401);             // and before routes
  const HttpResponse wrong = fetch_from(*address, port, "/api/health", {"Authorization: Bearer " + std::string(32, 'x')});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.header("www-authenticate").find("invalid_token"), std::string::npos);
  EXPECT_EQ(fetch_from(*address, port, "/api/health?token=nope").status, 401);
  EXPECT_EQ(fetch_from(*address, port, "/api/health", {"Authorization: Bearer " + std::string(kToken)}).status, 200);
  EXPECT_EQ(fetch_from(*address, port, "/api/health", {"authorization: bearer " + std::string(kToken)}).status, 200);
  EXPECT_EQ(fetch_from(*address, port, "/api/health?token=" + std::string(kToken)).status, 200);
  EXPECT_EQ(fetch_from(*address, port, "/metrics", {"Authorization: Bearer " + std::string(kToken)}).status, 200);
  // The dashboard's files hold no data and load without the token.
  EXPECT_EQ(fetch_from(*address, port, "/").status, 200);
  EXPECT_EQ(fetch_from(*address, port, "/assets/index-abc123.js").status, 200);
  // The live stream too needs it.
  EXPECT_EQ(fetch_from(*address, port, "/api/stream?token=nope").status, 401);
  EXPECT_EQ(fetch_from(*address, port, "/api/stream").status, 401);
  EventStream stream(*address, port, "/api/stream?token=" + std::string(kToken));
  EXPECT_EQ(stream.head().status, 200);
  EXPECT_TRUE(stream.next(5s));
}

// ---- the dashboard's files -------------------------------------------------------------------------

TEST_F(WebServer, DashboardFilesWithOneCacheControlEach) {
  start();
  const HttpResponse index = fetch("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.body, kIndex);
  EXPECT_EQ(index.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(index.header("content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(index.count("cache-control"), 1u);
  EXPECT_EQ(index.header("cache-control"), "no-store");
  const HttpResponse script = fetch("/assets/index-abc123.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.body, kScript);
  // Hashed asset names never change content: cacheable, and said once (two Cache-Control
  // headers leave the browser to pick one).
  EXPECT_EQ(script.count("cache-control"), 1u) << script.header("cache-control");
  EXPECT_EQ(script.header("cache-control"), "public, max-age=31536000, immutable");
  // The dashboard routes inside the page: other paths show index.html, missing assets are 404.
  EXPECT_EQ(fetch("/alerts").body, kIndex);
  EXPECT_EQ(fetch("/containers/abc").body, kIndex);
  const HttpResponse missing = fetch("/assets/index-gone.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.error().find("no such file"), std::string::npos);
}

TEST_F(WebServer, WithoutTheDashboard) {
  ServerOptions o = options();
  o.files = nullptr;
  start(std::move(o));
  const HttpResponse response = fetch("/");
  EXPECT_EQ(response.status, 404);
  EXPECT_NE(response.error().find("without the dashboard"), std::string::npos);
  EXPECT_EQ(fetch("/api/health").status, 200);
}

// ---- /metrics ----------------------------------------------------------------------------------------

TEST_F(WebServer, MetricsInPrometheusText) {
  start();
  fetch("/api/health");
  fetch("/api/nope");
  const HttpResponse metrics = fetch("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("vigil_up 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("vigil_decisions_total{verdict=\"allow\"} 2\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_http_requests_total{code=\"200\"} "), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_http_requests_total{code=\"404\"} 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_stream_clients 0\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("vigil_http_connections 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_http_connections_closed_total{reason=\"peer_cap\"} 0\n"), std::string::npos);
  EXPECT_EQ(fetch("/metrics?token=abc").status, 200);
}

TEST_F(WebServer, MetricsFromAnOddStatusDocumentStillRender) {
  start();
  backend_.set_status({{"runtime", {{"rules", {{"outputs", json::array({json{{"name", 7}}, "x"})}}}}}});
  const HttpResponse metrics = fetch("/metrics");
  EXPECT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_up 1\n"), std::string::npos) << metrics.body;
  backend_.set_status(json::array());
  EXPECT_EQ(fetch("/metrics").status, 200);
}

// ---- the live alert stream (SSE) ---------------------------------------------------------------------

TEST_F(WebServer, StreamDeliversNewAlerts) {
  start();
  add_alert("Before the stream");  // not replayed: a stream without Last-Event-ID starts now
  EventStream stream("127.0.0.1", server_->port(), "/api/stream");
  ASSERT_EQ(stream.head().status, 200) << stream.head().body;
  EXPECT_EQ(stream.head().header("content-type"), "text/event-stream");
  EXPECT_EQ(stream.head().header("x-accel-buffering"), "no");
  EXPECT_EQ(stream.head().count("cache-control"), 1u);
  auto hello = stream.next(5s);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->retry, "2000");
  EXPECT_EQ(hello->comments, std::vector<std::string>{"vigil alert stream"});
  EXPECT_TRUE(eventually([&] { return server_->status()["stream_clients"] == 1; }));

  const std::int64_t first = add_alert("Terminal shell", 5, "3f2a1b4c5d6e");
  auto event = stream.next_event(5s);
  ASSERT_TRUE(event) << "no alert within 5 s";
  EXPECT_EQ(event->event, "alert");
  EXPECT_EQ(event->id, std::to_string(first));
  const json alert = json::parse(event->data, nullptr, false);
  ASSERT_TRUE(alert.is_object()) << event->data;
  EXPECT_EQ(alert["id"], first);
  EXPECT_EQ(alert["rule"], "Terminal shell");
  EXPECT_EQ(alert["priority"], "Notice");
  EXPECT_EQ(alert["container"], (json{{"id", "3f2a1b4c5d6e"}, {"name", "name-3f2a1b4c5d6e"}}));
  EXPECT_FALSE(alert.contains("process_tree"));

  // Several at once arrive in order, each once.
  const std::int64_t second = add_alert("A");
  const std::int64_t third = add_alert("B");
  auto next = stream.next_event(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, std::to_string(second));
  next = stream.next_event(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, std::to_string(third));
  EXPECT_EQ(json::parse(next->data)["rule"], "B");
  EXPECT_FALSE(stream.next_event(300ms));
}

TEST_F(WebServer, StreamReplaysAfterLastEventId) {
  start();
  for (int i = 1; i <= 4; ++i) add_alert("r" + std::to_string(i));
  auto ids_of = [](EventStream& stream, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      auto event = stream.next_event(5s);
      if (!event) break;
      ids.push_back(event->id);
    }
    return ids;
  };
  EventStream resumed("127.0.0.1", server_->port(), "/api/stream", {"Last-Event-ID: 2"});
  ASSERT_EQ(resumed.head().status, 200);
  EXPECT_EQ(ids_of(resumed, 2), (std::vector<std::string>{"3", "4"}));
  EventStream since("127.0.0.1", server_->port(), "/api/stream?since_id=0");
  ASSERT_EQ(since.head().status, 200);
  EXPECT_EQ(ids_of(since, 4), (std::vector<std::string>{"1", "2", "3", "4"}));
  // The header wins over the parameter (the browser's reconnect sends both).
  EventStream both("127.0.0.1", server_->port(), "/api/stream?since_id=0", {"Last-Event-ID: 3"});
  ASSERT_EQ(both.head().status, 200);
  EXPECT_EQ(ids_of(both, 1), (std::vector<std::string>{"4"}));
  // A replayed stream goes on live.
  add_alert("r5");
  EXPECT_EQ(ids_of(resumed, 1), (std::vector<std::string>{"5"}));
  EXPECT_EQ(ids_of(both, 1), (std::vector<std::string>{"5"}));
}

TEST_F(WebServer, StreamBadInput) {
  start();
  for (const auto& [target, header] : std::vector<std::pair<std::string, std::string>>{
           {"/api/stream", "Last-Event-ID: abc"},
           {"/api/stream", "Last-Event-ID: -1"},
           {"/api/stream", "Last-Event-ID: 99999999999999999999"},
           {"/api/stream?since_id=1.5", ""},
           {"/api/stream?limit=5", ""}}) {
    std::vector<std::string> headers;
    if (!header.empty()) headers.push_back(header);
    const HttpResponse response = fetch(target, headers);
    EXPECT_EQ(response.status, 400) << target << " " << header << ": " << response.body;
    EXPECT_FALSE(response.error().empty());
  }
  EXPECT_EQ(server_->status()["stream_clients"], 0);
}

TEST_F(WebServer, StreamKeepAliveAndClientLimit) {
  ServerOptions o = options();
  o.max_stream_clients = 1;
  o.stream_keepalive = 100ms;
  start(std::move(o));
  auto first = std::make_unique<EventStream>("127.0.0.1", server_->port(), "/api/stream");
  ASSERT_EQ(first->head().status, 200);
  ASSERT_TRUE(first->next(5s));  // the greeting
  auto keep_alive = first->next(5s);
  ASSERT_TRUE(keep_alive);
  EXPECT_EQ(keep_alive->comments, std::vector<std::string>{"keep-alive"});
  const HttpResponse refused = fetch("/api/stream");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.error().find("too many live streams"), std::string::npos);
  // A client that goes away frees its place (found at the next write, a keep-alive at worst).
  first->close();
  EXPECT_TRUE(eventually([&] { return server_->status()["stream_clients"] == 0; }, 5000ms));
  EventStream again("127.0.0.1", server_->port(), "/api/stream");
  EXPECT_EQ(again.head().status, 200);
}

TEST_F(WebServer, StopEndsOpenStreams) {
  start();
  EventStream stream("127.0.0.1", server_->port(), "/api/stream");
  ASSERT_EQ(stream.head().status, 200);
  ASSERT_TRUE(stream.next(5s));
  const auto before = Clock::now();
  server_->stop();
  EXPECT_LT(Clock::now() - before, 5s);
  EXPECT_TRUE(stream.closes_within(5000ms));
  server_->stop();  // twice is harmless
}

// ---- life cycle ---------------------------------------------------------------------------------------

// Runs `work` on a thread of its own; true when it finished within `timeout`. A hung `work`
// cannot be cancelled: the test binary then ends itself so ctest reports a failure, not a hang.
bool finishes_within(std::function<void()> work, std::chrono::seconds timeout, const char* what) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([work = std::move(work), done] {
    work();
    done->set_value();
  }).detach();
  if (finished.wait_for(timeout) == std::future_status::ready) return true;
  std::fprintf(stderr, "FATAL: %s did not finish within %lld s\n", what, static_cast<long long>(timeout.count()));
  std::fflush(stderr);
  std::_Exit(1);
}

TEST_F(WebServer, StopRightAfterStartDoesNotHang) {
  EXPECT_TRUE(finishes_within(
      [&] {
        for (int i = 0; i < 30; ++i) {
          auto server = ConsoleServer::start(options(), *api_, backend_);
          ASSERT_TRUE(server) << server.error().message;
          (*server)->stop();
        }
        // The destructor stops too.
        for (int i = 0; i < 30; ++i) ASSERT_TRUE(ConsoleServer::start(options(), *api_, backend_));
      },
      60s, "start() then stop()"));
}

TEST_F(WebServer, APortInUseIsAnErrorNotShared) {
  ConsoleServer& first = start();
  ServerOptions same = options();
  same.port = first.port();
  auto second = ConsoleServer::start(std::move(same), *api_, backend_);
  ASSERT_FALSE(second) << "a second console bound port " << first.port()
                       << " too: two agents would share it and split the requests silently";
  EXPECT_NE(second.error().message.find(std::to_string(first.port())), std::string::npos) << second.error().message;
  EXPECT_EQ(fetch("/api/health").status, 200);
}

TEST_F(WebServer, StartFailuresNameTheirCause) {
  ServerOptions unbindable = options();
  unbindable.address = "203.0.113.77";  // TEST-NET-3: not an address of this host
  auto bound = ConsoleServer::start(std::move(unbindable), *api_, backend_);
  ASSERT_FALSE(bound);
  EXPECT_NE(bound.error().message.find("203.0.113.77"), std::string::npos) << bound.error().message;
  ServerOptions half_tls = options();
  half_tls.tls_cert = dir_ / "cert.pem";
  auto half = ConsoleServer::start(std::move(half_tls), *api_, backend_);
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("tls_key"), std::string::npos) << half.error().message;
  ServerOptions missing_tls = options();
  missing_tls.tls_cert = dir_ / "cert.pem";
  missing_tls.tls_key = dir_ / "key.pem";
  auto missing = ConsoleServer::start(std::move(missing_tls), *api_, backend_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cert.pem"), std::string::npos) << missing.error().message;
  test::write_text(dir_ / "cert.pem", "not a certificate\n");
  test::write_text(dir_ / "key.pem", "not a key\n");
  ServerOptions junk_tls = options();
  junk_tls.tls_cert = dir_ / "cert.pem";
  junk_tls.tls_key = dir_ / "key.pem";
  auto junk = ConsoleServer::start(std::move(junk_tls), *api_, backend_);
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("cannot load the TLS certificate"), std::string::npos) << junk.error().message;
}

}  // namespace
}  // namespace vigil::web
