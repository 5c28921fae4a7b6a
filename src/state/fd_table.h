#pragma once
// The open file descriptors of one process, as far as the captured syscalls tell (fd.* fields
// of rules). Fed by open*/creat (path), socket/bind/connect/accept* (addresses), dup* (copy),
// close (remove), exec (drops O_CLOEXEC descriptors) and fork (copy). Descriptors made by
// syscalls that are not captured (pipe, socketpair, eventfd, epoll_create, fcntl F_DUPFD...)
// are simply absent; see docs/state.md.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::state {

enum class FdType : std::uint8_t {
  file,     // open/openat/openat2/creat, memfd
  socket,   // socket/accept: see FdEntry::family
  unknown,  // inherited or duplicated from something vigil did not see being made
};

// Which end of a connection this process's side is, as far as the captured calls tell.
enum class SocketRole : std::uint8_t {
  unknown,  // made by an uncaptured call, or seeded from /proc
  client,   // this side connect()ed: it opened the connection
  server,   // bind/listen, or returned by accept: the other side opened it
};

struct SocketAddress {
  std::uint16_t family = 0;  // AF_INET, AF_INET6, AF_UNIX; 0: not known
  std::uint16_t port = 0;    // host byte order
  std::array<std::uint8_t, 16> addr{};  // network order; AF_INET uses the first 4 bytes
  std::string unix_path;     // AF_UNIX only

  bool known() const { return family != 0; }
};

struct FdEntry {
  int fd = -1;
  FdType type = FdType::unknown;
  bool cloexec = false;        // closed by exec (O_CLOEXEC / SOCK_CLOEXEC / dup3 flag)
  std::string path;            // files: the path as passed to open (not resolved), or /proc's link
  std::uint16_t family = 0;    // sockets: domain
  std::uint32_t socket_type = 0;
  std::uint32_t protocol = 0;
  SocketAddress local;         // from bind
  SocketAddress remote;        // from connect / accept
  SocketRole role = SocketRole::unknown;  // copied by dup and fork like the rest

  // fd.name as rules see it: the path for files; "local->remote" for connected sockets
  // (e.g. "10.0.0.1:4000->10.0.0.2:80"; the one known end alone otherwise), the unix path
  // for AF_UNIX.
  std::string name() const;
};

// "1.2.3.4:80", "[::1]:443", the unix path, or "" when unknown.
std::string format_address(const SocketAddress& address);

class FdTable {
 public:
  // Sorted by fd: processes hold few descriptors, so a flat vector beats a node map.
  const FdEntry* find(int fd) const;
  FdEntry* find(int fd);
  // Adds or replaces the descriptor (a new open on a number that was never seen closed).
  FdEntry& put(int fd);
  bool close(int fd);
  // dup/dup2/dup3: newfd becomes a copy of oldfd (unknown type if oldfd is not known).
  void duplicate(int oldfd, int newfd, bool cloexec);
  // exec: drop the O_CLOEXEC descriptors.
  void close_on_exec();
  void clear() { entries_.clear(); }
  std::size_t size() const { return entries_.size(); }
  const std::vector<FdEntry>& entries() const { return entries_; }

 private:
  std::vector<FdEntry>::iterator lower(int fd);
  std::vector<FdEntry> entries_;
};

}  // namespace vigil::state
