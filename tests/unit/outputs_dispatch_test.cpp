#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "outputs/outputs.h"
#include "outputs/stdout_sink.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;
using namespace std::chrono_literals;

namespace {

// What a FakeSink saw; shared with the test because AlertOutputs owns the sink.
struct FakeState {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> rules;  // in delivery order
  std::vector<std::string> hostnames;
  bool hold = false;       // deliver() waits while true
  int entered = 0;         // deliver() calls started
  bool interrupted = false;
  std::string fail_with;   // non-empty: deliver() returns this error
  bool throw_instead = false;

  void release() {
    {
      std::lock_guard lock(mutex);
      hold = false;
    }
    changed.notify_all();
  }
  bool wait_entered(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return entered >= n; });
  }
};

class FakeSink final : public AlertSink {
 public:
  explicit FakeSink(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  std::string name() const override { return "fake"; }
  Result<void> deliver(const Alert& alert) override {
    std::unique_lock lock(state_->mutex);
    ++state_->entered;
    state_->changed.notify_all();
    state_->changed.wait(lock, [&] { return !state_->hold || state_->interrupted; });
    if (state_->throw_instead) throw std::runtime_error("sink blew up");
    if (!state_->fail_with.empty()) return fail(state_->fail_with);
    state_->rules.push_back(alert.rule);
    state_->hostnames.push_back(alert.hostname);
    return {};
  }
  void interrupt() override {
    {
      std::lock_guard lock(state_->mutex);
      state_->interrupted = true;
    }
    state_->changed.notify_all();
  }

 private:
  std::shared_ptr<FakeState> state_;
};

}  // namespace

TEST(OutputsDispatch, DeliversInOrderAndFillsHostname) {
  auto state = std::make_shared<FakeState>();
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(state), DeliveryOptions{});
  for (int i = 0; i < 20; ++i) {
    auto alert = test::sample_alert("r" + std::to_string(i));
    if (i == 0) alert.hostname.clear();
    outputs.publish(alert);
  }
  ASSERT_TRUE(outputs.flush(5s));
  const auto status = outputs.status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].name, "fake");
  EXPECT_EQ(status[0].delivered, 20u);
  EXPECT_EQ(status[0].dropped, 0u);
  EXPECT_EQ(status[0].failed, 0u);
  std::lock_guard lock(state->mutex);
  ASSERT_EQ(state->rules.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(state->rules[i], "r" + std::to_string(i));
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(state->hostnames[0], host);  // filled in
  EXPECT_EQ(state->hostnames[1], "node-1");  // kept
}

TEST(OutputsDispatch, MinPriorityFiltersPerSink) {
  auto all = std::make_shared<FakeState>();
  auto urgent = std::make_shared<FakeState>();
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(all), DeliveryOptions{});
  outputs.add(std::make_unique<FakeSink>(urgent), DeliveryOptions{.min_priority = Priority::error});
  outputs.publish(test::sample_alert("debug", Priority::debug));
  outputs.publish(test::sample_alert("warning", Priority::warning));
  outputs.publish(test::sample_alert("error", Priority::error));
  outputs.publish(test::sample_alert("critical", Priority::critical));
  ASSERT_TRUE(outputs.flush(5s));
  EXPECT_EQ(all->rules, (std::vector<std::string>{"debug", "warning", "error", "critical"}));
  EXPECT_EQ(urgent->rules, (std::vector<std::string>{"error", "critical"}));
  const auto status = outputs.status();
  EXPECT_EQ(status[0].delivered, 4u);
  EXPECT_EQ(status[1].delivered, 2u);
  EXPECT_EQ(status[1].dropped, 0u);  // filtered is not dropped
}

TEST(OutputsDispatch, FullQueueCountsDropsAndPublishDoesNotWait) {
  auto state = std::make_shared<FakeState>();
  state->hold = true;
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(state), DeliveryOptions{.queue_size = 4});
  outputs.publish(test::sample_alert("first"));
  ASSERT_TRUE(state->wait_entered(1));  // the worker holds "first"; the queue is empty

  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) outputs.publish(test::sample_alert("more"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // 1000 publishes against a stuck sink; generous bound for ASan on a loaded machine.
  EXPECT_LT(elapsed, 1s);
  EXPECT_FALSE(outputs.flush(50ms));  // still stuck

  auto status = outputs.status()[0];
  EXPECT_EQ(status.delivered, 0u);
  EXPECT_EQ(status.dropped, 996u);  // 4 fit in the queue

  state->release();
  ASSERT_TRUE(outputs.flush(5s));
  status = outputs.status()[0];
  EXPECT_EQ(status.delivered, 5u);
  EXPECT_EQ(status.dropped, 996u);
  EXPECT_EQ(status.delivered + status.dropped, 1001u);  // every alert accounted for
}

TEST(OutputsDispatch, OneStuckSinkDoesNotHoldUpAnother) {
  auto stuck = std::make_shared<FakeState>();
  stuck->hold = true;
  auto fine = std::make_shared<FakeState>();
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(stuck), DeliveryOptions{.queue_size = 2});
  outputs.add(std::make_unique<FakeSink>(fine), DeliveryOptions{});
  for (int i = 0; i < 10; ++i) outputs.publish(test::sample_alert());
  {
    std::unique_lock lock(fine->mutex);
    ASSERT_TRUE(fine->changed.wait_for(lock, 5s, [&] { return fine->rules.size() == 10; }));
  }
  // The sink records an alert before the dispatcher counts it as delivered: wait for the count.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (outputs.status()[1].delivered < 10u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(outputs.status()[1].delivered, 10u);
  EXPECT_EQ(outputs.status()[0].delivered, 0u);  // the stuck one still holds its first
  stuck->release();
}

TEST(OutputsDispatch, FailuresAndExceptionsAreCountedWithTheLastError) {
  auto state = std::make_shared<FakeState>();
  state->fail_with = "disk on fire";
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(state), DeliveryOptions{});
  outputs.publish(test::sample_alert());
  outputs.publish(test::sample_alert());
  ASSERT_TRUE(outputs.flush(5s));
  auto status = outputs.status()[0];
  EXPECT_EQ(status.failed, 2u);
  EXPECT_EQ(status.delivered, 0u);
  EXPECT_EQ(status.last_error, "disk on fire");

  {
    std::lock_guard lock(state->mutex);
    state->throw_instead = true;
  }
  outputs.publish(test::sample_alert());
  ASSERT_TRUE(outputs.flush(5s));
  status = outputs.status()[0];
  EXPECT_EQ(status.failed, 3u);
  EXPECT_EQ(status.last_error, "exception: sink blew up");
}

TEST(OutputsDispatch, StopInterruptsAndCountsWhatIsLeftAsDropped) {
  auto state = std::make_shared<FakeState>();
  state->hold = true;
  AlertOutputs outputs;
  outputs.add(std::make_unique<FakeSink>(state), DeliveryOptions{.queue_size = 10});
  for (int i = 0; i < 5; ++i) outputs.publish(test::sample_alert());
  ASSERT_TRUE(state->wait_entered(1));
  const auto start = std::chrono::steady_clock::now();
  outputs.stop(0ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(state->interrupted);
  outputs.publish(test::sample_alert());  // after stop: dropped, not lost
  auto status = outputs.status()[0];
  EXPECT_EQ(status.delivered, 1u);  // the interrupted one finished (the fake delivers anyway)
  EXPECT_EQ(status.dropped, 5u);    // 4 queued + 1 after stop
  outputs.stop(0ms);                // idempotent
  EXPECT_EQ(outputs.status()[0].dropped, 5u);
}

TEST(OutputsDispatch, WriteToAClosedPipeFailsWithoutKillingTheProcess) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ::close(pipe_fds[0]);  // nobody reads: the write raises SIGPIPE, which the worker blocks
  {
    AlertOutputs outputs;
    outputs.add(std::make_unique<StdoutSink>(LineFormat::json, pipe_fds[1]), DeliveryOptions{});
    outputs.publish(test::sample_alert());
    ASSERT_TRUE(outputs.flush(5s));
    const auto status = outputs.status()[0];
    EXPECT_EQ(status.failed, 1u);
    EXPECT_NE(status.last_error.find("Broken pipe"), std::string::npos) << status.last_error;
  }
  ::close(pipe_fds[1]);
}

TEST(OutputsDispatch, MakeOutputsNamesTheFailingOutput) {
  OutputsConfig config;
  config.outputs.resize(2);  // (push_back of designated temporaries trips g++ 12's -Wmaybe-uninitialized on variant)
  config.outputs[0].sink = StdoutOutput{};
  config.outputs[1].sink = FileOutput{.path = "/nonexistent-dir/x/alerts.jsonl"};
  auto outputs = make_outputs(config);
  ASSERT_FALSE(outputs);
  EXPECT_NE(outputs.error().message.find("outputs[1]: open /nonexistent-dir/x/alerts.jsonl"), std::string::npos)
      << outputs.error().message;
}
