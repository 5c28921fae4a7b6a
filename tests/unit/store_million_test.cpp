// A million rows (half alerts, half events) through the public interface, then filtered
// queries whose exact answers follow from how the rows were generated.
#include <gtest/gtest.h>

#include <functional>

#include "store/store.h"
#include "support/test_support.h"

namespace vigil::store {
namespace {

using namespace std::chrono_literals;

// Sanitizer builds run the same test on a fifth of the rows (tests/CMakeLists.txt).
#ifdef VIGIL_STORE_TEST_SCALE_DOWN
constexpr std::int64_t kRows = 200'000;
#else
constexpr std::int64_t kRows = 1'000'000;
#endif
constexpr std::int64_t kAlerts = kRows / 2, kEvents = kRows / 2;
constexpr std::int64_t kBaseNs = 1'700'000'000'000'000'000;
constexpr std::int64_t kMsNs = 1'000'000;
constexpr int kRules = 50, kContainers = 20;

// Alert a (id a + 1): rule a % 50, priority a % 8, container a % 20 ("" for 0), 1 ms apart.
std::string alert_rule(std::int64_t a) { return "rule_" + std::to_string(a % kRules); }
int alert_priority(std::int64_t a) { return static_cast<int>(a % 8); }
std::string container_of(std::int64_t n) { return n % kContainers == 0 ? "" : "ctr" + std::to_string(n % kContainers); }
std::int64_t time_of(std::int64_t n) { return kBaseNs + n * kMsNs; }

// Event e (id e + 1): type e % 5, container e % 20 ("" for 0), pid 100 + e % 7000; every
// thousandth summary (e % 1000 == 7) carries "NeedLe".
const char* const kTypes[] = {"execve", "openat", "connect", "clone", "unlinkat"};
std::string event_type(std::int64_t e) { return kTypes[e % 5]; }
std::int64_t event_pid(std::int64_t e) { return 100 + e % 7000; }
bool has_needle(std::int64_t e) { return e % 1000 == 7; }

AlertRecord make_alert(std::int64_t a) {
  AlertRecord alert;
  alert.time_ns = time_of(a);
  alert.rule = alert_rule(a);
  alert.priority = alert_priority(a);
  alert.output = "a" + std::to_string(a);
  alert.container_id = container_of(a);
  alert.pid = a;
  alert.action = "alert";
  alert.json = R"({"rule":")" + alert.rule + R"(","n":)" + std::to_string(a) + "}";
  return alert;
}

EventRecord make_event(std::int64_t e) {
  EventRecord event;
  event.time_ns = time_of(e);
  event.type = event_type(e);
  event.container_id = container_of(e);
  event.pid = event_pid(e);
  event.process = "proc";
  event.summary = (has_needle(e) ? "proc found the NeedLe " : "proc did its thing ") + std::to_string(e);
  event.json = R"({"e":)" + std::to_string(e) + "}";
  return event;
}

// Ids (n + 1) of the generated rows n in [0, count) that match, newest first.
std::vector<std::int64_t> expected_ids(std::int64_t count, const std::function<bool(std::int64_t)>& matches) {
  std::vector<std::int64_t> ids;
  for (std::int64_t n = count - 1; n >= 0; --n) {
    if (matches(n)) ids.push_back(n + 1);
  }
  return ids;
}

template <class T>
std::vector<std::int64_t> ids_of(const Page<T>& page) {
  std::vector<std::int64_t> ids;
  for (const auto& item : page.items) ids.push_back(item.id);
  return ids;
}

Result<Page<AlertRecord>> fetch(const Store& store, const AlertQuery& query) { return store.alerts(query); }
Result<Page<EventRecord>> fetch(const Store& store, const EventQuery& query) { return store.events(query); }

// Every id of every page, following next_before.
template <class Query>
std::vector<std::int64_t> walk(const Store& store, Query query, int limit = 1000) {
  query.paging.limit = limit;
  std::vector<std::int64_t> ids;
  for (;;) {
    auto page = fetch(store, query);
    EXPECT_TRUE(page) << page.error().message;
    if (!page) return ids;
    for (const auto& item : page->items) ids.push_back(item.id);
    if (!page->next_before) return ids;
    query.paging.before_id = page->next_before;
  }
}

void check_alerts_by_rule_walk_all_pages(const Store& store) {
  AlertQuery query;
  query.rules = {"rule_7"};
  const auto ids = walk(store, query);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kAlerts / kRules));
  EXPECT_EQ(ids, expected_ids(kAlerts, [](std::int64_t a) { return a % kRules == 7; }));
}

void check_alerts_by_priority_first_page(const Store& store) {
  AlertQuery query;
  query.max_priority = 1;
  query.paging.limit = 100;
  auto page = store.alerts(query);
  ASSERT_TRUE(page) << page.error().message;
  auto expected = expected_ids(kAlerts, [](std::int64_t a) { return alert_priority(a) <= 1; });
  expected.resize(100);
  EXPECT_EQ(ids_of(*page), expected);
  ASSERT_TRUE(page->next_before);
  const AlertRecord& first = page->items.front();
  EXPECT_EQ(first.output, "a" + std::to_string(first.id - 1));
  EXPECT_EQ(first.rule, alert_rule(first.id - 1));
  EXPECT_EQ(first.time_ns, time_of(first.id - 1));
}

void check_alerts_by_container_and_time_range(const Store& store) {
  AlertQuery query;
  query.container_id = "ctr3";
  query.since_ns = time_of(kAlerts / 5);
  query.until_ns = time_of(kAlerts / 5 * 2);
  const auto ids = walk(store, query);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kAlerts / 5 / kContainers));
  EXPECT_EQ(ids, expected_ids(kAlerts, [](std::int64_t a) {
              return a % kContainers == 3 && a >= kAlerts / 5 && a < kAlerts / 5 * 2;
            }));
}

void check_host_alerts_combined_with_rules_and_priority(const Store& store) {
  AlertQuery query;
  query.container_id = "";
  query.rules = {"rule_0", "rule_10", "rule_20"};
  query.max_priority = 4;
  const auto ids = walk(store, query, 500);
  EXPECT_EQ(ids, expected_ids(kAlerts, [](std::int64_t a) {
              return a % kContainers == 0 && (a % kRules == 0 || a % kRules == 10 || a % kRules == 20) &&
                     alert_priority(a) <= 4;
            }));
  EXPECT_FALSE(ids.empty());
}

void check_deep_page_by_keyset(const Store& store) {
  AlertQuery query;
  query.paging.before_id = 1000;
  query.paging.limit = 100;
  auto page = store.alerts(query);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 100u);
  EXPECT_EQ(page->items.front().id, 999);
  EXPECT_EQ(page->items.back().id, 900);
  EXPECT_EQ(page->next_before, 900);
  query.paging.before_id = 51;
  page = store.alerts(query);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 50u);
  EXPECT_FALSE(page->next_before);
}

void check_event_text_search_is_case_insensitive(const Store& store) {
  EventQuery query;
  query.text = "needle";
  const auto ids = walk(store, query);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kEvents / 1000));
  EXPECT_EQ(ids, expected_ids(kEvents, has_needle));
}

void check_events_by_type_container_and_pid(const Store& store) {
  EventQuery query;
  query.types = {"openat", "clone"};
  query.container_id = "ctr6";  // e % 20 == 6: always openat (e % 5 == 1)
  query.paging.limit = 50;
  auto page = store.events(query);
  ASSERT_TRUE(page) << page.error().message;
  auto expected = expected_ids(kEvents, [](std::int64_t e) {
    return (e % 5 == 1 || e % 5 == 3) && e % kContainers == 6;
  });
  expected.resize(50);
  EXPECT_EQ(ids_of(*page), expected);

  query = {};
  query.pid = event_pid(1234);
  const auto ids = walk(store, query);
  EXPECT_EQ(ids, expected_ids(kEvents, [](std::int64_t e) { return event_pid(e) == event_pid(1234); }));
}

void check_containers_count_their_alerts(const Store& store) {
  auto containers = store.containers();
  ASSERT_TRUE(containers) << containers.error().message;
  // Every container id plus the host (""), which sorts first.
  ASSERT_EQ(containers->size(), static_cast<std::size_t>(kContainers));
  EXPECT_EQ(containers->front().container_id, "");
  for (const auto& container : *containers) {
    EXPECT_EQ(container.alerts, kAlerts / kContainers) << container.container_id;
    EXPECT_EQ(container.events, 0);
  }
  const ContainerSummary& first = (*containers)[1];  // "ctr1": alerts 1, 21, 41, ...
  EXPECT_EQ(first.container_id, "ctr1");
  EXPECT_EQ(first.first_seen_s, time_of(1) / 1'000'000'000);
  EXPECT_EQ(first.last_seen_s, time_of(kAlerts - kContainers + 1) / 1'000'000'000);
}

// One test: ctest runs every test in its own process, and each would write the million rows.
TEST(StoreMillion, WrittenThenQueriedWithEveryFilter) {
  test::TempDir dir;
  StoreConfig config;
  config.path = dir / "million.db";
  config.max_age = std::chrono::hours(24 * 365 * 200);
  config.queue_capacity = 200'000;
  auto opened = open_sqlite_store(config);
  ASSERT_TRUE(opened) << opened.error().message;
  Store& store = **opened;
  for (std::int64_t n = 0; n < kAlerts; ++n) {
    ASSERT_TRUE(store.add_alert(make_alert(n)));
    ASSERT_TRUE(store.add_event(make_event(n)));
    // Keeps the queue below its capacity: the writer is slower than this loop.
    if (n % 50'000 == 49'999) {
      ASSERT_TRUE(store.flush(120s));
    }
  }
  ASSERT_TRUE(store.flush(120s));
  const StoreStats stats = store.stats();
  ASSERT_EQ(stats.committed, static_cast<std::uint64_t>(kRows));
  ASSERT_EQ(stats.dropped, 0u);

  const std::pair<const char*, void (*)(const Store&)> checks[] = {
      {"alerts by rule, every page", check_alerts_by_rule_walk_all_pages},
      {"alerts by priority, first page", check_alerts_by_priority_first_page},
      {"alerts by container and time range", check_alerts_by_container_and_time_range},
      {"host alerts with rules and priority", check_host_alerts_combined_with_rules_and_priority},
      {"deep page by keyset", check_deep_page_by_keyset},
      {"event text search", check_event_text_search_is_case_insensitive},
      {"events by type, container, pid", check_events_by_type_container_and_pid},
      {"containers", check_containers_count_their_alerts},
  };
  for (const auto& [name, check] : checks) {
    SCOPED_TRACE(name);
    check(store);
  }
}

}  // namespace
}  // namespace vigil::store
