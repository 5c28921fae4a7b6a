// The calls ABI 4 added, for real: symlink, symlinkat, link, linkat, mkdir, mkdirat, rmdir (file
// records), userfaultfd (proc record), and sendto, sendmsg, recvfrom, recvmsg (the io record:
// the address the call named, the data's first bytes), on loopback only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

std::string path_of(const char* buffer, __u32 size) { return size == 0 ? std::string() : std::string(buffer, size - 1); }

TEST(ProbeSyscallAbi4, LinksDirectoriesAndUserfaultfd) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  vigil::test::TempDir dir;  // made before the probe: its own mkdir is not one of the calls below
  auto probe = open_probe({SYS_symlink, SYS_symlinkat, SYS_link, SYS_linkat, SYS_mkdir, SYS_mkdirat, SYS_rmdir,
                           SYS_userfaultfd});
  ASSERT_TRUE(probe);
  const std::string file = dir / "file";
  vigil::test::write_text(file, "x");
  ASSERT_EQ(sys(SYS_symlink, "/etc/shadow", (dir / "s1").c_str()), 0);
  ASSERT_EQ(sys(SYS_symlinkat, "/etc/hostname", AT_FDCWD, (dir / "s2").c_str()), 0);
  ASSERT_EQ(sys(SYS_link, file.c_str(), (dir / "l1").c_str()), 0);
  ASSERT_EQ(sys(SYS_linkat, AT_FDCWD, file.c_str(), AT_FDCWD, (dir / "l2").c_str(), AT_SYMLINK_FOLLOW), 0);
  ASSERT_EQ(sys(SYS_link, "/etc/shadow", "/nonexistent-vigil/x"), -ENOENT);
  ASSERT_EQ(sys(SYS_mkdir, (dir / "d1").c_str(), 0750), 0);
  ASSERT_EQ(sys(SYS_mkdirat, AT_FDCWD, (dir / "d2").c_str(), 0700), 0);
  ASSERT_EQ(sys(SYS_rmdir, (dir / "d1").c_str()), 0);
  const long uffd = sys(SYS_userfaultfd, O_CLOEXEC);  // may be refused (vm.unprivileged_userfaultfd): recorded either way
  if (uffd >= 0) ::close(static_cast<int>(uffd));

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_rmdir, 1}}));
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::procs, self.tid, {{SYS_userfaultfd, 1}}));
  auto symlinks = Records::of(records.files, self.tid, SYS_symlink);
  ASSERT_EQ(symlinks.size(), 1u);
  EXPECT_EQ(path_of(symlinks[0].path, symlinks[0].path_size), "/etc/shadow") << "the target";
  EXPECT_EQ(path_of(symlinks[0].path2, symlinks[0].path2_size), dir / "s1");
  auto symlinkats = Records::of(records.files, self.tid, SYS_symlinkat);
  ASSERT_EQ(symlinkats.size(), 1u);
  EXPECT_EQ(symlinkats[0].dirfd2, AT_FDCWD);
  EXPECT_EQ(path_of(symlinkats[0].path, symlinkats[0].path_size), "/etc/hostname");
  auto links = Records::of(records.files, self.tid, SYS_link);
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(path_of(links[0].path, links[0].path_size), file);
  EXPECT_EQ(path_of(links[0].path2, links[0].path2_size), dir / "l1");
  EXPECT_EQ(links[1].sc.ret, -ENOENT);
  EXPECT_EQ(path_of(links[1].path, links[1].path_size), "/etc/shadow");
  auto linkats = Records::of(records.files, self.tid, SYS_linkat);
  ASSERT_EQ(linkats.size(), 1u);
  EXPECT_EQ(linkats[0].at_flags, static_cast<__u32>(AT_SYMLINK_FOLLOW));
  EXPECT_EQ(path_of(linkats[0].path2, linkats[0].path2_size), dir / "l2");
  auto mkdirs = Records::of(records.files, self.tid, SYS_mkdir);
  ASSERT_EQ(mkdirs.size(), 1u);
  EXPECT_EQ(mkdirs[0].mode, 0750u);
  EXPECT_EQ(path_of(mkdirs[0].path, mkdirs[0].path_size), dir / "d1");
  auto mkdirats = Records::of(records.files, self.tid, SYS_mkdirat);
  ASSERT_EQ(mkdirats.size(), 1u);
  EXPECT_EQ(mkdirats[0].dirfd, AT_FDCWD);
  EXPECT_EQ(mkdirats[0].mode, 0700u);
  ASSERT_EQ(Records::of(records.files, self.tid, SYS_rmdir).size(), 1u);
  auto uffds = Records::of(records.procs, self.tid, SYS_userfaultfd);
  ASSERT_EQ(uffds.size(), 1u);
  EXPECT_EQ(uffds[0].args[0], static_cast<__u64>(O_CLOEXEC));
  EXPECT_EQ(uffds[0].sc.ret, uffd);
}

TEST(ProbeSyscallAbi4, DatagramsCarryTheAddressAndTheData) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_sendto, SYS_sendmsg, SYS_recvfrom, SYS_recvmsg});
  ASSERT_TRUE(probe);
  const int server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int client = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length), 0);

  const char hello[] = "\xca\xfe\xba\xbe hello";
  ASSERT_EQ(sys(SYS_sendto, client, hello, sizeof hello - 1, 0, &address, sizeof address),
            static_cast<long>(sizeof hello - 1));
  char buffer[64];
  sockaddr_in from{};
  socklen_t from_length = sizeof from;
  ASSERT_EQ(sys(SYS_recvfrom, server, buffer, sizeof buffer, 0, &from, &from_length), static_cast<long>(sizeof hello - 1));
  std::string big(1000, 'z');
  iovec iov{big.data(), big.size()};
  msghdr message{};
  message.msg_name = &address;
  message.msg_namelen = sizeof address;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  ASSERT_EQ(sys(SYS_sendmsg, client, &message, 0), 1000);
  std::string received(2000, '\0');
  iovec in{received.data(), received.size()};
  sockaddr_in source{};
  msghdr reply{};
  reply.msg_name = &source;
  reply.msg_namelen = sizeof source;
  reply.msg_iov = &in;
  reply.msg_iovlen = 1;
  ASSERT_EQ(sys(SYS_recvmsg, server, &reply, 0), 1000);
  ::close(server);
  ::close(client);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::ios, self.tid, {{SYS_recvmsg, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto sends = Records::of(records.ios, self.tid, SYS_sendto);
  ASSERT_EQ(sends.size(), 1u);
  const auto& send = sends[0];
  self.expect_header(send.header, VIGIL_EVENT_SYSCALL_IO, sizeof send);
  EXPECT_EQ(send.fd, client);
  EXPECT_EQ(send.domain, AF_INET);
  EXPECT_EQ(send.type, SOCK_DGRAM);
  EXPECT_EQ(send.len, sizeof hello - 1);
  EXPECT_TRUE(send.sc.flags & VIGIL_SYSCALL_ADDR_PASSED);
  EXPECT_EQ(send.remote.family, AF_INET);
  EXPECT_EQ(send.remote.port, ntohs(address.sin_port));
  ASSERT_EQ(send.data_size, sizeof hello - 1);
  EXPECT_EQ(std::memcmp(send.data, hello, send.data_size), 0);
  auto receives = Records::of(records.ios, self.tid, SYS_recvfrom);
  ASSERT_EQ(receives.size(), 1u);
  EXPECT_TRUE(receives[0].sc.flags & VIGIL_SYSCALL_ADDR_PASSED);
  EXPECT_EQ(receives[0].remote.port, ntohs(from.sin_port)) << "the source the kernel wrote back";
  EXPECT_EQ(receives[0].local.port, ntohs(address.sin_port));
  auto sendmsgs = Records::of(records.ios, self.tid, SYS_sendmsg);
  ASSERT_EQ(sendmsgs.size(), 1u);
  EXPECT_EQ(sendmsgs[0].len, 1000u);
  EXPECT_EQ(sendmsgs[0].data_size, static_cast<__u32>(VIGIL_IO_DATA_MAX)) << "bounded";
  auto recvmsgs = Records::of(records.ios, self.tid, SYS_recvmsg);
  ASSERT_EQ(recvmsgs.size(), 1u);
  EXPECT_EQ(recvmsgs[0].len, 2000u);
  EXPECT_EQ(recvmsgs[0].data_size, static_cast<__u32>(VIGIL_IO_DATA_MAX));
  EXPECT_EQ(recvmsgs[0].data[0], 'z');
  EXPECT_EQ(recvmsgs[0].remote.port, ntohs(source.sin_port));
}

}  // namespace
