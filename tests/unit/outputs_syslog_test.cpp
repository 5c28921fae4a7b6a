#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>

#include "outputs/outputs.h"
#include "outputs/syslog_sink.h"
#include "support/test_support.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;

namespace {

// A unix datagram socket bound in a temp dir: the test's own /dev/log.
class FakeSyslogDaemon {
 public:
  explicit FakeSyslogDaemon(const std::string& path) : path_(path) { bind_socket(); }
  ~FakeSyslogDaemon() { close_socket(); }

  void bind_socket() {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) ADD_FAILURE() << "bind " << path_;
    const timeval timeout{5, 0};  // a missing message fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(path_.c_str());
  }
  std::string receive() {
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n < 0 ? std::string() : std::string(buffer, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST(OutputsSyslog, Rfc5424ToAUnixDatagramSocket) {
  test::TempDir dir;
  const std::string path = dir / "log";
  FakeSyslogDaemon daemon(path);
  SyslogSink sink({.socket_path = path, .facility = 16 /* local0 */});
  EXPECT_EQ(sink.name(), "syslog:" + path);
  ASSERT_TRUE(sink.deliver(test::sample_alert()));
  const std::string message = daemon.receive();

  // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
  const std::regex shape(R"(<(\d+)>1 (\S+) (\S+) (\S+) (\d+) - - (.*))");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(message, m, shape)) << message;
  EXPECT_EQ(std::stoi(m[1]), 16 * 8 + 4);  // local0, warning
  EXPECT_EQ(m[2], "2024-05-16T09:10:11.123456Z");
  EXPECT_EQ(m[3], "node-1");
  EXPECT_EQ(m[4], "vigil");
  EXPECT_EQ(std::stoi(m[5]), ::getpid());
  EXPECT_EQ(m[6], "Warning File below /etc opened for writing (file=/etc/shadow proc=vi)");
}

TEST(OutputsSyslog, Rfc3164AndSeverityFromPriority) {
  test::TempDir dir;
  const std::string path = dir / "log";
  FakeSyslogDaemon daemon(path);
  SyslogSink sink({.socket_path = path, .protocol = SyslogProtocol::rfc3164, .facility = 3 /* daemon */,
                   .app_name = "vigil-agent"});
  ASSERT_TRUE(sink.deliver(test::sample_alert("r", Priority::critical)));
  const std::string message = daemon.receive();
  // <PRI>Mmm dd hh:mm:ss TAG[pid]: MSG (local time, so only the shape of the time is checked)
  const std::regex shape(R"(<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ([^\[]+)\[(\d+)\]: (.*))");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(message, m, shape)) << message;
  EXPECT_EQ(std::stoi(m[1]), 3 * 8 + 2);  // daemon, critical
  EXPECT_EQ(m[3], "vigil-agent");
  EXPECT_EQ(std::stoi(m[4]), ::getpid());
  EXPECT_EQ(m[5], "Critical File below /etc opened for writing (file=/etc/shadow proc=vi)");
}

TEST(OutputsSyslog, EveryPriorityMapsToItsSeverity) {
  for (int severity = 0; severity <= 7; ++severity) {
    auto alert = test::sample_alert("r", static_cast<Priority>(severity));
    const std::string message = syslog_message({.facility = 1 /* user */}, alert, 1);
    EXPECT_EQ(message.substr(0, message.find('>') + 1), "<" + std::to_string(8 + severity) + ">") << message;
  }
}

TEST(OutputsSyslog, JsonFormatAndHostileHeaderFields) {
  auto alert = test::sample_alert();
  alert.hostname = "bad host\n";
  alert.output = "line one\nline two";
  const std::string json = syslog_message({.format = LineFormat::json}, alert, 7);
  const size_t body = json.find("- - ");
  ASSERT_NE(body, std::string::npos) << json;
  EXPECT_EQ(nlohmann::json::parse(json.substr(body + 4))["output"], "line one\nline two");
  EXPECT_NE(json.find(" bad_host_ vigil 7 "), std::string::npos) << json;  // no spaces in header fields

  const std::string text = syslog_message({}, alert, 7);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_NE(text.find("line one\\x0aline two"), std::string::npos) << text;

  alert.hostname.clear();
  EXPECT_NE(syslog_message({}, alert, 7).find("Z - vigil 7 - - "), std::string::npos);  // NILVALUE
}

TEST(OutputsSyslog, ReconnectsWhenTheDaemonRestarts) {
  test::TempDir dir;
  const std::string path = dir / "log";
  FakeSyslogDaemon daemon(path);
  SyslogSink sink({.socket_path = path});
  ASSERT_TRUE(sink.deliver(test::sample_alert("first")));
  EXPECT_NE(daemon.receive().find("Warning "), std::string::npos);

  daemon.close_socket();  // daemon gone: the alert fails, naming the socket
  auto result = sink.deliver(test::sample_alert("lost"));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find(path), std::string::npos) << result.error().message;

  daemon.bind_socket();  // back at the same path
  ASSERT_TRUE(sink.deliver(test::sample_alert("second")));
  EXPECT_FALSE(daemon.receive().empty());
}

TEST(OutputsSyslog, ConfiguredThroughTheDispatcher) {
  test::TempDir dir;
  const std::string path = dir / "log";
  FakeSyslogDaemon daemon(path);
  OutputsConfig config;
  config.outputs.resize(1);
  config.outputs[0].sink = SyslogOutput{.socket_path = path, .facility = 20};
  auto outputs = make_outputs(config);
  ASSERT_TRUE(outputs) << outputs.error().message;
  (*outputs)->publish(test::sample_alert("x", Priority::emergency));
  ASSERT_TRUE((*outputs)->flush(std::chrono::seconds(5)));
  EXPECT_EQ((*outputs)->status()[0].delivered, 1u);
  EXPECT_EQ(daemon.receive().substr(0, 5), "<160>");  // local4 * 8 + emergency
}
