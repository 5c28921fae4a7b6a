// The SQLite store through its public interface (src/store/store.h).
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <set>
#include <thread>

#include "store/store.h"
#include "support/test_support.h"

namespace vigil::store {
namespace {

using namespace std::chrono_literals;

// Times far from "now" and a retention age that keeps them, so the retention run at open
// never deletes test rows unless a test asks for it.
constexpr std::int64_t kBaseNs = 1'700'000'000'000'000'000;
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::chrono::hours kKeepForever{24 * 365 * 200};

StoreConfig config_in(const test::TempDir& dir) {
  StoreConfig config;
  config.path = dir / "console.db";
  config.max_age = kKeepForever;
  return config;
}

std::unique_ptr<Store> open_store(const StoreConfig& config) {
  auto store = open_sqlite_store(config);
  if (!store) ADD_FAILURE() << store.error().message;
  return store ? std::move(*store) : nullptr;
}

AlertRecord make_alert(std::int64_t n, std::string rule = "Terminal shell", int priority = 4,
                       std::string container = "") {
  AlertRecord alert;
  alert.time_ns = kBaseNs + n * kSecondNs;
  alert.rule = std::move(rule);
  alert.priority = priority;
  alert.output = "alert " + std::to_string(n);
  alert.container_id = std::move(container);
  alert.container_name = alert.container_id.empty() ? "" : "name-" + alert.container_id;
  alert.pid = 1000 + n;
  alert.action = "alert";
  alert.json = R"({"n":)" + std::to_string(n) + "}";
  return alert;
}

EventRecord make_event(std::int64_t n, std::string type = "execve", std::string summary = "") {
  EventRecord event;
  event.time_ns = kBaseNs + n * kSecondNs;
  event.type = std::move(type);
  event.pid = 2000 + n;
  event.process = "bash";
  event.summary = summary.empty() ? "event " + std::to_string(n) : std::move(summary);
  event.json = R"({"e":)" + std::to_string(n) + "}";
  return event;
}

template <class T>
std::vector<std::int64_t> ids_of(const Page<T>& page) {
  std::vector<std::int64_t> ids;
  for (const auto& item : page.items) ids.push_back(item.id);
  return ids;
}

template <class T>
std::vector<std::string> outputs_of(const Page<T>& page) {
  std::vector<std::string> outputs;
  for (const auto& item : page.items) outputs.push_back(item.output);
  return outputs;
}

// ---- each record type round trip ----------------------------------------------------------

TEST(StoreRecords, AlertWrittenAndReadBack) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  AlertRecord written = make_alert(7, "Write below etc", 2, "c0ffee");
  written.action = "kill";
  ASSERT_TRUE(store->add_alert(written));
  ASSERT_TRUE(store->flush(5s));

  auto page = store->alerts({});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  const AlertRecord& read = page->items[0];
  EXPECT_GT(read.id, 0);
  EXPECT_EQ(read.time_ns, written.time_ns);
  EXPECT_EQ(read.rule, written.rule);
  EXPECT_EQ(read.priority, 2);
  EXPECT_EQ(read.output, written.output);
  EXPECT_EQ(read.container_id, "c0ffee");
  EXPECT_EQ(read.container_name, "name-c0ffee");
  EXPECT_EQ(read.pid, written.pid);
  EXPECT_EQ(read.action, "kill");
  EXPECT_EQ(read.json, written.json);
  EXPECT_FALSE(page->next_before);

  auto one = store->alert(read.id);
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->output, written.output);
  auto missing = store->alert(read.id + 100);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  const StoreStats stats = store->stats();
  EXPECT_EQ(stats.committed, 1u);
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_GE(stats.batches, 1u);
  EXPECT_GT(stats.file_bytes, 0u);
}

TEST(StoreRecords, EventWrittenAndReadBack) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  EventRecord written = make_event(3, "openat", "bash opened /etc/shadow");
  written.container_id = "abc";
  ASSERT_TRUE(store->add_event(written));
  ASSERT_TRUE(store->flush(5s));
  auto page = store->events({});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  const EventRecord& read = page->items[0];
  EXPECT_GT(read.id, 0);
  EXPECT_EQ(read.time_ns, written.time_ns);
  EXPECT_EQ(read.type, "openat");
  EXPECT_EQ(read.container_id, "abc");
  EXPECT_EQ(read.pid, written.pid);
  EXPECT_EQ(read.process, "bash");
  EXPECT_EQ(read.summary, "bash opened /etc/shadow");
  EXPECT_EQ(read.json, written.json);
  EXPECT_EQ(read.container_name, "");  // no name known for "abc"
}

TEST(StoreRecords, EventsCarryTheContainerNameKnownWhenRead) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  EventRecord in_container = make_event(1);
  in_container.container_id = "abc";
  EventRecord on_host = make_event(2);
  EventRecord in_other = make_event(3);
  in_other.container_id = "def";
  store->set_container_name("abc", "web");
  ASSERT_TRUE(store->add_event(in_container));
  ASSERT_TRUE(store->add_event(on_host));
  ASSERT_TRUE(store->add_event(in_other));
  ASSERT_TRUE(store->flush(5s));
  auto page = store->events({});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[2].container_name, "web");
  EXPECT_EQ(page->items[1].container_name, "");
  EXPECT_EQ(page->items[0].container_name, "");
  // A name learned later applies to the stored events too; filters still work.
  store->set_container_name("def", "db");
  ASSERT_TRUE(store->flush(5s));
  EventQuery query;
  query.container_id = "def";
  page = store->events(query);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].container_name, "db");
}

TEST(StoreRecords, MeasurementWrittenAndReadBack) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  MeasurementRecord written{.id = 0,
                            .index = 42,
                            .time_ns = kBaseNs,
                            .pcr = 10,
                            .template_name = "ima-sig",
                            .template_hash = "ab12",
                            .file_hash = "sha256:cd34",
                            .path = "/usr/bin/ls",
                            .verdict = "allow"};
  ASSERT_TRUE(store->add_measurement(written));
  ASSERT_TRUE(store->flush(5s));
  auto page = store->measurements({});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  const MeasurementRecord& read = page->items[0];
  EXPECT_GT(read.id, 0);
  EXPECT_EQ(read.index, 42);
  EXPECT_EQ(read.time_ns, kBaseNs);
  EXPECT_EQ(read.pcr, 10);
  EXPECT_EQ(read.template_name, "ima-sig");
  EXPECT_EQ(read.template_hash, "ab12");
  EXPECT_EQ(read.file_hash, "sha256:cd34");
  EXPECT_EQ(read.path, "/usr/bin/ls");
  EXPECT_EQ(read.verdict, "allow");
}

TEST(StoreRecords, DecisionWrittenAndReadBack) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  DecisionRecord written{.id = 0,
                         .time_ns = kBaseNs + 5,
                         .verdict = "deny",
                         .path = "/tmp/x",
                         .pid = 77,
                         .reason = "no signature",
                         .json = R"({"verdict":"deny"})"};
  ASSERT_TRUE(store->add_decision(written));
  ASSERT_TRUE(store->flush(5s));
  auto page = store->decisions({});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  const DecisionRecord& read = page->items[0];
  EXPECT_GT(read.id, 0);
  EXPECT_EQ(read.time_ns, kBaseNs + 5);
  EXPECT_EQ(read.verdict, "deny");
  EXPECT_EQ(read.path, "/tmp/x");
  EXPECT_EQ(read.pid, 77);
  EXPECT_EQ(read.reason, "no signature");
  EXPECT_EQ(read.json, written.json);
}

// ---- filters -------------------------------------------------------------------------------

// Alerts n = 0..29: rule "r<n%3>", priority n%8, container "c<n%2>" except every fifth on
// the host, time kBaseNs + n s.
class StoreAlertFilters : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(config_in(dir_));
    ASSERT_TRUE(store_);
    for (int n = 0; n < 30; ++n) {
      const std::string container = n % 5 == 0 ? "" : "c" + std::to_string(n % 2);
      ASSERT_TRUE(store_->add_alert(make_alert(n, "r" + std::to_string(n % 3), n % 8, container)));
    }
    ASSERT_TRUE(store_->flush(5s));
  }
  // The n of each alert the query returns, newest first.
  std::vector<int> numbers(const AlertQuery& query) {
    auto page = store_->alerts(query);
    EXPECT_TRUE(page) << page.error().message;
    std::vector<int> result;
    if (page) {
      for (const auto& alert : page->items) result.push_back(std::stoi(alert.output.substr(6)));
    }
    return result;
  }
  static std::vector<int> expected(auto predicate) {
    std::vector<int> result;
    for (int n = 29; n >= 0; --n) {
      if (predicate(n)) result.push_back(n);
    }
    return result;
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreAlertFilters, NoFilterNewestFirst) {
  EXPECT_EQ(numbers({}), expected([](int) { return true; }));
}

TEST_F(StoreAlertFilters, TimeRangeIsHalfOpen) {
  AlertQuery query;
  query.since_ns = kBaseNs + 10 * kSecondNs;
  query.until_ns = kBaseNs + 20 * kSecondNs;
  EXPECT_EQ(numbers(query), expected([](int n) { return n >= 10 && n < 20; }));
}

TEST_F(StoreAlertFilters, AnyOfRules) {
  AlertQuery query;
  query.rules = {"r1"};
  EXPECT_EQ(numbers(query), expected([](int n) { return n % 3 == 1; }));
  query.rules = {"r0", "r2"};
  EXPECT_EQ(numbers(query), expected([](int n) { return n % 3 != 1; }));
  query.rules = {"no such rule"};
  EXPECT_TRUE(numbers(query).empty());
}

TEST_F(StoreAlertFilters, MaxPriority) {
  AlertQuery query;
  query.max_priority = 2;
  EXPECT_EQ(numbers(query), expected([](int n) { return n % 8 <= 2; }));
}

TEST_F(StoreAlertFilters, ContainerAndHost) {
  AlertQuery query;
  query.container_id = "c1";
  EXPECT_EQ(numbers(query), expected([](int n) { return n % 5 != 0 && n % 2 == 1; }));
  query.container_id = "";
  EXPECT_EQ(numbers(query), expected([](int n) { return n % 5 == 0; }));
}

TEST_F(StoreAlertFilters, AllFiltersTogether) {
  AlertQuery query;
  query.since_ns = kBaseNs + 3 * kSecondNs;
  query.until_ns = kBaseNs + 28 * kSecondNs;
  query.rules = {"r0", "r1"};
  query.max_priority = 5;
  query.container_id = "c0";
  EXPECT_EQ(numbers(query), expected([](int n) {
              return n >= 3 && n < 28 && n % 3 != 2 && n % 8 <= 5 && n % 5 != 0 && n % 2 == 0;
            }));
}

TEST(StoreFilters, Events) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  // n = 0..19: type execve/openat alternating, container "" for n < 10 else "k", pid 2000+n.
  for (int n = 0; n < 20; ++n) {
    EventRecord event = make_event(n, n % 2 ? "openat" : "execve");
    event.container_id = n < 10 ? "" : "k";
    ASSERT_TRUE(store->add_event(event));
  }
  ASSERT_TRUE(store->add_event(make_event(20, "execve", "Curl fetched 100%_done from EXAMPLE.org")));
  ASSERT_TRUE(store->add_event(make_event(21, "execve", "curl fetched 100 percent")));
  ASSERT_TRUE(store->add_event(make_event(22, "execve", "curl fetched 100x done")));
  ASSERT_TRUE(store->flush(5s));

  auto count = [&](const EventQuery& query) {
    auto page = store->events(query);
    EXPECT_TRUE(page) << page.error().message;
    return page ? page->items.size() : 0;
  };
  EventQuery query;
  EXPECT_EQ(count(query), 23u);
  query.types = {"openat"};
  EXPECT_EQ(count(query), 10u);
  query = {};
  query.container_id = "k";
  EXPECT_EQ(count(query), 10u);
  query.container_id = "";
  EXPECT_EQ(count(query), 13u);
  query = {};
  query.pid = 2005;
  auto page = store->events(query);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].summary, "event 5");
  query = {};
  query.since_ns = kBaseNs + 5 * kSecondNs;
  query.until_ns = kBaseNs + 7 * kSecondNs;
  EXPECT_EQ(count(query), 2u);

  // Text: case-insensitive substring; % and _ are literal characters.
  query = {};
  query.text = "example.ORG";
  EXPECT_EQ(count(query), 1u);
  query.text = "CURL FETCHED";
  EXPECT_EQ(count(query), 3u);
  query.text = "100%";
  EXPECT_EQ(count(query), 1u);
  query.text = "%_d";
  EXPECT_EQ(count(query), 1u);
  query.text = "100_done";
  EXPECT_EQ(count(query), 0u);
  query.text = "event 1";  // event 1, event 10..19
  query.types = {"execve"};
  EXPECT_EQ(count(query), 5u);  // 10, 12, 14, 16, 18
}

TEST(StoreFilters, Measurements) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"/usr/bin/ls", "allow"}, {"/usr/bin/sh", "deny"},  {"/usr/bina", ""},
      {"/usr/c", "allow"},      {"/usr/bin%", ""},        {"/USR/BIN/ls", "allow"},
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    MeasurementRecord m;
    m.index = static_cast<std::int64_t>(i);
    m.time_ns = kBaseNs;
    m.path = rows[i].first;
    m.verdict = rows[i].second;
    ASSERT_TRUE(store->add_measurement(m));
  }
  ASSERT_TRUE(store->flush(5s));
  auto paths = [&](const MeasurementQuery& query) {
    auto page = store->measurements(query);
    EXPECT_TRUE(page) << page.error().message;
    std::vector<std::string> result;
    if (page) {
      for (const auto& m : page->items) result.push_back(m.path);
    }
    return result;
  };
  MeasurementQuery query;
  query.verdict = "allow";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/USR/BIN/ls", "/usr/c", "/usr/bin/ls"}));
  query.verdict = "";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/usr/bin%", "/usr/bina"}));
  query.verdict.reset();
  query.path_prefix = "/usr/bin/";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/usr/bin/sh", "/usr/bin/ls"}));
  query.path_prefix = "/usr/bin";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/usr/bin%", "/usr/bina", "/usr/bin/sh", "/usr/bin/ls"}));
  query.verdict = "deny";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/usr/bin/sh"}));
  query = {};
  query.path_prefix = "/usr/bin%";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/usr/bin%"}));
}

TEST(StoreFilters, Decisions) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  for (int n = 0; n < 10; ++n) {
    DecisionRecord d;
    d.time_ns = kBaseNs + n * kSecondNs;
    d.verdict = n % 3 == 0 ? "deny" : "allow";
    d.path = "/bin/" + std::to_string(n);
    ASSERT_TRUE(store->add_decision(d));
  }
  ASSERT_TRUE(store->flush(5s));
  auto paths = [&](const DecisionQuery& query) {
    auto page = store->decisions(query);
    EXPECT_TRUE(page) << page.error().message;
    std::vector<std::string> result;
    if (page) {
      for (const auto& d : page->items) result.push_back(d.path);
    }
    return result;
  };
  DecisionQuery query;
  query.verdict = "deny";
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/bin/9", "/bin/6", "/bin/3", "/bin/0"}));
  query.since_ns = kBaseNs + 3 * kSecondNs;
  query.until_ns = kBaseNs + 9 * kSecondNs;
  EXPECT_EQ(paths(query), (std::vector<std::string>{"/bin/6", "/bin/3"}));
  query.verdict.reset();
  EXPECT_EQ(paths(query).size(), 6u);
}

// ---- paging --------------------------------------------------------------------------------

TEST(StorePaging, KeysetPagesWalkEveryRowExactlyOnce) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  constexpr int kRows = 1234;
  for (int n = 0; n < kRows; ++n) ASSERT_TRUE(store->add_alert(make_alert(n, n % 2 ? "odd" : "even")));
  ASSERT_TRUE(store->flush(10s));

  for (const auto& rules : {std::vector<std::string>{}, std::vector<std::string>{"odd"}}) {
    AlertQuery query;
    query.rules = rules;
    query.paging.limit = 100;
    std::vector<std::int64_t> seen;
    int pages = 0;
    for (;;) {
      auto page = store->alerts(query);
      ASSERT_TRUE(page) << page.error().message;
      ++pages;
      for (const auto& alert : page->items) seen.push_back(alert.id);
      if (!page->next_before) break;
      EXPECT_EQ(page->items.size(), 100u);
      EXPECT_EQ(*page->next_before, page->items.back().id);
      query.paging.before_id = page->next_before;
    }
    const std::size_t expected_rows = rules.empty() ? kRows : kRows / 2;
    EXPECT_EQ(seen.size(), expected_rows);
    EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()).size(), expected_rows);
    EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
    EXPECT_EQ(pages, static_cast<int>((expected_rows + 99) / 100));
  }
}

TEST(StorePaging, ExactlyFullLastPageHasNoNext) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  for (int n = 0; n < 10; ++n) ASSERT_TRUE(store->add_alert(make_alert(n)));
  ASSERT_TRUE(store->flush(5s));
  AlertQuery query;
  query.paging.limit = 10;
  auto page = store->alerts(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 10u);
  EXPECT_FALSE(page->next_before);
}

TEST(StorePaging, LimitClampedToOneAndAThousand) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  for (int n = 0; n < 1100; ++n) ASSERT_TRUE(store->add_event(make_event(n)));
  ASSERT_TRUE(store->flush(10s));
  EventQuery query;
  query.paging.limit = 0;
  auto page = store->events(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 1u);
  EXPECT_TRUE(page->next_before);
  query.paging.limit = -5;
  page = store->events(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 1u);
  query.paging.limit = 1'000'000;
  page = store->events(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 1000u);
  EXPECT_TRUE(page->next_before);
}

// ---- counters, containers ------------------------------------------------------------------

TEST(StoreCounters, ActivityUpsertAddsAndRoundsToTheBucket) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  const std::int64_t t = 1'700'000'000;  // a multiple of 10
  ASSERT_TRUE(store->add_activity({t, "c", "execve", 3}));
  ASSERT_TRUE(store->add_activity({t + 9, "c", "execve", 4}));  // same bucket
  ASSERT_TRUE(store->add_activity({t + 10, "c", "execve", 1}));
  ASSERT_TRUE(store->add_activity({t, "c", "openat", 5}));
  ASSERT_TRUE(store->add_activity({t, "", "execve", 6}));
  ASSERT_TRUE(store->flush(5s));
  ASSERT_TRUE(store->add_activity({t, "c", "execve", 10}));  // adds across batches too
  ASSERT_TRUE(store->flush(5s));

  auto cells = store->activity({"c", t, t + 20});
  ASSERT_TRUE(cells) << cells.error().message;
  ASSERT_EQ(cells->size(), 3u);
  EXPECT_EQ((*cells)[0].bucket_start_s, t);
  EXPECT_EQ((*cells)[0].type, "execve");
  EXPECT_EQ((*cells)[0].count, 17);
  EXPECT_EQ((*cells)[1].type, "openat");
  EXPECT_EQ((*cells)[1].count, 5);
  EXPECT_EQ((*cells)[2].bucket_start_s, t + 10);
  EXPECT_EQ((*cells)[2].count, 1);

  cells = store->activity({"c", t + 10, t + 20});
  ASSERT_TRUE(cells);
  EXPECT_EQ(cells->size(), 1u);
  cells = store->activity({"", t, t + 10});
  ASSERT_TRUE(cells);
  ASSERT_EQ(cells->size(), 1u);
  EXPECT_EQ((*cells)[0].count, 6);
}

TEST(StoreCounters, RuleHitsReplace) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_rule_hits({"b rule", 5, kBaseNs}));
  ASSERT_TRUE(store->set_rule_hits({"a rule", 1, 0}));
  ASSERT_TRUE(store->set_rule_hits({"b rule", 9, kBaseNs + 1}));
  ASSERT_TRUE(store->flush(5s));
  auto hits = store->rule_hits();
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].rule, "a rule");
  EXPECT_EQ((*hits)[0].hits, 1);
  EXPECT_EQ((*hits)[0].last_hit_ns, 0);
  EXPECT_EQ((*hits)[1].rule, "b rule");
  EXPECT_EQ((*hits)[1].hits, 9);
  EXPECT_EQ((*hits)[1].last_hit_ns, kBaseNs + 1);
}

TEST(StoreCounters, ContainersFromActivityAndAlerts) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  const std::int64_t t = 1'700'000'000;
  // "a": activity only, named later; "b": alerts only (name from the newest alert);
  // "c": both, with a set name; the host ("") has both and is listed first (ids sort).
  ASSERT_TRUE(store->add_activity({t, "a", "execve", 2}));
  ASSERT_TRUE(store->add_activity({t + 50, "a", "openat", 3}));
  store->set_container_name("a", "alpha");
  AlertRecord b1 = make_alert(0, "r", 4, "b");
  b1.time_ns = (t + 5) * kSecondNs;
  b1.container_name = "old-b";
  AlertRecord b2 = make_alert(1, "r", 4, "b");
  b2.time_ns = (t + 100) * kSecondNs;
  b2.container_name = "new-b";
  ASSERT_TRUE(store->add_alert(b1));
  ASSERT_TRUE(store->add_alert(b2));
  ASSERT_TRUE(store->add_activity({t + 20, "c", "execve", 7}));
  AlertRecord c1 = make_alert(2, "r", 4, "c");
  c1.time_ns = (t + 200) * kSecondNs;
  ASSERT_TRUE(store->add_alert(c1));
  store->set_container_name("c", "charlie");
  ASSERT_TRUE(store->add_activity({t, "", "execve", 100}));
  ASSERT_TRUE(store->add_alert(make_alert(3)));
  ASSERT_TRUE(store->flush(5s));

  auto containers = store->containers();
  ASSERT_TRUE(containers) << containers.error().message;
  ASSERT_EQ(containers->size(), 4u);
  const ContainerSummary& host = (*containers)[0];
  EXPECT_EQ(host.container_id, "");
  EXPECT_EQ(host.events, 100);
  EXPECT_EQ(host.alerts, 1);
  const ContainerSummary& a = (*containers)[1];
  EXPECT_EQ(a.container_id, "a");
  EXPECT_EQ(a.container_name, "alpha");
  EXPECT_EQ(a.first_seen_s, t);
  EXPECT_EQ(a.last_seen_s, t + 50);
  EXPECT_EQ(a.events, 5);
  EXPECT_EQ(a.alerts, 0);
  const ContainerSummary& b = (*containers)[2];
  EXPECT_EQ(b.container_id, "b");
  EXPECT_EQ(b.container_name, "new-b");
  EXPECT_EQ(b.first_seen_s, t + 5);
  EXPECT_EQ(b.last_seen_s, t + 100);
  EXPECT_EQ(b.events, 0);
  EXPECT_EQ(b.alerts, 2);
  const ContainerSummary& c = (*containers)[3];
  EXPECT_EQ(c.container_id, "c");
  EXPECT_EQ(c.container_name, "charlie");
  EXPECT_EQ(c.first_seen_s, t + 20);
  EXPECT_EQ(c.last_seen_s, t + 200);
  EXPECT_EQ(c.events, 7);
  EXPECT_EQ(c.alerts, 1);
}

TEST(StoreCounters, NonsenseInputIsKeptNotFatal) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  // (Rows at kMin are older than any max_age: retention may take them at once.)
  ASSERT_TRUE(store->add_activity({kMin, "c", "execve", kMax}));
  ASSERT_TRUE(store->add_activity({kMax, "c", "execve", kMax}));
  ASSERT_TRUE(store->add_activity({-15, "c", "execve", 1}));  // floors to -20
  AlertRecord alert = make_alert(1);
  constexpr char kOdd[] = "nul\0inside \xff\xfe not UTF-8";
  alert.output = std::string(kOdd, sizeof kOdd - 1);
  alert.time_ns = kMax;
  ASSERT_TRUE(store->add_alert(alert));
  ASSERT_TRUE(store->flush(5s));

  auto cells = store->activity({"c", -20, kMax});
  ASSERT_TRUE(cells) << cells.error().message;
  ASSERT_EQ(cells->size(), 2u);
  EXPECT_EQ((*cells)[0].bucket_start_s, -20);
  EXPECT_EQ((*cells)[1].bucket_start_s, kMax - kMax % 10);
  EXPECT_EQ((*cells)[1].count, kMax);
  EXPECT_TRUE(store->activity({"c", kMin, kMin}));
  AlertQuery query;
  query.paging.before_id = kMin;
  auto page = store->alerts(query);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->items.empty());
  query.paging.before_id = kMax;
  query.paging.limit = std::numeric_limits<int>::min();
  query.since_ns = kMin;
  page = store->alerts(query);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].output, alert.output);
  EventQuery events;
  events.text = "\\\\%_'\"";
  EXPECT_TRUE(store->events(events));
}

// ---- retention -----------------------------------------------------------------------------

std::int64_t wall_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(StoreRetention, ByAgeDeletesOlderRowsInEveryTable) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  config.max_age = std::chrono::hours(24);
  auto store = open_store(config);
  ASSERT_TRUE(store);
  const std::int64_t now = wall_now_ns();
  const std::int64_t old = now - 48 * 3600 * kSecondNs;
  for (std::int64_t time : {old, now}) {
    AlertRecord alert = make_alert(0, "r", 4, "c");
    alert.time_ns = time;
    EventRecord event = make_event(0);
    event.time_ns = time;
    MeasurementRecord measurement;
    measurement.time_ns = time;
    DecisionRecord decision;
    decision.time_ns = time;
    decision.verdict = "allow";
    ASSERT_TRUE(store->add_alert(alert));
    ASSERT_TRUE(store->add_event(event));
    ASSERT_TRUE(store->add_measurement(measurement));
    ASSERT_TRUE(store->add_decision(decision));
    ASSERT_TRUE(store->add_activity({time / kSecondNs, "c", "execve", 1}));
  }
  ASSERT_TRUE(store->flush(5s));
  ASSERT_TRUE(store->enforce_retention());

  EXPECT_EQ(store->stats().deleted_by_retention, 5u);
  auto alerts = store->alerts({});
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->items.size(), 1u);
  EXPECT_EQ(alerts->items[0].time_ns, now);
  auto events = store->events({});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->items.size(), 1u);
  auto measurements = store->measurements({});
  ASSERT_TRUE(measurements);
  EXPECT_EQ(measurements->items.size(), 1u);
  auto decisions = store->decisions({});
  ASSERT_TRUE(decisions);
  EXPECT_EQ(decisions->items.size(), 1u);
  auto activity = store->activity({"c", 0, now / kSecondNs + 100});
  ASSERT_TRUE(activity);
  EXPECT_EQ(activity->size(), 1u);
}

TEST(StoreRetention, TheLargestAgesKeepEverythingWithoutOverflow) {
  // max_age in ns does not fit int64 beyond about 2.5 million hours; the cutoff must saturate
  // instead of wrapping into the future and deleting everything.
  for (const std::chrono::hours age : {std::chrono::hours::max(), std::chrono::hours(2'562'048),
                                       std::chrono::hours(std::numeric_limits<std::int64_t>::max() / 3'600'000'000'000)}) {
    test::TempDir dir;
    StoreConfig config = config_in(dir);
    config.max_age = age;
    auto store = open_store(config);
    ASSERT_TRUE(store);
    AlertRecord old = make_alert(1);
    old.time_ns = 0;
    ASSERT_TRUE(store->add_alert(old));
    ASSERT_TRUE(store->add_alert(make_alert(2)));
    ASSERT_TRUE(store->flush(5s));
    ASSERT_TRUE(store->enforce_retention());
    auto alerts = store->alerts({});
    ASSERT_TRUE(alerts);
    EXPECT_EQ(alerts->items.size(), 2u) << age.count() << " h";
    EXPECT_EQ(store->stats().deleted_by_retention, 0u);
  }
}

TEST(StoreRetention, BySizeDeletesOldestEventsFirstThenAlertsAndTheFileShrinks) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  auto store = open_store(config);
  ASSERT_TRUE(store);
  const std::string padding(1000, 'x');
  constexpr int kEvents = 12000, kAlerts = 3000;  // about 17 MB and 4 MB in the file
  for (int n = 0; n < kEvents; ++n) {
    EventRecord event = make_event(n);
    event.json = padding;
    ASSERT_TRUE(store->add_event(std::move(event)));
  }
  for (int n = 0; n < kAlerts; ++n) {
    AlertRecord alert = make_alert(n);
    alert.json = padding;
    ASSERT_TRUE(store->add_alert(std::move(alert)));
  }
  ASSERT_TRUE(store->flush(30s));
  const std::uint64_t full = store->stats().file_bytes;
  ASSERT_GT(full, 15'000'000u);
  store.reset();

  // 12 MB: only events need to go, oldest first.
  config.max_size_bytes = 12'000'000;
  store = open_store(config);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->enforce_retention());
  StoreStats stats = store->stats();
  EXPECT_LE(stats.file_bytes, config.max_size_bytes);
  EXPECT_LT(stats.file_bytes, full);
  EXPECT_GT(stats.deleted_by_retention, 0u);
  auto alerts = store->alerts({});
  ASSERT_TRUE(alerts);
  EventQuery newest_events;
  newest_events.paging.limit = 1;
  auto events = store->events(newest_events);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->items.size(), 1u);
  EXPECT_EQ(events->items[0].summary, "event " + std::to_string(kEvents - 1));
  EventQuery oldest_event;
  oldest_event.until_ns = kBaseNs + kSecondNs;
  events = store->events(oldest_event);
  ASSERT_TRUE(events);
  EXPECT_TRUE(events->items.empty());
  AlertQuery oldest_alert;
  oldest_alert.until_ns = kBaseNs + kSecondNs;
  alerts = store->alerts(oldest_alert);
  ASSERT_TRUE(alerts);
  EXPECT_EQ(alerts->items.size(), 1u);  // all alerts kept

  // 1 MB: every event and then the oldest alerts go.
  store.reset();
  config.max_size_bytes = 1'000'000;
  store = open_store(config);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->enforce_retention());
  stats = store->stats();
  EXPECT_LE(stats.file_bytes, config.max_size_bytes);
  events = store->events({});
  ASSERT_TRUE(events);
  EXPECT_TRUE(events->items.empty());
  alerts = store->alerts(oldest_alert);
  ASSERT_TRUE(alerts);
  EXPECT_TRUE(alerts->items.empty());
  AlertQuery newest_alert;
  newest_alert.paging.limit = 1;
  alerts = store->alerts(newest_alert);
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->items.size(), 1u);
  EXPECT_EQ(alerts->items[0].output, "alert " + std::to_string(kAlerts - 1));
}

// ---- queue ---------------------------------------------------------------------------------

TEST(StoreQueue, FullQueueDropsAndCounts) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  config.queue_capacity = 10;
  config.batch_rows = 1000;
  config.flush_interval = std::chrono::hours(1);  // nothing leaves the queue until flush()
  auto store = open_store(config);
  ASSERT_TRUE(store);
  int accepted = 0;
  for (int n = 0; n < 25; ++n) accepted += store->add_alert(make_alert(n)) ? 1 : 0;
  EXPECT_EQ(accepted, 10);
  StoreStats stats = store->stats();
  EXPECT_EQ(stats.dropped, 15u);
  EXPECT_EQ(stats.queued, 10u);
  ASSERT_TRUE(store->flush(5s));
  stats = store->stats();
  EXPECT_EQ(stats.committed, 10u);
  EXPECT_EQ(stats.queued, 0u);
  auto page = store->alerts({});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 10u);
  EXPECT_EQ(page->items.front().output, "alert 9");  // the first ten were kept
}

TEST(StoreQueue, RowsAreCommittedWithoutFlushWithinTheInterval) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  config.flush_interval = 50ms;
  auto store = open_store(config);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_alert(make_alert(1)));
  for (int i = 0; i < 100 && store->stats().committed == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(store->stats().committed, 1u);
}

TEST(StoreQueue, ReadersRunConcurrentlyWithTheWriter) {
  test::TempDir dir;
  auto store = open_store(config_in(dir));
  ASSERT_TRUE(store);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        AlertQuery query;
        query.rules = {"odd"};
        if (!store->alerts(query) || !store->containers()) ++failures;
      }
    });
  }
  for (int n = 0; n < 20000; ++n) ASSERT_TRUE(store->add_alert(make_alert(n, n % 2 ? "odd" : "even", 4, "c")));
  ASSERT_TRUE(store->flush(30s));
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures, 0);
  AlertQuery query;
  query.rules = {"odd"};
  query.paging.limit = 1;
  auto page = store->alerts(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items[0].output, "alert 19999");
}

// ---- files ---------------------------------------------------------------------------------

TEST(StoreFiles, ReopenKeepsDataAndIdsKeepAscending) {
  test::TempDir dir;
  const StoreConfig config = config_in(dir);
  std::int64_t last_id = 0;
  {
    auto store = open_store(config);
    ASSERT_TRUE(store);
    for (int n = 0; n < 5; ++n) ASSERT_TRUE(store->add_alert(make_alert(n)));
    ASSERT_TRUE(store->set_rule_hits({"r", 3, 1}));
    // No flush: closing commits what is queued.
  }
  {
    auto store = open_store(config);
    ASSERT_TRUE(store);
    auto page = store->alerts({});
    ASSERT_TRUE(page) << page.error().message;
    ASSERT_EQ(page->items.size(), 5u);
    last_id = page->items.front().id;
    auto hits = store->rule_hits();
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits->size(), 1u);
    ASSERT_TRUE(store->add_alert(make_alert(5)));
    ASSERT_TRUE(store->flush(5s));
    page = store->alerts({});
    ASSERT_TRUE(page);
    ASSERT_EQ(page->items.size(), 6u);
    EXPECT_GT(page->items.front().id, last_id);
  }
}

TEST(StoreFiles, NewFileIsWalWithIncrementalVacuumAndVigilApplicationId) {
  test::TempDir dir;
  const StoreConfig config = config_in(dir);
  auto store = open_store(config);
  ASSERT_TRUE(store);
  store.reset();
  auto out = test::run({"sqlite3", config.path,
                        "PRAGMA journal_mode; PRAGMA auto_vacuum; PRAGMA application_id; PRAGMA user_version;"});
  if (out.exit_code != 0) GTEST_SKIP() << "no sqlite3 shell";
  EXPECT_EQ(out.out, "wal\n2\n1447642956\n1\n");
}

void write_foreign_sqlite(const std::string& path, int application_id) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql = "CREATE TABLE notes(text); INSERT INTO notes VALUES('mine'); PRAGMA application_id=" +
                          std::to_string(application_id);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST(StoreFiles, RefusesATextFileNamingIt) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  test::write_text(config.path, std::string(5000, 'a') + "\nnot a database\n");
  auto store = open_sqlite_store(config);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(config.path), std::string::npos) << store.error().message;
  EXPECT_EQ(test::read_text(config.path), std::string(5000, 'a') + "\nnot a database\n");
}

TEST(StoreFiles, RefusesAnotherApplicationsDatabaseAndLeavesItAlone) {
  for (int application_id : {0, 0x12345678}) {
    test::TempDir dir;
    StoreConfig config = config_in(dir);
    write_foreign_sqlite(config.path, application_id);
    const std::string before = test::read_text(config.path);
    auto store = open_sqlite_store(config);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find(config.path), std::string::npos) << store.error().message;
    EXPECT_NE(store.error().message.find("not a vigil store"), std::string::npos) << store.error().message;
    EXPECT_EQ(test::read_text(config.path), before);
    EXPECT_FALSE(std::filesystem::exists(config.path + "-wal"));
  }
}

TEST(StoreFiles, RefusesADamagedStoreNamingIt) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  {
    auto store = open_store(config);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->add_alert(make_alert(1)));
  }
  // Overwrite the header's magic and page size: SQLite no longer recognises the file.
  std::string bytes = test::read_text(config.path);
  ASSERT_GT(bytes.size(), 100u);
  for (int i = 0; i < 20; ++i) bytes[static_cast<std::size_t>(i)] = '?';
  test::write_text(config.path, bytes);
  auto store = open_sqlite_store(config);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(config.path), std::string::npos) << store.error().message;
}

TEST(StoreFiles, UnopenablePathNamesIt) {
  test::TempDir dir;
  StoreConfig config = config_in(dir);
  config.path = dir / "missing/dir/console.db";
  auto store = open_sqlite_store(config);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(config.path), std::string::npos) << store.error().message;
  config.path = "";
  EXPECT_FALSE(open_sqlite_store(config));
}

}  // namespace
}  // namespace vigil::store
