// FdTable on its own: ordering, replacement, duplicates of unknown descriptors, close-on-exec,
// and fd.name for every kind of entry.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include "state/fd_table.h"

using namespace vigil::state;

TEST(StateFdTable, KeepsEntriesSortedAndReplacesReusedNumbers) {
  FdTable fds;
  for (int fd : {9, 3, 7, 0}) fds.put(fd).path = "/f" + std::to_string(fd);
  ASSERT_EQ(fds.size(), 4u);
  std::vector<int> order;
  for (const FdEntry& entry : fds.entries()) order.push_back(entry.fd);
  EXPECT_EQ(order, (std::vector<int>{0, 3, 7, 9}));
  // A new open on a number the table still holds (its close was not seen): a fresh entry.
  FdEntry& reused = fds.put(7);
  EXPECT_EQ(reused.path, "");
  EXPECT_EQ(reused.type, FdType::unknown);
  EXPECT_TRUE(fds.close(3));
  EXPECT_FALSE(fds.close(3));
  EXPECT_EQ(fds.find(3), nullptr);
  EXPECT_EQ(fds.size(), 3u);
}

TEST(StateFdTable, DuplicatesCopyTheFileButNotTheCloseOnExecFlag) {
  FdTable fds;
  FdEntry& file = fds.put(3);
  file.type = FdType::file;
  file.path = "/etc/hosts";
  file.cloexec = true;
  fds.duplicate(3, 10, false);
  ASSERT_NE(fds.find(10), nullptr);
  EXPECT_EQ(fds.find(10)->path, "/etc/hosts");
  EXPECT_FALSE(fds.find(10)->cloexec);
  fds.duplicate(3, 3, false);  // dup2(fd, fd): nothing changes
  EXPECT_TRUE(fds.find(3)->cloexec);
  fds.duplicate(55, 11, true);  // the source was never seen
  ASSERT_NE(fds.find(11), nullptr);
  EXPECT_EQ(fds.find(11)->type, FdType::unknown);
  fds.close_on_exec();
  EXPECT_EQ(fds.find(3), nullptr);
  EXPECT_EQ(fds.find(11), nullptr);
  EXPECT_NE(fds.find(10), nullptr);
}

TEST(StateFdTable, NamesOfSockets) {
  FdEntry inet;
  inet.type = FdType::socket;
  inet.family = AF_INET;
  EXPECT_EQ(inet.name(), "") << "nothing known yet";
  inet.local = {.family = AF_INET, .port = 8080, .addr = {127, 0, 0, 1}, .unix_path = {}};
  EXPECT_EQ(inet.name(), "127.0.0.1:8080");
  inet.remote = {.family = AF_INET, .port = 51000, .addr = {192, 168, 1, 20}, .unix_path = {}};
  EXPECT_EQ(inet.name(), "127.0.0.1:8080->192.168.1.20:51000");

  FdEntry inet6;
  inet6.type = FdType::socket;
  inet6.family = AF_INET6;
  inet6.remote = {.family = AF_INET6, .port = 443, .addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                  .unix_path = {}};
  EXPECT_EQ(inet6.name(), "[2001:db8::1]:443") << "local end unknown: the peer alone";

  FdEntry unix_socket;
  unix_socket.type = FdType::socket;
  unix_socket.family = AF_UNIX;
  unix_socket.remote = {.family = AF_UNIX, .port = 0, .addr = {}, .unix_path = "/run/dbus/system_bus_socket"};
  EXPECT_EQ(unix_socket.name(), "/run/dbus/system_bus_socket");

  SocketAddress weird{.family = 99, .port = 1, .addr = {}, .unix_path = {}};
  EXPECT_EQ(format_address(weird), "");
}
