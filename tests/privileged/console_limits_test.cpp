// The console cannot be turned against the agent (issue 16, finding 3): a flood of idle
// connections must not take the file descriptors the fanotify listener needs (the kernel denies
// a permission event it cannot hand over, even in log mode), and a huge request body must be
// refused before it is read. Runs the real `vigil agent` on a private tmpfs, under the fixture's
// watchdog; every connection the test makes is its own and closed at the end.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>

#include "privileged/agent_fixture.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A socket closed at scope exit; movable, so a flood fits in a vector.
class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() { reset(); }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

int port_of(const std::string& url) {
  const std::size_t colon = url.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(url.c_str() + colon + 1);
}

// A non-blocking TCP connection to 127.0.0.1:port from `source` (another loopback address is
// another peer to the console), connect() started but not awaited.
Socket start_connect(const char* source, int port) {
  Socket fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return Socket();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) return Socket();
  return fd;
}

// True once the server has closed (or reset) the connection: a read returns EOF or an error.
bool closed_by_server(int fd) {
  char byte;
  const ssize_t got = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINPROGRESS && errno != ENOTCONN);
}

// One GET, answered within 10 s: the status, or 0.
int get_status(int port, const std::string& target, const std::string& host = "127.0.0.1") {
  Socket fd = start_connect("127.0.0.1", port);
  if (!fd) return 0;
  pollfd writable{fd.get(), POLLOUT, 0};
  if (::poll(&writable, 1, 10000) != 1) return 0;
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return 0;
  std::string answer;
  const auto deadline = Clock::now() + 10s;
  while (answer.find("\r\n") == std::string::npos && Clock::now() < deadline) {
    pollfd readable{fd.get(), POLLIN, 100};
    if (::poll(&readable, 1, 100) != 1) continue;
    char buffer[4096];
    const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (got <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(got));
  }
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(answer.c_str() + 9) : 0;
}

int open_descriptors(pid_t pid) {
  int count = 0;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++count;
  }
  return count;
}

// VmRSS of a process in KiB.
long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

class ConsoleLimits : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_ROOT();
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    write_text(*mnt_ / "watched.txt", "watched content\n");
    ::mkdir((dir_ / "keys").c_str(), 0755);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", dir_ / "keys/app"}).exit_code, 0);
  }
  void TearDown() override {
    agent_.reset();  // before the mount goes away
    mnt_.reset();
  }

  // Log mode: every file opened on the tmpfs is appraised (FILE_CHECK) and allowed whatever
  // its signature, so a failed open can only come from the listener.
  void start_agent(rlim_t nofile = 0) {
    write_text(dir_ / "agent.yaml", "mode: log\nstate_dir: " + (dir_ / "state") + "\nwatch:\n  - " + mnt_->path() +
                                        "\nkeyrings:\n  default: " + (dir_ / "keys") + "\nruntime:\n  enabled: false\ndecision:\n  deadline_ms: 2000\n"
                                        "policy_text: |\n  appraise func=FILE_CHECK appraise_type=imasig\n"
                                        "console:\n  listen: 127.0.0.1:0\n");
    agent_ = std::make_unique<AgentProcess>(dir_ / "agent.yaml", dir_ / "state", 120, nofile);
    ASSERT_TRUE(agent_->ready()) << agent_->output();
    for (int i = 0; i < 100 && port_ == 0; ++i, std::this_thread::sleep_for(50ms)) port_ = port_of(agent_->console_url());
    ASSERT_GT(port_, 0) << agent_->output();
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mnt_;
  std::unique_ptr<AgentProcess> agent_;
  int port_ = 0;
};

// With RLIMIT_NOFILE at 1024 the agent has about 500 descriptors for pending events; 1,500
// idle connections from one local peer used to take all of them (the kernel then denied the
// open: EPERM in log mode). Now the console holds at most its own budget and closes the rest at
// once, another peer still gets answers, and the watched open succeeds.
TEST_F(ConsoleLimits, ConnectionFloodLeavesTheListenerItsDescriptors) {
  start_agent(1024);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(run({"cat", *mnt_ / "watched.txt"}, 20).exit_code, 0) << "watched open failed before any flood";

  // 1,500 connections from 127.0.0.2, paced so the kernel's accept queue takes them, each
  // sending the start of a request and never the rest (a connection that only connects may
  // never reach the server: its handshake's last ACK is dropped while the queue is full). One
  // the console closes is opened again at once: an attacker keeps the pressure on, for 6 s.
  constexpr int kFlood = 1500;
  std::vector<Socket> flood(kFlood);
  std::vector<bool> started(kFlood, false);
  int opened_total = 0, closed_by_console = 0, most_descriptors = 0;
  for (int round = 0; round < 12; ++round) {
    for (int i = 0; i < kFlood; ++i) {
      Socket& fd = flood[static_cast<std::size_t>(i)];
      if (fd && !closed_by_server(fd.get())) {
        if (!started[static_cast<std::size_t>(i)]) {
          started[static_cast<std::size_t>(i)] = ::send(fd.get(), "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL | MSG_DONTWAIT) == 16;
        }
        continue;
      }
      if (fd) ++closed_by_console;
      fd = start_connect("127.0.0.2", port_);
      started[static_cast<std::size_t>(i)] = false;
      ASSERT_TRUE(fd) << "connection " << opened_total << ": " << std::strerror(errno);
      ++opened_total;
      if (opened_total % 50 == 0) std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(250ms);
    most_descriptors = std::max(most_descriptors, open_descriptors(agent_->pid()));
  }
  std::fprintf(stderr, "flood: %d connections opened, %d closed by the console; agent held at most %d descriptors\n",
               opened_total, closed_by_console, most_descriptors);

  const CommandResult opened = run({"cat", *mnt_ / "watched.txt"}, 20);
  EXPECT_EQ(opened.exit_code, 0) << "a watched open failed while the console was flooded: " << opened.err;
  EXPECT_EQ(opened.out, "watched content\n");
  // Another peer (127.0.0.1) still gets an answer while 127.0.0.2 holds its share.
  EXPECT_EQ(get_status(port_, "/api/health"), 200);
  // The console's share of descriptors is bounded (RLIMIT_NOFILE is 1024 here).
  EXPECT_LT(most_descriptors, 400) << "the console held more descriptors than its budget";
  flood.clear();
  EXPECT_EQ(run({"cat", *mnt_ / "watched.txt"}, 20).exit_code, 0);
}

// 300 MiB posted to a path that is not the API: answered 413 (or the connection closed) from the
// headers alone. The agent's memory does not grow by what was sent (it used to hold all of it).
TEST_F(ConsoleLimits, HugeBodyIsRefusedUnreadAndMemoryStaysFlat) {
  start_agent();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(get_status(port_, "/api/health"), 200);
  const long before = rss_kib(agent_->pid());
  ASSERT_GT(before, 0);

  constexpr std::size_t kBody = 300u << 20;
  Socket fd = start_connect("127.0.0.1", port_);
  ASSERT_TRUE(fd);
  pollfd writable{fd.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&writable, 1, 10000), 1);
  const std::string head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: " + std::to_string(kBody) + "\r\n\r\n";
  ASSERT_EQ(::send(fd.get(), head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const std::vector<char> chunk(1 << 20, 'x');
  std::size_t sent = 0;
  std::string answer;
  bool closed = false;
  const auto deadline = Clock::now() + 60s;
  while (!closed && sent < kBody && Clock::now() < deadline) {
    pollfd ready{fd.get(), POLLIN | POLLOUT, 0};
    if (::poll(&ready, 1, 100) <= 0) continue;
    if (ready.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[4096];
      const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) answer.append(buffer, static_cast<std::size_t>(got));
      else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      continue;
    }
    const ssize_t put = ::send(fd.get(), chunk.data(), std::min(chunk.size(), kBody - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) sent += static_cast<std::size_t>(put);
    else if (errno != EAGAIN && errno != EWOULDBLOCK) closed = true;
  }
  // Whatever the kernel buffered aside, the console stopped taking the body at once.
  std::fprintf(stderr, "huge body: %zu MiB sent before the console answered or closed; answer: %s\n", sent >> 20,
               answer.substr(0, answer.find("\r\n")).c_str());
  EXPECT_TRUE(closed || answer.rfind("HTTP/1.1 413", 0) == 0) << "the console read on: " << (sent >> 20) << " MiB";
  EXPECT_LT(sent, std::size_t{64} << 20);
  if (!answer.empty()) {
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  }
  fd.reset();
  const long after = rss_kib(agent_->pid());
  std::fprintf(stderr, "agent VmRSS: %ld KiB before, %ld KiB after\n", before, after);
  EXPECT_LT(after - before, 16 * 1024) << "the agent's memory grew by the body";
  EXPECT_EQ(get_status(port_, "/api/health"), 200);
}

}  // namespace
