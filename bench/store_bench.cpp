// vigil_store_bench: the console store (src/store) against what users do without it, alerts
// and events appended as JSON lines to a file and queries answered by scanning that file.
//
// Inserts: rows/s through Store::add_* until flush() returns (everything committed), against
// fwrite of the same JSON lines with fflush every batch_rows lines (no fsync on either side:
// the store's commits in WAL mode with synchronous=NORMAL do not fsync either).
// Queries: p50/p99 latency of one page (100 rows, newest first) over `runs` runs, the filter
// parameters varying from run to run. The peer scans the whole file (mmap, page cache warm),
// skips lines with a cheap substring test where the filter allows one (what `grep | jq`
// does), parses the remaining lines with nlohmann::json and keeps the newest 100 matches.
//
// Usage: vigil_store_bench [--rows N] [--runs N] [--peer-runs N] [--dir DIR]
#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using vigil::store::AlertRecord;
using vigil::store::EventRecord;

constexpr std::int64_t kBaseNs = 1'700'000'000'000'000'000;
constexpr std::int64_t kMsNs = 1'000'000;
constexpr int kRules = 50, kContainers = 20, kPage = 100;

struct Options {
  std::int64_t rows = 1'000'000;
  int runs = 200;
  int peer_runs = 20;
  std::string dir = "/tmp";
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string container_of(std::int64_t n) { return n % kContainers == 0 ? "" : "ctr" + std::to_string(n % kContainers); }
std::int64_t time_of(std::int64_t n) { return kBaseNs + n * kMsNs; }

// Shaped like outputs::alert_to_json: the same fields the store has columns for, and more.
AlertRecord make_alert(std::int64_t a) {
  AlertRecord alert;
  alert.time_ns = time_of(a);
  alert.rule = "rule_" + std::to_string(a % kRules);
  alert.priority = static_cast<int>(a % 8);
  alert.output = "Shell spawned in a container (user=root process=bash parent=runc cmdline=bash -i pid=" +
                 std::to_string(a) + ")";
  alert.container_id = container_of(a);
  alert.container_name = alert.container_id.empty() ? "" : "web-" + alert.container_id;
  alert.pid = 1000 + a % 30000;
  alert.action = "alert";
  nlohmann::json json = {{"time_ns", alert.time_ns},         {"rule", alert.rule},
                         {"priority", alert.priority},       {"output", alert.output},
                         {"container_id", alert.container_id}, {"container_name", alert.container_name},
                         {"pid", alert.pid},                 {"action", alert.action},
                         {"tags", {"container", "shell", "mitre_execution"}}};
  alert.json = json.dump();
  return alert;
}

EventRecord make_event(std::int64_t e) {
  static const char* const kTypes[] = {"execve", "openat", "connect", "clone", "unlinkat"};
  EventRecord event;
  event.time_ns = time_of(e);
  event.type = kTypes[e % 5];
  event.container_id = container_of(e);
  event.pid = 100 + e % 7000;
  event.process = "proc" + std::to_string(e % 100);
  event.summary = event.process + (e % 1000 == 7 ? " read the NeedLe file " : " opened /var/lib/app/data-") +
                  std::to_string(e);
  nlohmann::json json = {{"time_ns", event.time_ns}, {"type", event.type},       {"container_id", event.container_id},
                         {"pid", event.pid},         {"process", event.process}, {"summary", event.summary}};
  event.json = json.dump();
  return event;
}

// ---- results -------------------------------------------------------------------------------

struct Latency {
  double p50_ms = 0, p99_ms = 0;
  int runs = 0;
};

Latency measure(int runs, const std::function<std::size_t(int run)>& query) {
  std::vector<double> ms;
  std::size_t sink = 0;
  for (int run = 0; run < runs; ++run) {
    const auto start = Clock::now();
    sink += query(run);
    ms.push_back(seconds_since(start) * 1000);
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))]; };
  if (sink == 0) std::fprintf(stderr, "warning: a query returned nothing in every run\n");
  return {at(0.50), at(0.99), runs};
}

struct Row {
  std::string metric, unit;
  double vigil = 0, peer = 0;
  bool higher_is_better = false;
};

void print_table(const std::vector<Row>& rows) {
  std::printf("\n%-40s %14s %14s %10s\n", "metric", "vigil", "peer", "advantage");
  for (const Row& row : rows) {
    const double advantage = row.higher_is_better ? row.vigil / row.peer : row.peer / row.vigil;
    std::printf("%-40s %14.3f %14.3f %9.2fx\n", (row.metric + " (" + row.unit + ")").c_str(), row.vigil, row.peer,
                advantage);
  }
  std::printf("advantage: how many times better vigil's store is (<1: the peer is better)\n");
}

// ---- the peer: JSON lines -------------------------------------------------------------------

double peer_insert(const std::string& path, const std::vector<std::string>& lines, std::size_t batch_rows) {
  const auto start = Clock::now();
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (!file) return 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::fwrite(lines[i].data(), 1, lines[i].size(), file);
    std::fputc('\n', file);
    if ((i + 1) % batch_rows == 0) std::fflush(file);
  }
  std::fflush(file);
  std::fclose(file);
  return static_cast<double>(lines.size()) / seconds_since(start);
}

// The file mapped for one query run.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st{};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<std::size_t>(st.st_size);
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      data_ = data == MAP_FAILED ? nullptr : static_cast<const char*>(data);
    }
    if (fd >= 0) ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view text() const { return data_ ? std::string_view(data_, size_) : std::string_view(); }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// The newest kPage lines that contain one of `candidates` (any line when empty) and satisfy
// `matches` once parsed.
std::size_t peer_scan(const std::string& path, const std::vector<std::string>& candidates, bool ignore_case,
                      const std::function<bool(const nlohmann::json&)>& matches) {
  MappedFile file(path);
  std::string_view text = file.text();
  std::deque<nlohmann::json> newest;
  std::string line_copy;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    bool candidate = candidates.empty();
    for (const std::string& needle : candidates) {
      if (ignore_case) {
        line_copy.assign(line);
        candidate = candidate || ::strcasestr(line_copy.c_str(), needle.c_str()) != nullptr;
      } else {
        candidate = candidate || line.find(needle) != std::string_view::npos;
      }
    }
    if (!candidate) continue;
    nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !matches(json)) continue;
    newest.push_back(std::move(json));
    if (newest.size() > static_cast<std::size_t>(kPage)) newest.pop_front();
  }
  return newest.size();
}

// The page of kPage lines before line number `before` (1-based, as ids are): counting lines.
std::size_t peer_deep_page(const std::string& path, std::int64_t before) {
  MappedFile file(path);
  std::string_view text = file.text();
  std::int64_t line = 1;
  std::size_t parsed = 0;
  while (!text.empty() && line < before) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    if (line >= before - kPage) {
      parsed += nlohmann::json::parse(text.substr(0, end), nullptr, false).is_discarded() ? 0 : 1;
    }
    text.remove_prefix(std::min(end + 1, text.size()));
    ++line;
  }
  return parsed;
}

// ---- vigil ---------------------------------------------------------------------------------

template <class Record, class Add>
double vigil_insert(vigil::store::Store& store, std::vector<Record> records, Add add) {
  const auto start = Clock::now();
  const std::size_t count = records.size();
  std::size_t dropped = 0;
  for (Record& record : records) dropped += add(std::move(record)) ? 0 : 1;
  if (!store.flush(std::chrono::minutes(10))) std::fprintf(stderr, "warning: flush timed out\n");
  if (dropped) std::fprintf(stderr, "warning: %zu rows dropped\n", dropped);
  return static_cast<double>(count - dropped) / seconds_since(start);
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--rows") options.rows = std::stoll(value);
    else if (flag == "--runs") options.runs = std::stoi(value);
    else if (flag == "--peer-runs") options.peer_runs = std::stoi(value);
    else if (flag == "--dir") options.dir = value;
    else return false;
  }
  return argc % 2 == 1 && options.rows >= 2000 && options.runs > 0 && options.peer_runs > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: %s [--rows N>=2000] [--runs N] [--peer-runs N] [--dir DIR]\n", argv[0]);
    return 2;
  }
  const std::int64_t alerts = options.rows / 2, events = options.rows - alerts;
  const std::string db_path = options.dir + "/bench-store.db";
  const std::string alerts_path = options.dir + "/bench-alerts.jsonl", events_path = options.dir + "/bench-events.jsonl";
  for (const auto& path : {db_path, db_path + "-wal", db_path + "-shm", alerts_path, events_path}) {
    std::filesystem::remove(path);
  }

  std::printf("# %lld alerts and %lld events; queries: %d runs (vigil), %d runs (peer); page %d rows\n",
              static_cast<long long>(alerts), static_cast<long long>(events), options.runs, options.peer_runs, kPage);
  std::vector<AlertRecord> alert_records;
  std::vector<EventRecord> event_records;
  std::vector<std::string> alert_lines, event_lines;
  for (std::int64_t n = 0; n < alerts; ++n) {
    alert_records.push_back(make_alert(n));
    alert_lines.push_back(alert_records.back().json);
  }
  for (std::int64_t n = 0; n < events; ++n) {
    event_records.push_back(make_event(n));
    event_lines.push_back(event_records.back().json);
  }

  vigil::store::StoreConfig config;
  config.path = db_path;
  config.max_age = std::chrono::hours(24 * 365 * 200);
  config.max_size_bytes = 64ull << 30;
  config.queue_capacity = static_cast<std::size_t>(options.rows);  // the bench measures commit speed, not drops
  auto opened = vigil::store::open_sqlite_store(config);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  vigil::store::Store& store = **opened;

  std::vector<Row> rows;
  const double vigil_alert_rate =
      vigil_insert(store, std::move(alert_records), [&](AlertRecord r) { return store.add_alert(std::move(r)); });
  const double vigil_event_rate =
      vigil_insert(store, std::move(event_records), [&](EventRecord r) { return store.add_event(std::move(r)); });
  rows.push_back({"insert alerts", "rows/s", vigil_alert_rate, peer_insert(alerts_path, alert_lines, config.batch_rows), true});
  rows.push_back({"insert events", "rows/s", vigil_event_rate, peer_insert(events_path, event_lines, config.batch_rows), true});

  auto add_latency = [&](const std::string& name, const std::function<std::size_t(int)>& vigil_query,
                         const std::function<std::size_t(int)>& peer_query) {
    const Latency v = measure(options.runs, vigil_query);
    const Latency p = measure(options.peer_runs, peer_query);
    rows.push_back({name + " p50", "ms", v.p50_ms, p.p50_ms, false});
    rows.push_back({name + " p99", "ms", v.p99_ms, p.p99_ms, false});
  };
  auto page_size = [](const auto& page) { return page ? page->items.size() : 0; };

  add_latency(
      "alerts by rule",
      [&](int run) {
        vigil::store::AlertQuery query;
        query.rules = {"rule_" + std::to_string(run % kRules)};
        return page_size(store.alerts(query));
      },
      [&](int run) {
        const std::string rule = "rule_" + std::to_string(run % kRules);
        return peer_scan(alerts_path, {"\"rule\":\"" + rule + "\""}, false,
                         [&](const nlohmann::json& j) { return j.value("rule", "") == rule; });
      });
  add_latency(
      "alerts priority<=1",
      [&](int run) {
        vigil::store::AlertQuery query;
        query.max_priority = run % 2;
        return page_size(store.alerts(query));
      },
      [&](int run) {
        const int max_priority = run % 2;
        std::vector<std::string> candidates;
        for (int p = 0; p <= max_priority; ++p) candidates.push_back("\"priority\":" + std::to_string(p) + ",");
        return peer_scan(alerts_path, candidates, false,
                         [&](const nlohmann::json& j) { return j.value("priority", 99) <= max_priority; });
      });
  // A tenth of the time span, moving with the run, in one container.
  auto window = [&](int run) {
    const std::int64_t span = alerts / 10;
    const std::int64_t start = (run * span / 3) % (alerts - span);
    return std::pair{time_of(start), time_of(start + span)};
  };
  add_latency(
      "alerts container+time range",
      [&](int run) {
        vigil::store::AlertQuery query;
        query.container_id = "ctr" + std::to_string(1 + run % (kContainers - 1));
        std::tie(query.since_ns, query.until_ns) = window(run);
        return page_size(store.alerts(query));
      },
      [&](int run) {
        const std::string container = "ctr" + std::to_string(1 + run % (kContainers - 1));
        const auto [since, until] = window(run);
        return peer_scan(alerts_path, {"\"container_id\":\"" + container + "\""}, false, [&](const nlohmann::json& j) {
          const std::int64_t t = j.value("time_ns", std::int64_t{0});
          return j.value("container_id", "") == container && t >= since && t < until;
        });
      });
  add_latency(
      "events text search",
      [&](int run) {
        vigil::store::EventQuery query;
        query.text = run % 2 ? "needle" : "NEEDLE FILE";
        return page_size(store.events(query));
      },
      [&](int run) {
        const std::string text = run % 2 ? "needle" : "NEEDLE FILE";
        return peer_scan(events_path, {text}, true, [&](const nlohmann::json& j) {
          const std::string summary = j.value("summary", "");
          return ::strcasestr(summary.c_str(), text.c_str()) != nullptr;
        });
      });
  add_latency(
      "alerts deep page (middle)",
      [&](int run) {
        vigil::store::AlertQuery query;
        query.paging.before_id = alerts / 2 + run;
        return page_size(store.alerts(query));
      },
      [&](int run) { return peer_deep_page(alerts_path, alerts / 2 + run); });

  print_table(rows);
  const vigil::store::StoreStats stats = store.stats();
  std::printf("\nfiles: store %.1f MB (database + WAL), JSON lines %.1f MB; store batches %llu, dropped %llu\n",
              static_cast<double>(stats.file_bytes) / 1e6,
              static_cast<double>(std::filesystem::file_size(alerts_path) + std::filesystem::file_size(events_path)) / 1e6,
              static_cast<unsigned long long>(stats.batches), static_cast<unsigned long long>(stats.dropped));
  opened->reset();
  for (const auto& path : {db_path, db_path + "-wal", db_path + "-shm", alerts_path, events_path}) {
    std::filesystem::remove(path);
  }
  return 0;
}
