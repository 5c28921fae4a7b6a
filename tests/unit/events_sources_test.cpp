// Event sources: a replayed capture and an in-memory source feed a consumer exactly the events
// that were recorded, in order, counting per type and per decode error; a truncated capture
// still delivers everything before the cut, then reports it.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "events/capture_file.h"
#include "events/memory_source.h"
#include "events/replay_source.h"
#include "support/test_support.h"
#include "unit/events_test_records.h"

namespace {

using namespace std::chrono_literals;
using vigil::events::Event;
using vigil::events::EventType;
using Bytes = std::vector<std::uint8_t>;

// A consumer like the process table will be: follows pids through fork, exec and exit.
struct ProcessTracker final : vigil::events::EventHandler {
  std::map<std::uint32_t, std::string> running;  // pid -> program
  std::vector<std::string> log;
  std::vector<std::string> errors;
  std::vector<std::size_t> raw_sizes;

  void on_event(const Event& event, std::span<const std::uint8_t> raw) override {
    raw_sizes.push_back(raw.size());
    log.push_back(std::string(vigil::events::event_type_name(event.type)) + ":" + std::to_string(event.task.pid));
    if (const auto* fork = event.fork()) running[fork->child_pid] = running[event.task.pid];
    if (const auto* exec = event.exec()) running[event.task.pid] = std::string(exec->filename);
    if (event.exit()) running.erase(event.task.pid);
  }
  void on_decode_error(const vigil::events::DecodeError& error, std::span<const std::uint8_t>) override {
    errors.push_back(vigil::events::describe(error));
  }
};

std::vector<Bytes> session() {
  auto bad_comm = vigil::test::make_fork(1, 2);
  std::memset(bad_comm.header.comm, 'x', sizeof bad_comm.header.comm);
  return {
      vigil::test::record_bytes(vigil::test::make_fork(100, 101)),
      vigil::test::record_bytes(vigil::test::make_exec(101, "/usr/bin/curl", {"curl", "example.com"})),
      vigil::test::record_bytes(vigil::test::make_connect_v4(101, 3, 93, 184, 216, 34, 80)),
      Bytes{0xde, 0xad},  // garbage: a decode error, not a source error
      vigil::test::record_bytes(bad_comm),
      vigil::test::record_bytes(vigil::test::make_exec(100, "/bin/sleep", {"sleep", "1"})),
      vigil::test::record_bytes(vigil::test::make_exit(101, 0)),
  };
}

void write_capture(const std::string& path, const std::vector<Bytes>& records) {
  auto writer = vigil::events::CaptureWriter::create(path, vigil::events::TimeAnchor{1000, 2000});
  ASSERT_TRUE(writer) << writer.error().message;
  for (const auto& record : records) ASSERT_TRUE(writer->write(record));
  ASSERT_TRUE(writer->close());
}

// Reads a source to its end; returns the number of next_batch calls.
std::size_t drain(vigil::events::EventSource& source, vigil::events::EventHandler& handler) {
  std::size_t calls = 0;
  for (;;) {
    auto batch = source.next_batch(0ms, handler);
    ++calls;
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch || batch->end) return calls;
    if (calls > 1000) {
      ADD_FAILURE() << "source never ended";
      return calls;
    }
  }
}

void expect_session_seen(const ProcessTracker& tracker, const vigil::events::CounterSnapshot& counters) {
  EXPECT_EQ(tracker.log, (std::vector<std::string>{"fork:100", "procexec:101", "connect:101", "procexec:100",
                                                   "procexit:101"}));
  EXPECT_EQ(tracker.running, (std::map<std::uint32_t, std::string>{{100, "/bin/sleep"}}));
  ASSERT_EQ(tracker.errors.size(), 2u);
  EXPECT_NE(tracker.errors[0].find("2 bytes"), std::string::npos) << tracker.errors[0];
  EXPECT_NE(tracker.errors[1].find("header.comm"), std::string::npos) << tracker.errors[1];
  EXPECT_EQ(tracker.raw_sizes[1], sizeof(vigil_exec_event));
  EXPECT_EQ(counters.records, 7u);
  EXPECT_EQ(counters.events, 5u);
  EXPECT_EQ(counters.events_by_type[static_cast<std::size_t>(EventType::procexec)], 2u);
  EXPECT_EQ(counters.events_by_type[static_cast<std::size_t>(EventType::fork)], 1u);
  EXPECT_EQ(counters.events_by_type[static_cast<std::size_t>(EventType::connect)], 1u);
  EXPECT_EQ(counters.events_by_type[static_cast<std::size_t>(EventType::openat)], 0u);
  EXPECT_EQ(counters.decode_errors, 2u);
  using vigil::events::DecodeErrorReason;
  EXPECT_EQ(counters.decode_errors_by_reason[static_cast<std::size_t>(DecodeErrorReason::short_record)], 1u);
  EXPECT_EQ(counters.decode_errors_by_reason[static_cast<std::size_t>(DecodeErrorReason::unterminated_string)], 1u);
  EXPECT_EQ(counters.drops, 0u);
  EXPECT_FALSE(counters.ring_buffer_fill);
}

TEST(EventsSources, ReplayFeedsAConsumerWhatWasRecorded) {
  vigil::test::TempDir dir;
  write_capture(dir / "session.vcap", session());
  auto source = vigil::events::ReplaySource::open(dir / "session.vcap");
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_EQ(source->time_anchor().boot_ns, 1000u);
  EXPECT_EQ(source->time_anchor().wall_ns, 2000);
  EXPECT_EQ(source->wait_fd(), -1);
  ProcessTracker tracker;
  drain(*source, tracker);
  expect_session_seen(tracker, source->counters());
  // At the end it stays at the end.
  auto batch = source->next_batch(0ms, tracker);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->end);
  EXPECT_EQ(batch->records, 0u);
}

TEST(EventsSources, MemorySourceBehavesLikeReplay) {
  vigil::events::MemorySource source(session(), vigil::events::TimeAnchor{1, 2}, 2);
  ProcessTracker tracker;
  EXPECT_EQ(drain(source, tracker), 4u);  // 7 records, 2 per batch
  expect_session_seen(tracker, source.counters());
  EXPECT_EQ(source.time_anchor().wall_ns, 2);
}

TEST(EventsSources, ReplayBatchesAreBounded) {
  vigil::test::TempDir dir;
  std::vector<Bytes> records(10, vigil::test::record_bytes(vigil::test::make_fork(1, 2)));
  write_capture(dir / "ten.vcap", records);
  auto reader = vigil::events::CaptureReader::open(dir / "ten.vcap");
  ASSERT_TRUE(reader);
  vigil::events::ReplaySource source(std::move(*reader), 4);
  std::vector<std::size_t> sizes;
  for (;;) {
    auto batch = vigil::events::next_batch(source, 0ms, [](const Event&, std::span<const std::uint8_t>) {});
    ASSERT_TRUE(batch);
    sizes.push_back(batch->records);
    if (batch->end) break;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{4, 4, 2}));
  EXPECT_EQ(source.counters().events, 10u);
}

TEST(EventsSources, TruncatedCaptureDeliversThenReports) {
  vigil::test::TempDir dir;
  Bytes file = vigil::events::encode_capture_header(vigil::events::capture_header_for_this_host({}));
  const auto records = session();
  for (const auto& record : records) vigil::events::append_capture_record(file, record);
  file.resize(file.size() - 5);  // the exit record is cut
  auto reader = vigil::events::CaptureReader::from_memory(file);
  ASSERT_TRUE(reader);
  vigil::events::ReplaySource source(std::move(*reader));
  ProcessTracker tracker;
  auto first = source.next_batch(0ms, tracker);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->records, 6u);
  EXPECT_FALSE(first->end);
  auto second = source.next_batch(0ms, tracker);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("truncated"), std::string::npos);
  auto third = source.next_batch(0ms, tracker);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->end);
  EXPECT_EQ(tracker.log.size(), 4u);  // everything but the cut exit
  EXPECT_EQ(tracker.running.count(101), 1u);
}

TEST(EventsSources, LambdaHelperSeesRawBytes) {
  vigil::events::MemorySource source({vigil::test::record_bytes(vigil::test::make_openat(5, "/etc/hosts", 3))});
  std::string path;
  std::size_t raw_size = 0;
  auto batch = vigil::events::next_batch(source, 0ms, [&](const Event& event, std::span<const std::uint8_t> raw) {
    path = std::string(event.file()->path);
    raw_size = raw.size();
  });
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->end);
  EXPECT_EQ(path, "/etc/hosts");
  EXPECT_EQ(raw_size, sizeof(vigil_syscall_file_event));
}

}  // namespace
