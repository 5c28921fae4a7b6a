#include "agent/image_socket.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace vigil::agent {
namespace {

constexpr size_t kMaxRequest = 4096;

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

std::string image_socket_path(const std::string& state_dir) { return state_dir + "/image.sock"; }

Result<std::unique_ptr<ImageSocket>> ImageSocket::start(std::string socket_path, Record record) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    return fail("image socket " + socket_path + ": longer than an AF_UNIX socket path");
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("image socket " + socket_path + ": exists and is not a socket");
    ::unlink(socket_path.c_str());  // left by an agent that died (the status socket refused a live one)
  }
  std::unique_ptr<ImageSocket> server(new ImageSocket());
  server->path_ = std::move(socket_path);
  server->record_ = std::move(record);
  server->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (server->listen_fd_ < 0) return fail_errno("image socket");
  const mode_t old_umask = ::umask(0177);  // 0600 from the start
  const int bound = ::bind(server->listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    errno = bind_errno;
    return fail_errno("image socket " + server->path_);
  }
  if (::listen(server->listen_fd_, 16) != 0) {
    auto error = fail_errno("image socket " + server->path_);
    ::unlink(server->path_.c_str());
    return error;
  }
  server->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (server->stop_fd_ < 0) {
    auto error = fail_errno("image socket eventfd");
    ::unlink(server->path_.c_str());
    return error;
  }
  server->thread_ = std::thread([raw = server.get()] { raw->run(); });
  return server;
}

ImageSocket::~ImageSocket() {
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

void ImageSocket::run() {
  for (;;) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, -1);
    if (ready < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (ready <= 0 || fds[1].revents == 0) continue;
    for (;;) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) break;
      answer(client);
      ::close(client);
    }
  }
}

void ImageSocket::answer(int client) {
  // A client that sends nothing or never reads must not hold the server: a second each way.
  const timeval timeout{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
      (peer.uid != 0 && peer.uid != ::geteuid())) {
    write_all(client, nlohmann::json{{"error", "permission denied: only root or the agent's user may ask"}}.dump() + "\n");
    return;
  }
  std::string request;
  char buffer[1024];
  while (request.find('\n') == std::string::npos) {
    const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    request.append(buffer, static_cast<size_t>(got));
    if (request.size() > kMaxRequest) {
      write_all(client, nlohmann::json{{"error", "request longer than 4096 bytes"}}.dump() + "\n");
      return;
    }
  }
  auto measurement = image::parse_image_measurement(request.substr(0, request.find('\n')));
  if (!measurement) {
    write_all(client, nlohmann::json{{"error", "bad request: " + measurement.error().message}}.dump() + "\n");
    return;
  }
  if (auto recorded = record_(*measurement); !recorded) {
    write_all(client, nlohmann::json{{"error", recorded.error().message}}.dump() + "\n");
    return;
  }
  write_all(client, nlohmann::json{{"recorded", true}}.dump() + "\n");
}

}  // namespace vigil::agent
