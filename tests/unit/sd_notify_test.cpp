// The service-manager notification protocol against a datagram socket the test binds, as
// systemd binds NOTIFY_SOCKET for a Type=notify service.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "common/sd_notify.h"
#include "common/unique_fd.h"
#include "support/test_support.h"

using namespace vigil;

namespace {

// A bound AF_UNIX datagram socket: a file path, or "@name" for the abstract namespace.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& address) : address_(address), fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, address.data(), address.size());
    if (un.sun_path[0] == '@') un.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    bound_ = ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&un), length) == 0;
  }
  bool bound() const { return bound_; }
  // The next datagram, or nothing within the timeout.
  std::optional<std::string> receive(int timeout_ms = 2000) {
    pollfd ready{fd_.get(), POLLIN, 0};
    if (::poll(&ready, 1, timeout_ms) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t got = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (got < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(got));
  }

 private:
  std::string address_;
  UniqueFd fd_;
  bool bound_ = false;
};

// Sets NOTIFY_SOCKET for one test and restores what was there.
class ScopedNotifySocket {
 public:
  explicit ScopedNotifySocket(const char* value) {
    if (const char* old = std::getenv("NOTIFY_SOCKET")) old_ = old;
    if (value) ::setenv("NOTIFY_SOCKET", value, 1);
    else ::unsetenv("NOTIFY_SOCKET");
  }
  ~ScopedNotifySocket() {
    if (old_) ::setenv("NOTIFY_SOCKET", old_->c_str(), 1);
    else ::unsetenv("NOTIFY_SOCKET");
  }

 private:
  std::optional<std::string> old_;
};

}  // namespace

TEST(SdNotify, SendsTheStateAsOneDatagramToAPathSocket) {
  test::TempDir dir;
  const std::string path = dir / "notify";
  NotifyListener listener(path);
  ASSERT_TRUE(listener.bound());
  auto sent = sd::notify_to(path, "READY=1\nSTATUS=mode log");
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(*sent);
  EXPECT_EQ(listener.receive(), "READY=1\nSTATUS=mode log");
}

TEST(SdNotify, ReachesAnAbstractSocketNamedWithAt) {
  const std::string name = "@vigil-sd-notify-test-" + std::to_string(::getpid());
  NotifyListener listener(name);
  ASSERT_TRUE(listener.bound());
  ScopedNotifySocket env(name.c_str());
  auto sent = sd::notify("STOPPING=1");
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(*sent);
  EXPECT_EQ(listener.receive(), "STOPPING=1");
}

TEST(SdNotify, FollowsNotifySocketFromTheEnvironment) {
  test::TempDir dir;
  const std::string path = dir / "notify";
  NotifyListener listener(path);
  ASSERT_TRUE(listener.bound());
  ScopedNotifySocket env(path.c_str());
  ASSERT_TRUE(sd::notify("READY=1"));
  ASSERT_TRUE(sd::notify(sd::reloading_state()));
  EXPECT_EQ(listener.receive(), "READY=1");
  const auto reloading = listener.receive();
  ASSERT_TRUE(reloading);
  // RELOADING=1 with the monotonic clock in microseconds, as systemd 253+ checks it.
  ASSERT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec = std::stoull(reloading->substr(reloading->find('=', 12) + 1));
  const unsigned long long now_usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + now.tv_nsec / 1000;
  EXPECT_LE(usec, now_usec);
  EXPECT_GT(usec + 5'000'000ULL, now_usec);
}

TEST(SdNotify, WithoutAServiceManagerNothingIsSent) {
  ScopedNotifySocket env(nullptr);
  auto sent = sd::notify("READY=1");
  ASSERT_TRUE(sent);
  EXPECT_FALSE(*sent);
}

TEST(SdNotify, AnUnusableSocketIsAnErrorNamingIt) {
  test::TempDir dir;
  auto missing = sd::notify_to(dir / "nobody-listens", "READY=1");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nobody-listens"), std::string::npos);
  auto not_unix = sd::notify_to("vsock:2:1234", "READY=1");
  ASSERT_FALSE(not_unix);
  EXPECT_NE(not_unix.error().message.find("not an AF_UNIX"), std::string::npos);
  auto too_long = sd::notify_to("/" + std::string(200, 'x'), "READY=1");
  EXPECT_FALSE(too_long);
}
