// Descriptor tables fed by real syscall records: open/dup2/dup3/socket/bind/connect/accept/
// close in this process, then inherited through fork and trimmed by exec in a child, checked
// against /proc/PID/fd.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "state_live_support.h"

namespace {

using namespace std::chrono_literals;
using namespace vigil::state;
using namespace vigil::state::live_testing;

std::string fd_link(pid_t pid, int fd) {
  char target[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  return n < 0 ? std::string() : std::string(target, static_cast<std::size_t>(n));
}

TEST(StateFdTable, FollowsRealSyscallsThroughForkAndExec) {
  STATE_LIVE_PRECONDITIONS();
  ProcessTableOptions options;
  options.seed_fds = true;
  auto live = open_live_table(options, {"openat", "close", "dup2", "dup3", "socket", "bind", "listen", "connect",
                                        "accept4"});
  ASSERT_TRUE(live);
  ProcessTable& table = *live->table;
  const auto self = static_cast<std::uint32_t>(::getpid());
  vigil::test::TempDir dir;
  const std::string kept_path = dir / "kept";
  const std::string cloexec_path = dir / "cloexec";
  vigil::test::write_text(kept_path, "k");
  vigil::test::write_text(cloexec_path, "c");

  const int kept = ::open(kept_path.c_str(), O_RDONLY);
  const int cloexec = ::open(cloexec_path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(kept, 0);
  ASSERT_GE(cloexec, 0);
  const int kDup = 200, kDupCloexec = 201, kClosed = 202;
  ASSERT_EQ(::dup2(kept, kDup), kDup);
  ASSERT_EQ(::dup3(kept, kDupCloexec, O_CLOEXEC), kDupCloexec);
  ASSERT_EQ(::dup2(kept, kClosed), kClosed);
  ASSERT_EQ(::close(kClosed), 0);

  // A loopback connection: listener, client, accepted server end.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::uint16_t port = ntohs(address.sin_port);
  ASSERT_EQ(::listen(listener, 4), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  sockaddr_in client_local{};
  length = sizeof client_local;
  ASSERT_EQ(::getsockname(client, reinterpret_cast<sockaddr*>(&client_local), &length), 0);
  const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(server, 0);
  struct CloseAll {
    std::vector<int> fds;
    ~CloseAll() {
      for (int fd : fds) ::close(fd);
    }
  } close_all{{kept, cloexec, kDup, kDupCloexec, listener, client, server}};

  const std::string client_name =
      "127.0.0.1:" + std::to_string(ntohs(client_local.sin_port)) + "->127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(live->pump_until([&] {
    const Process* p = table.find_live(self);
    return p != nullptr && p->fds.find(server) != nullptr;
  })) << "accept4 of fd " << server << " not seen";
  EXPECT_EQ(live->decode_errors, 0u) << live->first_decode_error;
  const FdTable& fds = table.find_live(self)->fds;
  ASSERT_NE(fds.find(kept), nullptr);
  EXPECT_EQ(fds.find(kept)->name(), kept_path);
  EXPECT_FALSE(fds.find(kept)->cloexec);
  ASSERT_NE(fds.find(cloexec), nullptr);
  EXPECT_TRUE(fds.find(cloexec)->cloexec);
  ASSERT_NE(fds.find(kDup), nullptr);
  EXPECT_EQ(fds.find(kDup)->name(), kept_path);
  ASSERT_NE(fds.find(kDupCloexec), nullptr);
  EXPECT_TRUE(fds.find(kDupCloexec)->cloexec);
  EXPECT_EQ(fds.find(kClosed), nullptr);
  ASSERT_NE(fds.find(listener), nullptr);
  EXPECT_EQ(fds.find(listener)->type, FdType::socket);
  EXPECT_EQ(fds.find(listener)->family, AF_INET);
  EXPECT_TRUE(fds.find(listener)->cloexec);
  ASSERT_NE(fds.find(client), nullptr);
  EXPECT_EQ(fds.find(client)->name(), client_name);
  ASSERT_NE(fds.find(server), nullptr);
  EXPECT_EQ(fds.find(server)->name(), "127.0.0.1:" + std::to_string(port) + "->127.0.0.1:" +
                                          std::to_string(ntohs(client_local.sin_port)));
  EXPECT_TRUE(fds.find(server)->cloexec);

  // A child inherits them all; its exec keeps only those without close-on-exec.
  const SleepingChild sleeping;
  const pid_t child = sleeping.pid;
  ASSERT_GE(child, 0);
  ASSERT_TRUE(live->pump_until([&] { return runs_sleep(table, child); }));
  const FdTable& inherited = table.find_live(static_cast<std::uint32_t>(child))->fds;
  for (int fd : {kept, kDup, client}) {
    SCOPED_TRACE(fd);
    ASSERT_NE(inherited.find(fd), nullptr);
    EXPECT_FALSE(fd_link(child, fd).empty()) << "kept in the table, closed in the process";
  }
  for (int fd : {cloexec, kDupCloexec, listener, server}) {
    SCOPED_TRACE(fd);
    EXPECT_EQ(inherited.find(fd), nullptr);
    EXPECT_TRUE(fd_link(child, fd).empty());
  }
  // Nothing the table holds for the child is closed in reality.
  for (const FdEntry& entry : inherited.entries()) {
    EXPECT_FALSE(fd_link(child, entry.fd).empty()) << "fd " << entry.fd << " " << entry.name();
    if (entry.type == FdType::file && entry.path.starts_with("/")) {
      EXPECT_EQ(fd_link(child, entry.fd), entry.path);
    }
  }
}

}  // namespace
