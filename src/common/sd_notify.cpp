#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/unique_fd.h"

namespace vigil::sd {

Result<bool> notify_to(const std::string& socket_address, std::string_view state) {
  if (socket_address.empty()) return false;
  // Only AF_UNIX: systemd 254 also accepts vsock:CID:PORT (for VMs), which vigil has no use for.
  if (socket_address[0] != '/' && socket_address[0] != '@') {
    return fail("NOTIFY_SOCKET " + socket_address + ": not an AF_UNIX socket address");
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_address.size() > sizeof address.sun_path) {
    return fail("NOTIFY_SOCKET " + socket_address + ": longer than an AF_UNIX address");
  }
  std::memcpy(address.sun_path, socket_address.data(), socket_address.size());
  // "@name": the abstract namespace, whose first byte is NUL and whose length is exact.
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_address.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail_errno("socket for NOTIFY_SOCKET");
  for (;;) {
    // MSG_NOSIGNAL: a manager that went away must not kill the daemon with SIGPIPE.
    const ssize_t sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&address), length);
    if (sent >= 0) return true;
    if (errno != EINTR) return fail_errno("sending to NOTIFY_SOCKET " + socket_address);
  }
}

Result<bool> notify(std::string_view state) {
  const char* socket_address = std::getenv("NOTIFY_SOCKET");
  if (socket_address == nullptr) return false;
  return notify_to(socket_address, state);
}

std::string reloading_state() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec =
      static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL + static_cast<unsigned long long>(now.tv_nsec) / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace vigil::sd
