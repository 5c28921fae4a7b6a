#pragma once
// The console's memory: alerts, sampled events, measurement-list entries, appraisal
// decisions, rule hit counters and per-container activity series, kept under the agent's
// state directory. Writers only queue (never wait for the disk); one writer thread commits
// batches. Readers query concurrently. SQLite (WAL) is the implementation today; everything
// above this header sees only the interface, so a server database can replace it.
// docs/store.md describes the schema, retention and crash behaviour.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil::store {

// ---- what is written -------------------------------------------------------------------

struct AlertRecord {
  std::int64_t id = 0;       // assigned by the store (ascending in insertion order); 0 when writing
  std::int64_t time_ns = 0;  // wall clock, ns since the Unix epoch
  std::string rule;
  int priority = 4;          // outputs::Priority value: 0 emergency ... 7 debug (smaller = more urgent)
  std::string output;        // the formatted output line
  std::string container_id;  // "" on the host
  std::string container_name;
  std::int64_t pid = 0;
  std::string action;        // "alert", "kill", ...
  std::string json;          // the whole alert as the outputs render it (outputs::alert_to_json)
};

// One sampled or noteworthy runtime event, already rendered (events::render).
struct EventRecord {
  std::int64_t id = 0;
  std::int64_t time_ns = 0;
  std::string type;          // Falco name: "execve", "openat", ...
  std::string container_id;  // "" on the host
  std::int64_t pid = 0;
  std::string process;       // proc.name at the time
  std::string summary;       // one human-readable line
  std::string json;          // the event as `vigil capture --json` prints it
  // Read only: the name set_container_name() gave container_id ("" when none); writers leave it.
  std::string container_name;
};

// One measurement-list entry with the appraisal verdict of the same access.
struct MeasurementRecord {
  std::int64_t id = 0;        // assigned by the store
  std::int64_t index = 0;     // position in the measurement list (0 = boot_aggregate)
  std::int64_t time_ns = 0;
  int pcr = 10;
  std::string template_name;  // "ima-ng", "ima-sig"
  std::string template_hash;  // hex
  std::string file_hash;      // "sha256:hex" / "sm3:hex"
  std::string path;
  std::string verdict;        // "allow" | "deny" | "" (measured only)
};

// One appraisal decision of the integrity pillar (the audit log's decision entries).
struct DecisionRecord {
  std::int64_t id = 0;
  std::int64_t time_ns = 0;
  std::string verdict;  // "allow" | "deny"
  std::string path;
  std::int64_t pid = 0;
  std::string reason;   // why (empty for a plain allow)
  std::string json;     // the audit entry as written to audit.jsonl
};

// Events of one type seen in one container during one 10-second bucket.
struct ActivityCount {
  std::int64_t bucket_start_s = 0;  // Unix seconds, a multiple of kActivityBucketSeconds
  std::string container_id;         // "" on the host
  std::string type;
  std::int64_t count = 0;
};
inline constexpr std::int64_t kActivityBucketSeconds = 10;

// A rule's matches so far, as the rule engine counts them (replaces the stored value).
struct RuleHits {
  std::string rule;
  std::int64_t hits = 0;
  std::int64_t last_hit_ns = 0;  // 0: never
};

// ---- what is read ----------------------------------------------------------------------

// Keyset paging: results are newest first; `before_id` continues after the last id of the
// previous page. `limit` is clamped to [1, 1000].
struct Paging {
  int limit = 100;
  std::optional<std::int64_t> before_id;
};

struct AlertQuery {
  std::optional<std::int64_t> since_ns, until_ns;  // time_ns in [since, until)
  std::vector<std::string> rules;                  // any of these (empty: all)
  std::optional<int> max_priority;                 // priority <= this (at least this urgent)
  std::optional<std::string> container_id;         // "" selects the host
  Paging paging;
};

struct EventQuery {
  std::optional<std::int64_t> since_ns, until_ns;
  std::vector<std::string> types;
  std::optional<std::string> container_id;
  std::optional<std::int64_t> pid;
  std::string text;  // substring of summary (case-insensitive); empty: any
  std::vector<std::string> all_texts;  // more substrings of summary, every one must be there
  Paging paging;
};

struct MeasurementQuery {
  std::optional<std::string> verdict;  // "allow" | "deny" | "" (measured only)
  std::string path_prefix;
  Paging paging;
};

struct DecisionQuery {
  std::optional<std::int64_t> since_ns, until_ns;
  std::optional<std::string> verdict;
  Paging paging;
};

struct ActivityQuery {
  std::string container_id;  // "" selects the host
  std::int64_t since_s = 0, until_s = 0;  // bucket_start_s in [since, until)
};

template <class T>
struct Page {
  std::vector<T> items;                   // newest first
  std::optional<std::int64_t> next_before;  // pass as Paging::before_id for the next page
};

// A container the store has seen activity or alerts from.
struct ContainerSummary {
  std::string container_id;
  std::string container_name;  // last known; may be empty
  std::int64_t first_seen_s = 0, last_seen_s = 0;
  std::int64_t events = 0, alerts = 0;
};

struct StoreStats {
  std::uint64_t queued = 0;      // accepted, not yet committed
  std::uint64_t committed = 0;   // rows committed since open
  std::uint64_t dropped = 0;     // refused because the queue was full
  std::uint64_t batches = 0;     // transactions committed
  std::uint64_t write_errors = 0;
  std::uint64_t deleted_by_retention = 0;
  std::uint64_t file_bytes = 0;  // database plus WAL
  std::string last_error;
};

// ---- configuration and the interface ---------------------------------------------------

struct StoreConfig {
  std::string path;  // the database file, e.g. <state_dir>/console.db
  std::chrono::hours max_age{24 * 7};      // rows older than this are deleted
  std::uint64_t max_size_bytes = 512ull << 20;  // oldest events, then alerts, deleted beyond this
  std::size_t queue_capacity = 100000;      // rows waiting for the writer; more are dropped (counted)
  std::size_t batch_rows = 5000;            // at most this many rows per transaction
  std::chrono::milliseconds flush_interval{200};  // a queued row is committed within about this
  std::chrono::seconds retention_interval{60};    // how often retention runs
};

class Store {
 public:
  virtual ~Store() = default;

  // Writers: queue and return at once (never block on the disk). Safe from any thread.
  // Return false when the row was dropped because the queue is full.
  virtual bool add_alert(AlertRecord alert) = 0;
  virtual bool add_event(EventRecord event) = 0;
  virtual bool add_measurement(MeasurementRecord measurement) = 0;
  virtual bool add_decision(DecisionRecord decision) = 0;
  // Adds `count` to the (bucket, container, type) cell.
  virtual bool add_activity(ActivityCount activity) = 0;
  virtual bool set_rule_hits(RuleHits hits) = 0;
  virtual void set_container_name(std::string container_id, std::string name) = 0;

  // Waits until everything queued before the call is committed; false on timeout.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;

  // Readers: safe from any thread, concurrently with the writer; they see committed rows.
  virtual Result<Page<AlertRecord>> alerts(const AlertQuery& query) const = 0;
  virtual Result<std::optional<AlertRecord>> alert(std::int64_t id) const = 0;
  virtual Result<Page<EventRecord>> events(const EventQuery& query) const = 0;
  virtual Result<Page<MeasurementRecord>> measurements(const MeasurementQuery& query) const = 0;
  virtual Result<Page<DecisionRecord>> decisions(const DecisionQuery& query) const = 0;
  // Oldest bucket first.
  virtual Result<std::vector<ActivityCount>> activity(const ActivityQuery& query) const = 0;
  virtual Result<std::vector<RuleHits>> rule_hits() const = 0;
  // Every container seen, and the host (container_id ""), sorted by id.
  virtual Result<std::vector<ContainerSummary>> containers() const = 0;

  virtual StoreStats stats() const = 0;
  // Runs retention now (the writer also runs it every retention_interval).
  virtual Result<void> enforce_retention() = 0;
};

// Opens (creating when missing) the SQLite store at config.path and starts its writer.
// A file that is not a vigil store, or is damaged, fails with a message naming it.
Result<std::unique_ptr<Store>> open_sqlite_store(const StoreConfig& config);

}  // namespace vigil::store
