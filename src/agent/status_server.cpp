#include "agent/status_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/time_text.h"

namespace vigil::agent {
namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return fail("status socket " + path + ": longer than an AF_UNIX socket path (" +
                std::to_string(sizeof address.sun_path - 1) + " bytes)");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// True when something accepts connections on the socket at `address`.
bool somebody_listens(const sockaddr_un& address) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;
    done += static_cast<size_t>(wrote);
  }
}

}  // namespace

std::string status_socket_path(const std::string& state_dir) { return state_dir + "/agent.sock"; }

bool agent_answers(const std::string& socket_path) {
  auto address = unix_address(socket_path);
  return address && somebody_listens(*address);
}

Result<std::unique_ptr<StatusServer>> StatusServer::start(std::string socket_path,
                                                          std::function<nlohmann::json()> status,
                                                          StatusContext context) {
  auto address = unix_address(socket_path);
  if (!address) return std::unexpected(address.error());
  struct stat st{};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("status socket " + socket_path + ": exists and is not a socket");
    if (somebody_listens(*address)) {
      return fail("status socket " + socket_path + ": another agent is running with this state directory");
    }
    ::unlink(socket_path.c_str());  // left by an agent that died
  }
  std::unique_ptr<StatusServer> server(new StatusServer());
  server->path_ = std::move(socket_path);
  server->status_ = std::move(status);
  server->context_ = std::move(context);
  server->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (server->listen_fd_ < 0) return fail_errno("status socket");
  // Created 0600 from the start (umask), not chmod-ed after bind: no moment where others may connect.
  const mode_t old_umask = ::umask(0177);
  const int bound = ::bind(server->listen_fd_, reinterpret_cast<const sockaddr*>(&*address), sizeof *address);
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    errno = bind_errno;
    return fail_errno("status socket " + server->path_);
  }
  if (::listen(server->listen_fd_, 16) != 0) {
    auto error = fail_errno("status socket " + server->path_);
    ::unlink(server->path_.c_str());
    return error;
  }
  server->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (server->stop_fd_ < 0) {
    auto error = fail_errno("status socket eventfd");
    ::unlink(server->path_.c_str());
    return error;
  }
  server->tracker_.sample(server->status_(), HealthTracker::Clock::now());
  server->thread_ = std::thread([raw = server.get()] { raw->run(); });
  return server;
}

StatusServer::~StatusServer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void StatusServer::run() {
  auto next_sample = HealthTracker::Clock::now() + kSampleInterval;
  for (;;) {
    const auto now = HealthTracker::Clock::now();
    if (now >= next_sample) {
      tracker_.sample(status_(), now);
      next_sample = now + kSampleInterval;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_sample - now).count();
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(std::max<long long>(1, wait)));
    if (ready < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (ready <= 0 || fds[1].revents == 0) continue;
    for (;;) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) break;  // EAGAIN: all taken
      answer(client);
      ::close(client);
    }
  }
}

void StatusServer::answer(int client) {
  // A client that never reads must not hold the server: writes give up after a second.
  const timeval timeout{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
      (peer.uid != 0 && peer.uid != ::geteuid())) {
    write_all(client, nlohmann::json{{"error", "permission denied: only root or the agent's user may ask"}}.dump() + "\n");
    return;
  }
  const auto now = HealthTracker::Clock::now();
  const nlohmann::json status = status_();
  tracker_.sample(status, now);
  StatusContext context = context_;
  context.uptime_s = (wall_clock_ns() - context.started_ns) / 1'000'000'000;
  write_all(client, tracker_.summary(status, context, now).dump() + "\n");
}

}  // namespace vigil::agent
