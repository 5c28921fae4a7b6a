// The syscall probe's network family (VIGIL_EVENT_SYSCALL_NET), for real, on loopback and
// unix sockets only: socket, bind, listen, connect, accept, accept4, checked field by field
// against the arguments and getsockname/getpeername.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

void expect_net_record(const Self& self, const vigil_syscall_net_event& e, long nr, long ret) {
  self.expect_header(e.header, VIGIL_EVENT_SYSCALL_NET, sizeof(e));
  EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(nr));
  EXPECT_EQ(e.sc.ret, ret);
}

void expect_none(const vigil_sockaddr& a) {
  EXPECT_EQ(a.family, 0u);
  EXPECT_EQ(a.port, 0u);
  EXPECT_EQ(a.unix_path_size, 0u);
  for (auto b : a.addr) EXPECT_EQ(b, 0u);
  EXPECT_EQ(a.reserved0, 0u);
}

void expect_inet(const vigil_sockaddr& a, const sockaddr_in& want) {
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.port, ntohs(want.sin_port));
  EXPECT_EQ(std::memcmp(a.addr, &want.sin_addr, 4), 0);
  for (int i = 4; i < 16; ++i) EXPECT_EQ(a.addr[i], 0u) << "IPv4 uses addr[0..3] only";
  EXPECT_EQ(a.unix_path_size, 0u);
  EXPECT_EQ(a.reserved0, 0u);
}

void expect_inet6(const vigil_sockaddr& a, const sockaddr_in6& want) {
  EXPECT_EQ(a.family, AF_INET6);
  EXPECT_EQ(a.port, ntohs(want.sin6_port));
  EXPECT_EQ(std::memcmp(a.addr, &want.sin6_addr, 16), 0);
  EXPECT_EQ(a.unix_path_size, 0u);
}

sockaddr_in loopback4(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

template <class Addr>
Addr name_of(int fd, bool peer = false) {
  Addr a{};
  socklen_t len = sizeof(a);
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  EXPECT_EQ(r, 0) << std::strerror(errno);
  return a;
}

TEST(ProbeSyscallNet, TcpOverIpv4Loopback) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_socket, SYS_bind, SYS_listen, SYS_connect, SYS_accept, SYS_accept4});
  ASSERT_TRUE(probe);

  long server = sys(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  sockaddr_in bind_addr = loopback4(0);
  ASSERT_EQ(sys(SYS_bind, server, &bind_addr, sizeof(bind_addr)), 0);
  ASSERT_EQ(sys(SYS_listen, server, 7), 0);
  const sockaddr_in listening = name_of<sockaddr_in>(static_cast<int>(server));
  long client = sys(SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ASSERT_GE(client, 0);
  ASSERT_EQ(sys(SYS_connect, client, &listening, sizeof(listening)), 0);
  const sockaddr_in client_local = name_of<sockaddr_in>(static_cast<int>(client));
  long accepted = sys(SYS_accept4, server, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  ASSERT_GE(accepted, 0);
  const sockaddr_in accepted_local = name_of<sockaddr_in>(static_cast<int>(accepted));
  const sockaddr_in accepted_peer = name_of<sockaddr_in>(static_cast<int>(accepted), true);
  // Failures: a port nobody listens on (bound, never listened), and accept on a non-socket.
  int unused = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // a socket() record too
  ASSERT_GE(unused, 0);
  ASSERT_EQ(::bind(unused, reinterpret_cast<const sockaddr*>(&bind_addr), sizeof(bind_addr)), 0);
  const sockaddr_in refused_addr = name_of<sockaddr_in>(unused);
  long refused_fd = sys(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(refused_fd, 0);
  ASSERT_EQ(sys(SYS_connect, refused_fd, &refused_addr, sizeof(refused_addr)), -ECONNREFUSED);
  int not_socket = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_EQ(sys(SYS_accept, not_socket, nullptr, nullptr), -ENOTSOCK);
  ASSERT_EQ(sys(SYS_connect, client, reinterpret_cast<void*>(8), 16), -EFAULT);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::nets, self.tid, {{SYS_connect, 3}, {SYS_accept, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  auto sockets = Records::of(records.nets, self.tid, SYS_socket);
  ASSERT_EQ(sockets.size(), 4u);
  {
    SCOPED_TRACE("socket");
    const auto& e = sockets[0];
    expect_net_record(self, e, SYS_socket, server);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.fd, -1);
    EXPECT_EQ(e.domain, AF_INET);
    EXPECT_EQ(e.type, SOCK_STREAM | SOCK_CLOEXEC);
    EXPECT_EQ(e.protocol, 0);
    EXPECT_EQ(e.backlog, 0);
    EXPECT_EQ(e.accept_flags, 0u);
    expect_none(e.local);
    expect_none(e.remote);
    expect_net_record(self, sockets[1], SYS_socket, client);
    EXPECT_EQ(sockets[1].type, SOCK_STREAM);
    EXPECT_EQ(sockets[1].protocol, IPPROTO_TCP);
    expect_net_record(self, sockets[2], SYS_socket, unused);
    expect_net_record(self, sockets[3], SYS_socket, refused_fd);
  }
  auto binds = Records::of(records.nets, self.tid, SYS_bind);
  ASSERT_EQ(binds.size(), 2u);
  expect_net_record(self, binds[1], SYS_bind, 0);
  EXPECT_EQ(binds[1].fd, unused);
  {
    SCOPED_TRACE("bind");
    const auto& e = binds[0];
    expect_net_record(self, e, SYS_bind, 0);
    EXPECT_EQ(e.fd, server);
    EXPECT_EQ(e.domain, AF_INET);
    EXPECT_EQ(e.type, SOCK_STREAM);
    EXPECT_EQ(e.protocol, IPPROTO_TCP);
    expect_inet(e.local, bind_addr);  // as passed: port 0
    expect_none(e.remote);
  }
  auto listens = Records::of(records.nets, self.tid, SYS_listen);
  ASSERT_EQ(listens.size(), 1u);
  {
    SCOPED_TRACE("listen");
    const auto& e = listens[0];
    expect_net_record(self, e, SYS_listen, 0);
    EXPECT_EQ(e.fd, server);
    EXPECT_EQ(e.backlog, 7);
    expect_inet(e.local, listening);  // the kernel's: the port it picked
    expect_none(e.remote);
  }
  auto connects = Records::of(records.nets, self.tid, SYS_connect);
  ASSERT_EQ(connects.size(), 3u);
  {
    SCOPED_TRACE("connect");
    const auto& e = connects[0];
    expect_net_record(self, e, SYS_connect, 0);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.fd, client);
    EXPECT_EQ(e.domain, AF_INET);
    EXPECT_EQ(e.type, SOCK_STREAM);
    EXPECT_EQ(e.protocol, IPPROTO_TCP);
    expect_inet(e.remote, listening);
    expect_inet(e.local, client_local);
  }
  {
    SCOPED_TRACE("connect refused");
    const auto& e = connects[1];
    expect_net_record(self, e, SYS_connect, -ECONNREFUSED);
    EXPECT_EQ(e.fd, refused_fd);
    expect_inet(e.remote, refused_addr);
  }
  {
    SCOPED_TRACE("connect EFAULT");
    const auto& e = connects[2];
    expect_net_record(self, e, SYS_connect, -EFAULT);
    EXPECT_EQ(e.sc.flags, VIGIL_SYSCALL_ADDR_UNREADABLE);
    expect_none(e.remote);
  }
  auto accept4s = Records::of(records.nets, self.tid, SYS_accept4);
  ASSERT_EQ(accept4s.size(), 1u);
  {
    SCOPED_TRACE("accept4");
    const auto& e = accept4s[0];
    expect_net_record(self, e, SYS_accept4, accepted);
    EXPECT_EQ(e.fd, server);
    EXPECT_EQ(e.accept_flags, static_cast<__u32>(SOCK_CLOEXEC | SOCK_NONBLOCK));
    EXPECT_EQ(e.domain, AF_INET);
    EXPECT_EQ(e.type, SOCK_STREAM);
    EXPECT_EQ(e.protocol, IPPROTO_TCP);
    expect_inet(e.local, accepted_local);
    expect_inet(e.remote, accepted_peer);
    EXPECT_EQ(e.remote.port, ntohs(client_local.sin_port));
  }
  auto accepts = Records::of(records.nets, self.tid, SYS_accept);
  ASSERT_EQ(accepts.size(), 1u);
  {
    SCOPED_TRACE("accept ENOTSOCK");
    const auto& e = accepts[0];
    expect_net_record(self, e, SYS_accept, -ENOTSOCK);
    EXPECT_EQ(e.fd, not_socket);
    EXPECT_EQ(e.domain, 0);
    EXPECT_EQ(e.type, 0);
    expect_none(e.local);
    expect_none(e.remote);
  }
  for (long fd : {server, client, accepted, refused_fd}) ::close(static_cast<int>(fd));
  ::close(unused);
  ::close(not_socket);
}

TEST(ProbeSyscallNet, TcpOverIpv6Loopback) {
  PROBE_SYSCALL_PRECONDITIONS();
  int probe_fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 bind_addr{};
  bind_addr.sin6_family = AF_INET6;
  bind_addr.sin6_addr = in6addr_loopback;
  const bool have_v6 =
      probe_fd >= 0 && ::bind(probe_fd, reinterpret_cast<const sockaddr*>(&bind_addr), sizeof(bind_addr)) == 0;
  if (probe_fd >= 0) ::close(probe_fd);
  VIGIL_REQUIRE(have_v6, "IPv6 loopback (::1)");

  Self self;
  auto probe = open_probe({SYS_bind, SYS_listen, SYS_connect, SYS_accept});
  ASSERT_TRUE(probe);
  int server = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  ASSERT_EQ(sys(SYS_bind, server, &bind_addr, sizeof(bind_addr)), 0);
  ASSERT_EQ(sys(SYS_listen, server, 1), 0);
  const auto listening = name_of<sockaddr_in6>(server);
  int client = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(sys(SYS_connect, client, &listening, sizeof(listening)), 0);
  const auto client_local = name_of<sockaddr_in6>(client);
  sockaddr_in6 peer{};
  socklen_t peer_len = sizeof(peer);
  long accepted = sys(SYS_accept, server, &peer, &peer_len);
  ASSERT_GE(accepted, 0);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return Records::count_of(records.nets, self.tid, SYS_accept) >= 1; }));
  auto binds = Records::of(records.nets, self.tid, SYS_bind);
  auto listens = Records::of(records.nets, self.tid, SYS_listen);
  auto connects = Records::of(records.nets, self.tid, SYS_connect);
  auto accepts = Records::of(records.nets, self.tid, SYS_accept);
  ASSERT_EQ(binds.size(), 1u);
  ASSERT_EQ(listens.size(), 1u);
  ASSERT_EQ(connects.size(), 1u);
  ASSERT_EQ(accepts.size(), 1u);
  expect_net_record(self, binds[0], SYS_bind, 0);
  EXPECT_EQ(binds[0].domain, AF_INET6);
  expect_inet6(binds[0].local, bind_addr);
  expect_net_record(self, listens[0], SYS_listen, 0);
  expect_inet6(listens[0].local, listening);
  expect_net_record(self, connects[0], SYS_connect, 0);
  EXPECT_EQ(connects[0].fd, client);
  expect_inet6(connects[0].remote, listening);
  expect_inet6(connects[0].local, client_local);
  expect_net_record(self, accepts[0], SYS_accept, accepted);
  EXPECT_EQ(accepts[0].fd, server);
  EXPECT_EQ(accepts[0].accept_flags, 0u);
  expect_inet6(accepts[0].local, listening);
  expect_inet6(accepts[0].remote, peer);
  ::close(server);
  ::close(client);
  ::close(static_cast<int>(accepted));
}

TEST(ProbeSyscallNet, UnixPathAndAbstractSockets) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  auto probe = open_probe({SYS_socket, SYS_bind, SYS_connect, SYS_accept});
  ASSERT_TRUE(probe);

  sockaddr_un path_addr{};
  path_addr.sun_family = AF_UNIX;
  const std::string path = dir / "sock";
  std::strncpy(path_addr.sun_path, path.c_str(), sizeof(path_addr.sun_path) - 1);
  long server = sys(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  ASSERT_EQ(sys(SYS_bind, server, &path_addr, sizeof(path_addr)), 0);
  ASSERT_EQ(::listen(static_cast<int>(server), 1), 0);
  int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(sys(SYS_connect, client, &path_addr, sizeof(path_addr)), 0);
  long accepted = sys(SYS_accept, server, nullptr, nullptr);
  ASSERT_GE(accepted, 0);

  // Abstract name: a leading NUL, then bytes (NULs allowed) up to addrlen.
  const std::string abstract = std::string(1, '\0') + "vigil-abstract-" + std::to_string(self.pid) + std::string(1, '\0') + "z";
  sockaddr_un abstract_addr{};
  abstract_addr.sun_family = AF_UNIX;
  std::memcpy(abstract_addr.sun_path, abstract.data(), abstract.size());
  const auto abstract_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract.size());
  int abstract_server = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(sys(SYS_bind, abstract_server, &abstract_addr, abstract_len), 0);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::nets, self.tid, {{SYS_bind, 2}, {SYS_accept, 1}}));
  auto binds = Records::of(records.nets, self.tid, SYS_bind);
  ASSERT_EQ(binds.size(), 2u);
  {
    SCOPED_TRACE("bind path");
    const auto& e = binds[0];
    expect_net_record(self, e, SYS_bind, 0);
    EXPECT_EQ(e.domain, AF_UNIX);
    EXPECT_EQ(e.type, SOCK_STREAM);
    EXPECT_EQ(e.local.family, AF_UNIX);
    EXPECT_EQ(e.local.port, 0u);
    EXPECT_EQ(e.local.unix_path_size, path.size() + 1);
    EXPECT_EQ(std::string(e.local.unix_path, strnlen(e.local.unix_path, e.local.unix_path_size)), path);
  }
  {
    SCOPED_TRACE("bind abstract");
    const auto& e = binds[1];
    expect_net_record(self, e, SYS_bind, 0);
    EXPECT_EQ(e.type, SOCK_DGRAM);
    EXPECT_EQ(e.local.family, AF_UNIX);
    ASSERT_EQ(e.local.unix_path_size, abstract.size());
    EXPECT_EQ(std::string(e.local.unix_path, e.local.unix_path_size), abstract);
  }
  auto connects = Records::of(records.nets, self.tid, SYS_connect);
  ASSERT_EQ(connects.size(), 1u);
  expect_net_record(self, connects[0], SYS_connect, 0);
  EXPECT_EQ(connects[0].remote.family, AF_UNIX);
  EXPECT_EQ(std::string(connects[0].remote.unix_path, strnlen(connects[0].remote.unix_path, 108)), path);
  EXPECT_EQ(connects[0].local.family, AF_UNIX);
  EXPECT_EQ(connects[0].local.unix_path_size, 0u) << "the client is unbound";
  auto accepts = Records::of(records.nets, self.tid, SYS_accept);
  ASSERT_EQ(accepts.size(), 1u);
  {
    SCOPED_TRACE("accept unix");
    const auto& e = accepts[0];
    expect_net_record(self, e, SYS_accept, accepted);
    EXPECT_EQ(e.domain, AF_UNIX);
    EXPECT_EQ(e.local.family, AF_UNIX);
    EXPECT_EQ(e.local.unix_path_size, path.size() + 1);
    EXPECT_EQ(std::string(e.local.unix_path, strnlen(e.local.unix_path, e.local.unix_path_size)), path);
    EXPECT_EQ(e.remote.family, AF_UNIX);
    EXPECT_EQ(e.remote.unix_path_size, 0u) << "the peer is unbound";
  }
  ::close(static_cast<int>(server));
  ::close(client);
  ::close(static_cast<int>(accepted));
  ::close(abstract_server);
}

}  // namespace
