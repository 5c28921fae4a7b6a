// The SQLite Store: a WriteQueue in front of one writer thread (BatchWriter, retention), and
// a ReaderPool behind the queries.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <thread>

#include "store/batch_writer.h"
#include "store/reader_pool.h"
#include "store/retention.h"
#include "store/sqlite_queries.h"
#include "store/sqlite_schema.h"
#include "store/store.h"
#include "store/write_queue.h"

namespace vigil::store {
namespace {

using Clock = std::chrono::steady_clock;

// The destructor commits what is queued for at most this long, then counts the rest dropped.
constexpr auto kDrainTimeout = std::chrono::seconds(2);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// now - max_age without overflow, for any max_age the configuration can hold.
std::int64_t age_cutoff_ns(std::chrono::hours max_age) {
  constexpr std::int64_t kNsPerHour = 3'600'000'000'000;
  const std::int64_t hours = max_age.count();
  const std::int64_t now = std::max<std::int64_t>(now_ns(), 0);
  if (hours <= 0) return now;
  // now >= 0, so now minus anything up to INT64_MAX cannot overflow.
  if (hours > std::numeric_limits<std::int64_t>::max() / kNsPerHour) return std::numeric_limits<std::int64_t>::min();
  return now - hours * kNsPerHour;
}

// Signals are the agent's main thread's business.
void block_signals() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

template <class T>
Result<T> on_reader(ReaderPool& readers, auto&& query) {
  auto lease = readers.take();
  if (!lease) return std::unexpected(lease.error());
  return query(**lease);
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const StoreConfig& config, Database writer_db, BatchWriter batch_writer)
      : config_(config),
        queue_(config.queue_capacity, config.batch_rows, config.flush_interval),
        writer_db_(std::move(writer_db)),
        batch_writer_(std::move(batch_writer)),
        readers_(config.path) {
    thread_ = std::thread([this] { run(); });  // after every member it reads is set
  }

  ~SqliteStore() override {
    queue_.close();
    if (thread_.joinable()) thread_.join();
  }

  bool add_alert(AlertRecord alert) override { return queue_.push(std::move(alert)); }
  bool add_event(EventRecord event) override { return queue_.push(std::move(event)); }
  bool add_measurement(MeasurementRecord measurement) override { return queue_.push(std::move(measurement)); }
  bool add_decision(DecisionRecord decision) override { return queue_.push(std::move(decision)); }
  bool add_activity(ActivityCount activity) override {
    // Floor to the bucket, also for times before 1970, so one cell collects its 10 seconds
    // (the clamp keeps a nonsense time from overflowing).
    std::int64_t& start = activity.bucket_start_s;
    start = std::max(start, std::numeric_limits<std::int64_t>::min() + kActivityBucketSeconds);
    const std::int64_t offset = start % kActivityBucketSeconds;
    start -= offset < 0 ? offset + kActivityBucketSeconds : offset;
    return queue_.push(std::move(activity));
  }
  bool set_rule_hits(RuleHits hits) override { return queue_.push(std::move(hits)); }
  void set_container_name(std::string container_id, std::string name) override {
    (void)queue_.push(ContainerName{std::move(container_id), std::move(name)});
  }

  bool flush(std::chrono::milliseconds timeout) override { return queue_.wait_written(timeout); }

  Result<Page<AlertRecord>> alerts(const AlertQuery& query) const override {
    return on_reader<Page<AlertRecord>>(readers_, [&](Database& db) { return query_alerts(db, query); });
  }
  Result<std::optional<AlertRecord>> alert(std::int64_t id) const override {
    return on_reader<std::optional<AlertRecord>>(readers_, [&](Database& db) { return query_alert(db, id); });
  }
  Result<Page<EventRecord>> events(const EventQuery& query) const override {
    return on_reader<Page<EventRecord>>(readers_, [&](Database& db) { return query_events(db, query); });
  }
  Result<Page<MeasurementRecord>> measurements(const MeasurementQuery& query) const override {
    return on_reader<Page<MeasurementRecord>>(readers_, [&](Database& db) { return query_measurements(db, query); });
  }
  Result<Page<DecisionRecord>> decisions(const DecisionQuery& query) const override {
    return on_reader<Page<DecisionRecord>>(readers_, [&](Database& db) { return query_decisions(db, query); });
  }
  Result<std::vector<ActivityCount>> activity(const ActivityQuery& query) const override {
    return on_reader<std::vector<ActivityCount>>(readers_, [&](Database& db) { return query_activity(db, query); });
  }
  Result<std::vector<RuleHits>> rule_hits() const override {
    return on_reader<std::vector<RuleHits>>(readers_, [](Database& db) { return query_rule_hits(db); });
  }
  Result<std::vector<ContainerSummary>> containers() const override {
    return on_reader<std::vector<ContainerSummary>>(readers_, [](Database& db) { return query_containers(db); });
  }

  StoreStats stats() const override {
    const QueueCounters counters = queue_.counters();
    StoreStats stats;
    stats.queued = counters.queued;
    stats.committed = counters.committed;
    stats.dropped = counters.dropped;
    stats.batches = counters.batches;
    stats.write_errors = counters.write_errors;
    stats.last_error = counters.last_error;
    stats.deleted_by_retention = deleted_by_retention_.load();
    stats.file_bytes = store_file_bytes(config_.path);
    std::lock_guard lock(retention_error_mutex_);
    if (!retention_error_.empty()) stats.last_error = retention_error_;
    return stats;
  }

  Result<void> enforce_retention() override {
    std::lock_guard lock(writer_mutex_);
    return retain();
  }

 private:
  // Called with writer_mutex_ held.
  Result<void> retain() {
    auto deleted = store::enforce_retention(writer_db_, {age_cutoff_ns(config_.max_age), config_.max_size_bytes});
    std::lock_guard lock(retention_error_mutex_);
    if (!deleted) {
      retention_error_ = deleted.error().message;
      return std::unexpected(deleted.error());
    }
    retention_error_.clear();
    deleted_by_retention_ += *deleted;
    return {};
  }

  void run() {
    block_signals();
    const auto retention_every = std::max<Clock::duration>(config_.retention_interval, std::chrono::seconds(1));
    auto next_retention = Clock::now();  // once at start: the agent may have been down for long
    for (;;) {
      std::vector<WriteItem> batch = queue_.take_batch(next_retention);
      if (!batch.empty()) {
        commit(batch);
      } else if (queue_.drained() && stopping()) {
        return;
      }
      if (Clock::now() >= next_retention) {
        std::lock_guard lock(writer_mutex_);
        (void)retain();  // the error is in stats().last_error
        next_retention = Clock::now() + retention_every;
      }
      if (stopping() && Clock::now() >= *drain_deadline_) {
        queue_.abandon();
        return;
      }
    }
  }

  void commit(const std::vector<WriteItem>& batch) {
    std::lock_guard lock(writer_mutex_);
    auto committed = batch_writer_.commit(writer_db_, batch);
    queue_.batch_done(batch.size(), committed ? nullptr : &committed.error().message);
  }

  // The queue is closed only by the destructor; the first time the writer sees it, the
  // drain deadline starts.
  bool stopping() {
    if (!drain_deadline_ && queue_.closed()) drain_deadline_ = Clock::now() + kDrainTimeout;
    return drain_deadline_.has_value();
  }

  const StoreConfig config_;
  WriteQueue queue_;
  std::mutex writer_mutex_;  // writer_db_ and batch_writer_: the writer thread and enforce_retention()
  Database writer_db_;
  BatchWriter batch_writer_;
  mutable ReaderPool readers_;
  std::atomic<std::uint64_t> deleted_by_retention_{0};
  mutable std::mutex retention_error_mutex_;
  std::string retention_error_;
  std::optional<Clock::time_point> drain_deadline_;  // writer thread only
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const StoreConfig& config) {
  if (config.path.empty()) return fail("store: no database path configured");
  auto db = Database::open(config.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  if (auto ready = prepare_schema(*db); !ready) return std::unexpected(ready.error());
  // The writer's page cache holds the index pages every insert touches (64 MiB instead of
  // SQLite's 2 MiB); fewer, larger checkpoints cost fewer fsyncs.
  if (auto tuned = db->exec("PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4000"); !tuned) {
    return std::unexpected(tuned.error());
  }
  auto writer = BatchWriter::create(*db);
  if (!writer) return std::unexpected(writer.error());
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(config, std::move(*db), std::move(*writer)));
}

}  // namespace vigil::store
