#include "state/fd_table.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

namespace vigil::state {

std::string format_address(const SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  switch (address.family) {
    case AF_INET:
      if (::inet_ntop(AF_INET, address.addr.data(), text, sizeof text) == nullptr) return {};
      return std::string(text) + ":" + std::to_string(address.port);
    case AF_INET6:
      if (::inet_ntop(AF_INET6, address.addr.data(), text, sizeof text) == nullptr) return {};
      return "[" + std::string(text) + "]:" + std::to_string(address.port);
    case AF_UNIX: return address.unix_path;
    default: return {};
  }
}

std::string FdEntry::name() const {
  if (type != FdType::socket) return path;
  if (family == AF_UNIX) return remote.known() ? format_address(remote) : format_address(local);
  if (!remote.known()) return format_address(local);
  if (!local.known()) return format_address(remote);
  return format_address(local) + "->" + format_address(remote);
}

std::vector<FdEntry>::iterator FdTable::lower(int fd) {
  return std::lower_bound(entries_.begin(), entries_.end(), fd,
                          [](const FdEntry& entry, int value) { return entry.fd < value; });
}

const FdEntry* FdTable::find(int fd) const { return const_cast<FdTable*>(this)->find(fd); }

FdEntry* FdTable::find(int fd) {
  auto it = lower(fd);
  return it != entries_.end() && it->fd == fd ? &*it : nullptr;
}

FdEntry& FdTable::put(int fd) {
  auto it = lower(fd);
  if (it != entries_.end() && it->fd == fd) {
    *it = FdEntry{};
    it->fd = fd;
    return *it;
  }
  it = entries_.insert(it, FdEntry{});
  it->fd = fd;
  return *it;
}

bool FdTable::close(int fd) {
  auto it = lower(fd);
  if (it == entries_.end() || it->fd != fd) return false;
  entries_.erase(it);
  return true;
}

void FdTable::duplicate(int oldfd, int newfd, bool cloexec) {
  if (oldfd == newfd) return;  // dup2(fd, fd) changes nothing
  const FdEntry* source = find(oldfd);
  FdEntry copy = source != nullptr ? *source : FdEntry{};
  copy.fd = newfd;
  copy.cloexec = cloexec;  // the close-on-exec flag belongs to the descriptor, not the file
  put(newfd) = std::move(copy);
}

void FdTable::close_on_exec() {
  std::erase_if(entries_, [](const FdEntry& entry) { return entry.cloexec; });
}

}  // namespace vigil::state
