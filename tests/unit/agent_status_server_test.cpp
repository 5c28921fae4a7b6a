// The agent's status socket: one JSON summary per connection, made 0600, one agent per state
// directory, gone when the agent stops. (Refusing other users: privileged/status_cli_test.cpp.)
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "agent/status_server.h"
#include "common/unique_fd.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

std::string read_answer(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return "";
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = ::read(fd.get(), buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(got));
  return text;
}

nlohmann::json fake_status(std::uint64_t events) {
  return {{"mode", "enforce"}, {"watch", {"/srv"}}, {"allowed", 1u}, {"denied", 2u}, {"timeouts", 0u},
          {"runtime", {{"events", events}, {"drops", 0u}}}, {"console", {{"enabled", false}}}};
}

}  // namespace

TEST(AgentStatusServer, AnswersEachConnectionWithTheSummary) {
  test::TempDir dir;
  const std::string path = status_socket_path(dir.path());
  std::atomic<std::uint64_t> events{100};
  auto server = StatusServer::start(path, [&] { return fake_status(events.load()); },
                                    {"9.9.9", 77, "a.yaml", dir.path(), 0, 0});
  ASSERT_TRUE(server) << server.error().message;
  struct stat st{};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (int i = 0; i < 3; ++i) {
    events += 10;
    const auto answer = nlohmann::json::parse(read_answer(path), nullptr, false);
    ASSERT_TRUE(answer.is_object()) << i;
    EXPECT_EQ(answer["status"], "healthy");
    EXPECT_EQ(answer["mode"], "enforce");
    EXPECT_EQ(answer["version"], "9.9.9");
    EXPECT_EQ(answer["pid"], 77);
    EXPECT_EQ(answer["events"], events.load());
    EXPECT_EQ(answer["denials"], 2u);
    EXPECT_GT(answer["uptime_s"].get<std::int64_t>(), 1'000'000);  // started_ns 0: the epoch
  }
  server->reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket outlives the server";
}

TEST(AgentStatusServer, ASecondAgentOnTheSameStateDirectoryIsRefused) {
  test::TempDir dir;
  const std::string path = status_socket_path(dir.path());
  auto first = StatusServer::start(path, [] { return fake_status(0); }, {});
  ASSERT_TRUE(first) << first.error().message;
  auto second = StatusServer::start(path, [] { return fake_status(0); }, {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another agent is running"), std::string::npos) << second.error().message;
  EXPECT_FALSE(read_answer(path).empty()) << "the first one must still answer";
}

TEST(AgentStatusServer, ASocketLeftByADeadAgentIsReplaced) {
  test::TempDir dir;
  const std::string path = status_socket_path(dir.path());
  {
    // Bound and closed without unlinking: what SIGKILL leaves behind.
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  }
  auto server = StatusServer::start(path, [] { return fake_status(0); }, {});
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_FALSE(read_answer(path).empty());
}

TEST(AgentStatusServer, ARegularFileAtThePathIsNotTouched) {
  test::TempDir dir;
  const std::string path = status_socket_path(dir.path());
  test::write_text(path, "mine");
  auto server = StatusServer::start(path, [] { return fake_status(0); }, {});
  ASSERT_FALSE(server);
  EXPECT_EQ(test::read_text(path), "mine");
}

TEST(AgentStatusServer, APathTooLongForAfUnixIsAnError) {
  auto server = StatusServer::start("/tmp/" + std::string(150, 'd') + "/agent.sock", [] { return fake_status(0); }, {});
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("longer than an AF_UNIX"), std::string::npos);
}
