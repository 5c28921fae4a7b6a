#include <gtest/gtest.h>

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "outputs/outputs.h"
#include "outputs/webhook_sink.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;
using namespace std::chrono_literals;

namespace {

// A cpp-httplib server on 127.0.0.1 with an ephemeral port. Answers POST /alerts with the
// statuses queued in `answers` (then 200), and can hold requests until released.
class FakeReceiver {
 public:
  FakeReceiver() {
    server_.Post("/alerts", [this](const httplib::Request& request, httplib::Response& response) {
      std::unique_lock lock(mutex_);
      bodies.push_back(request.body);
      last_headers = request.headers;
      ++requests;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !hold; });
      int status = 200;
      if (!answers.empty()) {
        status = answers.front();
        answers.erase(answers.begin());
      }
      response.status = status;
      response.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeReceiver() {
    release();
    // stop() before the listen loop has started would be missed and join() would hang.
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path = "/alerts") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  void hold_requests() {
    std::lock_guard lock(mutex_);
    hold = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      hold = false;
    }
    changed_.notify_all();
  }
  bool wait_requests(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return requests >= n; });
  }
  int request_count() {
    std::lock_guard lock(mutex_);
    return requests;
  }

  std::mutex mutex_;
  std::vector<std::string> bodies;
  httplib::Headers last_headers;
  std::vector<int> answers;
  int requests = 0;
  bool hold = false;

 private:
  std::condition_variable changed_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

std::unique_ptr<WebhookSink> make_webhook(const WebhookOutput& config) {
  auto sink = WebhookSink::create(config);
  if (!sink) ADD_FAILURE() << sink.error().message;
  return sink ? std::move(*sink) : nullptr;
}

// A loopback port nothing listens on: bound, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

TEST(OutputsWebhook, ParsesUrls) {
  auto plain = parse_webhook_url("http://127.0.0.1:9000/alerts?team=sec#frag");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->origin, "http://127.0.0.1:9000");
  EXPECT_EQ(plain->path, "/alerts?team=sec");
  auto bare = parse_webhook_url("https://example.com");
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->origin, "https://example.com");
  EXPECT_EQ(bare->path, "/");
  auto v6 = parse_webhook_url("http://[::1]:8080/x");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->origin, "http://[::1]:8080");
  for (const char* bad : {"127.0.0.1:9000/alerts", "ftp://host/", "http://", "http:///path", "http://host:0/",
                          "http://host:99999/", "http://host:x/", "http://user:pw@host/", "http://:80/"}) {
    EXPECT_FALSE(parse_webhook_url(bad)) << bad;
  }
}

TEST(OutputsWebhook, PostsTheAlertJsonWithConfiguredHeaders) {
  FakeReceiver receiver;
  auto sink = make_webhook({.url = receiver.url("/alerts?team=sec"),
                            .headers = {{"Authorization", "Bearer x"}, {"X-Vigil-Node", "n1"}}});
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->deliver(test::sample_alert()));
  std::lock_guard lock(receiver.mutex_);
  ASSERT_EQ(receiver.bodies.size(), 1u);
  const auto json = nlohmann::json::parse(receiver.bodies[0]);
  EXPECT_EQ(json["rule"], "Write below etc");
  EXPECT_EQ(json["priority"], "Warning");
  EXPECT_EQ(json["output_fields"]["fd.name"], "/etc/shadow");
  auto header = [&](const std::string& name) {
    auto it = receiver.last_headers.find(name);
    return it == receiver.last_headers.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(header("Authorization"), "Bearer x");
  EXPECT_EQ(header("X-Vigil-Node"), "n1");
  EXPECT_EQ(header("Content-Type"), "application/json");
}

TEST(OutputsWebhook, RetriesAfterA500) {
  FakeReceiver receiver;
  receiver.answers = {500, 503};
  auto sink = make_webhook({.url = receiver.url(), .retries = 3, .retry_backoff_ms = 10});
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->deliver(test::sample_alert()));
  EXPECT_EQ(receiver.request_count(), 3);  // 500, 503, 200
}

TEST(OutputsWebhook, GivesUpAfterTheRetriesAndDoesNotRetryA4xx) {
  FakeReceiver receiver;
  receiver.answers = {500, 500, 500, 400};
  auto sink = make_webhook({.url = receiver.url(), .retries = 2, .retry_backoff_ms = 1});
  ASSERT_TRUE(sink);
  auto failed = sink->deliver(test::sample_alert());
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("HTTP 500"), std::string::npos) << failed.error().message;
  EXPECT_EQ(receiver.request_count(), 3);

  auto rejected = sink->deliver(test::sample_alert());  // gets the 400
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().message.find("HTTP 400"), std::string::npos) << rejected.error().message;
  EXPECT_EQ(receiver.request_count(), 4);  // not retried
}

TEST(OutputsWebhook, TimeoutIsCountedAsFailed) {
  FakeReceiver receiver;
  receiver.hold_requests();
  OutputsConfig config;
  config.outputs.push_back({.delivery = {}, .sink = WebhookOutput{.url = receiver.url(), .timeout_ms = 200, .retries = 0}});
  auto outputs = make_outputs(config);
  ASSERT_TRUE(outputs) << outputs.error().message;
  (*outputs)->publish(test::sample_alert());
  ASSERT_TRUE((*outputs)->flush(10s));
  const auto status = (*outputs)->status()[0];
  EXPECT_EQ(status.delivered, 0u);
  EXPECT_EQ(status.failed, 1u);
  EXPECT_NE(status.last_error.find("no answer"), std::string::npos) << status.last_error;
  EXPECT_NE(status.last_error.find(receiver.url()), std::string::npos) << status.last_error;
  receiver.release();
}

TEST(OutputsWebhook, ConnectionRefusedIsCountedAsFailed) {
  auto sink = make_webhook({.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/alerts", .timeout_ms = 500,
                            .retries = 1, .retry_backoff_ms = 1});
  ASSERT_TRUE(sink);
  auto result = sink->deliver(test::sample_alert());
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("cannot connect"), std::string::npos) << result.error().message;
}

TEST(OutputsWebhook, SlowServerFillsTheQueueAndPublishNeverBlocks) {
  FakeReceiver receiver;
  receiver.hold_requests();
  AlertOutputs outputs;
  ASSERT_TRUE(outputs.add({.delivery = {.queue_size = 3}, .sink = WebhookOutput{.url = receiver.url(), .timeout_ms = 20000}}));
  outputs.publish(test::sample_alert("first"));
  ASSERT_TRUE(receiver.wait_requests(1));  // the worker is stuck in the first POST

  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 500; ++i) outputs.publish(test::sample_alert("next"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // the stuck webhook costs publish nothing
  auto status = outputs.status()[0];
  EXPECT_EQ(status.dropped, 497u);  // 3 queued
  EXPECT_EQ(status.delivered, 0u);

  receiver.release();
  ASSERT_TRUE(outputs.flush(20s));
  status = outputs.status()[0];
  EXPECT_EQ(status.delivered, 4u);
  EXPECT_EQ(status.failed, 0u);
  EXPECT_EQ(receiver.request_count(), 4);
}

TEST(OutputsWebhook, StopInterruptsAStuckRequest) {
  FakeReceiver receiver;
  receiver.hold_requests();
  AlertOutputs outputs;
  ASSERT_TRUE(outputs.add({.delivery = {}, .sink = WebhookOutput{.url = receiver.url(), .timeout_ms = 60000, .retries = 5}}));
  outputs.publish(test::sample_alert());
  outputs.publish(test::sample_alert());
  ASSERT_TRUE(receiver.wait_requests(1));
  const auto start = std::chrono::steady_clock::now();
  outputs.stop(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // not the 60 s timeout times 6 attempts
  const auto status = outputs.status()[0];
  EXPECT_EQ(status.failed, 1u);   // the interrupted request
  EXPECT_EQ(status.dropped, 1u);  // the queued one
  EXPECT_EQ(receiver.request_count(), 1);  // no retry after the interrupt
  receiver.release();
}
