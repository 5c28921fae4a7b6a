// Console access from another machine (issue: "no token from a non-loopback address -> 401").
// The agent's console listens on the host end of a veth pair whose other end lives in a network
// namespace this test creates; curl runs inside that namespace, so the agent sees a real
// non-loopback peer. Namespace and links are removed whatever happens.
#include <gtest/gtest.h>

#include <random>

#include "privileged/agent_fixture.h"

namespace {

using namespace vigil::test;
using namespace std::chrono_literals;

class PeerNamespace {
 public:
  PeerNamespace() {
    std::random_device random;
    const unsigned tag = random() % 60000;
    name_ = "vigil-auth-" + std::to_string(tag);
    host_link_ = "vgah" + std::to_string(tag);
    const unsigned subnet = tag % 250;
    host_address_ = "10.231." + std::to_string(subnet) + ".1";
    peer_address_ = "10.231." + std::to_string(subnet) + ".2";
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "netns", "add", name_},
        {"ip", "link", "add", host_link_, "type", "veth", "peer", "name", "vgap", "netns", name_},
        {"ip", "addr", "add", host_address_ + "/30", "dev", host_link_},
        {"ip", "link", "set", host_link_, "up"},
        {"ip", "-n", name_, "addr", "add", peer_address_ + "/30", "dev", "vgap"},
        {"ip", "-n", name_, "link", "set", "vgap", "up"},
        {"ip", "-n", name_, "link", "set", "lo", "up"},
    };
    for (const auto& step : steps) {
      const CommandResult result = run(step, 30);
      if (result.exit_code != 0) {
        error_ = step[0] + " " + step[1] + " " + step[2] + ": " + result.err;
        return;
      }
    }
  }
  ~PeerNamespace() {
    // Deleting the namespace destroys its veth end, and with it the host end.
    (void)run({"ip", "netns", "del", name_}, 30);
    (void)run({"ip", "link", "del", host_link_}, 30);
  }
  const std::string& error() const { return error_; }
  const std::string& host_address() const { return host_address_; }

  // curl from inside the namespace; returns the HTTP status (0: no answer) and the body.
  std::pair<int, std::string> get(const std::string& url, const std::vector<std::string>& headers = {}) const {
    std::vector<std::string> argv = {"ip", "netns", "exec", name_, "curl", "-s", "-m", "10", "-w", "\n%{http_code}"};
    for (const auto& header : headers) {
      argv.push_back("-H");
      argv.push_back(header);
    }
    argv.push_back(url);
    const CommandResult result = run(argv, 30);
    const std::size_t newline = result.out.rfind('\n');
    if (newline == std::string::npos) return {0, result.out + result.err};
    return {std::atoi(result.out.c_str() + newline + 1), result.out.substr(0, newline)};
  }

 private:
  std::string name_, host_link_, host_address_, peer_address_, error_;
};

TEST(ConsoleAuth, NonLoopbackPeersNeedTheToken) {
  VIGIL_REQUIRE_ROOT();
  PeerNamespace peer;
  ASSERT_EQ(peer.error(), "");
  TempDir dir;
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") +
                                     "\nwatch: []\nruntime:\n  enabled: false\nconsole:\n  listen: " +
                                     peer.host_address() + ":0\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state", 120);
  ASSERT_TRUE(agent.ready()) << agent.output();
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i, std::this_thread::sleep_for(50ms)) url = agent.console_url();
  ASSERT_EQ(url.rfind("http://" + peer.host_address() + ":", 0), 0u) << agent.output();

  struct stat st{};
  ASSERT_EQ(::stat((dir / "state/console.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string token = read_text(dir / "state/console.token");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  ASSERT_GE(token.size(), 32u);

  auto [status, body] = peer.get(url + "api/health");
  EXPECT_EQ(status, 401) << body;
  EXPECT_NE(body.find("bearer token"), std::string::npos) << body;
  EXPECT_EQ(peer.get(url + "metrics").first, 401);
  EXPECT_EQ(peer.get(url + "api/alerts", {"Authorization: Bearer " + std::string(token.size(), 'x')}).first, 401);
  EXPECT_EQ(peer.get(url + "api/alerts", {"Authorization: Bearer " + token}).first, 200);
  EXPECT_EQ(peer.get(url + "api/health?token=" + token).first, 200);
  EXPECT_EQ(peer.get(url + "metrics", {"Authorization: Bearer " + token}).first, 200);
  // The page that asks for the token loads without one; it holds no data.
  EXPECT_EQ(peer.get(url).first, 200);
  // A wrong token is refused as firmly on every data path.
  EXPECT_EQ(peer.get(url + "api/stream?token=nope").first, 401);
}

// DNS rebinding and local proxies (issue 16, finding 5), against the real agent: a request from
// loopback that names another host is refused, data or not; one that names a forwarded client
// needs the token like any remote peer.
TEST(ConsoleAuth, LoopbackRequestsNamingAnotherHostAreRefused) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(have_program("curl"), "curl not installed");
  TempDir dir;
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") + "\nwatch: []\nruntime:\n  enabled: false\n");
  AgentProcess agent(dir / "agent.yaml", dir / "state", 120);
  ASSERT_TRUE(agent.ready()) << agent.output();
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i, std::this_thread::sleep_for(50ms)) url = agent.console_url();
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << agent.output();
  std::string token = read_text(dir / "state/console.token");
  while (!token.empty() && token.back() == '\n') token.pop_back();

  auto status_of = [&](const std::string& path, const std::vector<std::string>& headers) {
    std::vector<std::string> argv = {"curl", "-s", "-o", "/dev/null", "-m", "10", "-w", "%{http_code}"};
    for (const auto& header : headers) {
      argv.push_back("-H");
      argv.push_back(header);
    }
    argv.push_back(url + path);
    return std::atoi(run(argv, 30).out.c_str());
  };
  EXPECT_EQ(status_of("api/alerts", {}), 200);
  EXPECT_EQ(status_of("api/alerts", {"Host: localhost"}), 200);
  for (const std::string path : {"api/alerts", "api/health", "metrics", ""}) {
    EXPECT_EQ(status_of(path, {"Host: attacker.example"}), 421) << path;
    EXPECT_EQ(status_of(path, {"Host: attacker.example", "Authorization: Bearer " + token}), 421) << path;
  }
  EXPECT_EQ(status_of("api/alerts", {"X-Forwarded-For: 203.0.113.9"}), 401);
  EXPECT_EQ(status_of("api/alerts", {"Forwarded: for=203.0.113.9"}), 401);
  EXPECT_EQ(status_of("api/alerts", {"X-Forwarded-For: 203.0.113.9", "Authorization: Bearer " + token}), 200);
}

}  // namespace
