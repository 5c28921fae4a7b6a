// The console's JSON API (src/web/api.h) as a function of a request, over a real SQLite store in
// a temporary directory and a fake backend (web_fake_backend.h): routes, filters, paging, bad
// input (400 naming the parameter, 404 for unknown paths, never a crash), the store failing,
// /metrics rendering and the records' JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "store/store.h"
#include "support/test_support.h"
#include "web/api.h"
#include "web/metrics.h"
#include "web/record_json.h"
#include "web_fake_backend.h"

namespace vigil::web {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kBaseS = 1'795'456'800;  // 2026-11-23T18:00:00Z
constexpr std::int64_t kBaseNs = kBaseS * kSecondNs;
constexpr char kWeb[] = "3f2a1b4c5d6e";
constexpr char kDb[] = "aaaaaaaaaaaa";

// "%41" -> "A", "+" -> " ": what the HTTP server hands the API.
std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

ApiRequest request_for(std::string_view target, std::string method = "GET") {
  ApiRequest request;
  request.method = std::move(method);
  const std::size_t question = target.find('?');
  request.path = url_decode(target.substr(0, question));
  if (question == std::string_view::npos) return request;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t equals = pair.find('=');
    request.params.emplace(url_decode(pair.substr(0, equals)),
                           equals == std::string_view::npos ? std::string() : url_decode(pair.substr(equals + 1)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return request;
}

store::AlertRecord alert_at(std::int64_t second, std::string rule, int priority, std::string container,
                            std::string name = "") {
  store::AlertRecord alert;
  alert.time_ns = kBaseNs + second * kSecondNs;
  alert.rule = std::move(rule);
  alert.priority = priority;
  alert.output = "output of " + alert.rule;
  alert.container_id = std::move(container);
  alert.container_name = std::move(name);
  alert.pid = 4000 + second;
  alert.action = "alert";
  alert.json = json{{"hostname", "h1"}, {"tags", {"t"}}, {"output_fields", {{"proc.name", "cat"}}}}.dump();
  return alert;
}

store::EventRecord event_at(std::int64_t second, std::string type, std::string container, std::int64_t pid,
                            std::string summary) {
  store::EventRecord event;
  event.time_ns = kBaseNs + second * kSecondNs;
  event.type = std::move(type);
  event.container_id = std::move(container);
  event.pid = pid;
  event.process = "proc" + std::to_string(pid);
  event.summary = std::move(summary);
  event.json = json{{"evt.type", event.type}}.dump();
  return event;
}

std::vector<std::int64_t> ids(const json& body) {
  std::vector<std::int64_t> out;
  for (const auto& item : body.at("items")) out.push_back(item.at("id").get<std::int64_t>());
  return out;
}

using Ids = std::vector<std::int64_t>;

class WebApi : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreConfig config;
    config.path = dir_ / "console.db";
    config.max_age = std::chrono::hours(24 * 365 * 200);  // keeps the fixed 2026 times
    auto opened = store::open_sqlite_store(config);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
    api_ = std::make_unique<Api>(*store_, backend_);
  }

  // Alerts 1..6 (ids in insertion order), one second apart from kBaseS + 1.
  void add_alerts() {
    store_->add_alert(alert_at(1, "Terminal shell", 5, ""));
    store_->add_alert(alert_at(2, "Read sensitive file", 4, kWeb, "web"));
    store_->add_alert(alert_at(3, "Container escape", 2, kWeb, "web"));
    store_->add_alert(alert_at(4, "Terminal shell", 5, kDb, "db"));
    store_->add_alert(alert_at(5, "Read sensitive file", 4, ""));
    store_->add_alert(alert_at(6, "Debug thing", 7, ""));
    ASSERT_TRUE(store_->flush(10s));
  }

  // Events 1..5.
  void add_events() {
    store_->set_container_name(kWeb, "web");
    store_->add_event(event_at(1, "execve", "", 100, "bash ran /usr/bin/ls"));
    store_->add_event(event_at(2, "openat", kWeb, 200, "cat opened /etc/shadow"));
    store_->add_event(event_at(3, "connect", kWeb, 200, "curl connected to 10.1.2.3:80 (100% sure)"));
    store_->add_event(event_at(4, "execve", kDb, 300, "sh ran /bin/SHADOW-tool"));
    store_->add_event(event_at(5, "openat", "", 100, "ls opened /tmp/a_b"));
    ASSERT_TRUE(store_->flush(10s));
  }

  ApiResponse get(std::string_view target) const { return api_->handle(request_for(target)); }

  // The body of a 200 response.
  json ok(std::string_view target) const {
    const ApiResponse response = get(target);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    EXPECT_EQ(response.content_type, "application/json");
    json body = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << response.body;
    return body;
  }

  Ids list(std::string_view target) const {
    const json body = ok(target);
    if (!body.contains("items")) return {};
    return ids(body);
  }

  // A 4xx/5xx with {"error": message}; the message.
  std::string error(std::string_view target, int status, std::string method = "GET") const {
    const ApiResponse response = api_->handle(request_for(target, std::move(method)));
    EXPECT_EQ(response.status, status) << target << ": " << response.body;
    EXPECT_EQ(response.content_type, "application/json") << target;
    const json body = json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_string()) {
      ADD_FAILURE() << target << ": not an error document: " << response.body;
      return "";
    }
    EXPECT_FALSE(body["error"].get<std::string>().empty()) << target;
    return body["error"].get<std::string>();
  }

  test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  test::FakeConsoleBackend backend_;
  std::unique_ptr<Api> api_;
};

// ---- alerts: filters ---------------------------------------------------------------------------

TEST_F(WebApi, AlertsNewestFirstWithTheirShape) {
  add_alerts();
  const json body = ok("/api/alerts");
  EXPECT_EQ(ids(body), (Ids{6, 5, 4, 3, 2, 1}));
  EXPECT_TRUE(body["next_before"].is_null());
  const json& alert = body["items"][3];  // id 3
  EXPECT_EQ(alert["rule"], "Container escape");
  EXPECT_EQ(alert["priority"], "Critical");
  EXPECT_EQ(alert["priority_level"], 2);
  EXPECT_EQ(alert["time"], "2026-11-23T18:00:03.000000000Z");
  EXPECT_EQ(alert["time_ns"], kBaseNs + 3 * kSecondNs);
  EXPECT_EQ(alert["container"], (json{{"id", kWeb}, {"name", "web"}}));
  EXPECT_EQ(alert["pid"], 4003);
  EXPECT_EQ(alert["action"], "alert");
  EXPECT_EQ(alert["hostname"], "h1");
  EXPECT_EQ(alert["source"], "syscall");
  EXPECT_EQ(alert["output_fields"]["proc.name"], "cat");
  EXPECT_FALSE(alert.contains("process_tree"));
  EXPECT_EQ(body["items"][0]["container"], (json{{"id", "host"}, {"name", "host"}}));
}

TEST_F(WebApi, AlertsByTime) {
  add_alerts();
  // [since, until), in RFC 3339 or Unix seconds, with fractions and offsets.
  EXPECT_EQ(list("/api/alerts?since=2026-11-23T18:00:03Z"), (Ids{6, 5, 4, 3}));
  EXPECT_EQ(list("/api/alerts?since=1795456803"), (Ids{6, 5, 4, 3}));
  EXPECT_EQ(list("/api/alerts?since=1795456802.5"), (Ids{6, 5, 4, 3}));
  EXPECT_EQ(list("/api/alerts?since=2026-11-23T19:00:02.5%2B01:00"), (Ids{6, 5, 4, 3}));
  EXPECT_EQ(list("/api/alerts?until=1795456803"), (Ids{2, 1}));
  EXPECT_EQ(list("/api/alerts?until=2026-11-23T18:00:03.000000001Z"), (Ids{3, 2, 1}));
  EXPECT_EQ(list("/api/alerts?since=1795456803&until=1795456805"), (Ids{4, 3}));
  EXPECT_EQ(list("/api/alerts?since=1795456805&until=1795456803"), Ids{});
  EXPECT_EQ(list("/api/alerts?since=1795456900"), Ids{});
  EXPECT_EQ(list("/api/alerts?until=0"), Ids{});
}

TEST_F(WebApi, AlertsByRulePriorityAndContainer) {
  add_alerts();
  EXPECT_EQ(list("/api/alerts?rule=Terminal+shell"), (Ids{4, 1}));
  EXPECT_EQ(list("/api/alerts?rule=Terminal%20shell&rule=Container%20escape"), (Ids{4, 3, 1}));
  EXPECT_EQ(list("/api/alerts?rule=terminal+shell"), Ids{});  // exact names
  EXPECT_EQ(list("/api/alerts?rule=Terminal"), Ids{});
  EXPECT_EQ(list("/api/alerts?rule="), Ids{});
  // At least this urgent.
  EXPECT_EQ(list("/api/alerts?priority=warning"), (Ids{5, 3, 2}));
  EXPECT_EQ(list("/api/alerts?priority=Critical"), (Ids{3}));
  EXPECT_EQ(list("/api/alerts?priority=emergency"), Ids{});
  EXPECT_EQ(list("/api/alerts?priority=notice"), (Ids{5, 4, 3, 2, 1}));
  EXPECT_EQ(list("/api/alerts?priority=debug"), (Ids{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(list(std::string("/api/alerts?container=") + kWeb), (Ids{3, 2}));
  EXPECT_EQ(list("/api/alerts?container=host"), (Ids{6, 5, 1}));
  EXPECT_EQ(list("/api/alerts?container=bbbbbbbbbbbb"), Ids{});
  // Filters combine.
  EXPECT_EQ(list("/api/alerts?container=host&priority=warning"), (Ids{5}));
  EXPECT_EQ(list("/api/alerts?container=host&rule=Terminal+shell&since=1795456801&until=1795456802"), (Ids{1}));
  EXPECT_EQ(list(std::string("/api/alerts?container=") + kWeb + "&rule=Terminal+shell"), Ids{});
}

// ---- paging -----------------------------------------------------------------------------------

TEST_F(WebApi, AlertPagesFollowNextBefore) {
  add_alerts();
  json page = ok("/api/alerts?limit=2");
  EXPECT_EQ(ids(page), (Ids{6, 5}));
  EXPECT_EQ(page["next_before"], 5);
  page = ok("/api/alerts?limit=2&before=5");
  EXPECT_EQ(ids(page), (Ids{4, 3}));
  EXPECT_EQ(page["next_before"], 3);
  page = ok("/api/alerts?limit=2&before=3");
  EXPECT_EQ(ids(page), (Ids{2, 1}));
  EXPECT_TRUE(page["next_before"].is_null());
  page = ok("/api/alerts?before=1");
  EXPECT_EQ(ids(page), Ids{});
  EXPECT_TRUE(page["next_before"].is_null());
  page = ok("/api/alerts?before=9223372036854775807&limit=1000");
  EXPECT_EQ(ids(page), (Ids{6, 5, 4, 3, 2, 1}));
}

TEST_F(WebApi, EveryPageSizeWalksEveryAlertOnce) {
  for (int i = 0; i < 23; ++i) store_->add_alert(alert_at(i, i % 3 == 0 ? "A" : "B", 4, ""));
  ASSERT_TRUE(store_->flush(10s));
  for (const std::string filter : {"", "&rule=A"}) {
    const Ids all = list("/api/alerts?limit=1000" + filter);
    ASSERT_EQ(all.size(), filter.empty() ? 23u : 8u);
    ASSERT_TRUE(std::ranges::is_sorted(all, std::greater<>()));
    for (int limit = 1; limit <= 24; ++limit) {
      Ids walked;
      std::string target = "/api/alerts?limit=" + std::to_string(limit) + filter;
      for (int pages = 0; pages < 30; ++pages) {
        const json page = ok(target);
        const Ids got = ids(page);
        EXPECT_LE(got.size(), static_cast<std::size_t>(limit));
        walked.insert(walked.end(), got.begin(), got.end());
        if (page["next_before"].is_null()) break;
        EXPECT_EQ(page["next_before"], got.back());
        target = "/api/alerts?limit=" + std::to_string(limit) + "&before=" +
                 std::to_string(page["next_before"].get<std::int64_t>()) + filter;
      }
      EXPECT_EQ(walked, all) << "limit " << limit << filter;
    }
  }
}

// ---- events: filters and search -----------------------------------------------------------------

TEST_F(WebApi, EventsWithTheirShapeAndContainerName) {
  add_events();
  const json body = ok("/api/events");
  EXPECT_EQ(ids(body), (Ids{5, 4, 3, 2, 1}));
  const json& opened = body["items"][3];  // id 2
  EXPECT_EQ(opened["type"], "openat");
  EXPECT_EQ(opened["time"], "2026-11-23T18:00:02.000000000Z");
  EXPECT_EQ(opened["time_ns"], kBaseNs + 2 * kSecondNs);
  EXPECT_EQ(opened["pid"], 200);
  EXPECT_EQ(opened["process"], "proc200");
  EXPECT_EQ(opened["summary"], "cat opened /etc/shadow");
  EXPECT_EQ(opened["event"], (json{{"evt.type", "openat"}}));
  // docs/api.md: a container is {"id", "name"}, for events as for alerts.
  EXPECT_EQ(opened["container"], (json{{"id", kWeb}, {"name", "web"}}));
  EXPECT_EQ(body["items"][0]["container"], (json{{"id", "host"}, {"name", "host"}}));
  // A container whose name the agent never learned: id, empty name.
  EXPECT_EQ(body["items"][1]["container"], (json{{"id", kDb}, {"name", ""}}));
}

TEST_F(WebApi, EventsSearchAndFilters) {
  add_events();
  // q: a case-insensitive substring of the summary; LIKE's wildcards are literal.
  EXPECT_EQ(list("/api/events?q=shadow"), (Ids{4, 2}));
  EXPECT_EQ(list("/api/events?q=SHADOW"), (Ids{4, 2}));
  EXPECT_EQ(list("/api/events?q=opened+%2F"), (Ids{5, 2}));
  EXPECT_EQ(list("/api/events?q=%25"), (Ids{3}));
  EXPECT_EQ(list("/api/events?q=_"), (Ids{5}));
  EXPECT_EQ(list("/api/events?q=a%25b"), Ids{});
  EXPECT_EQ(list("/api/events?q=nothing+like+it"), Ids{});
  EXPECT_EQ(list("/api/events?q="), (Ids{5, 4, 3, 2, 1}));
  EXPECT_EQ(list("/api/events?type=execve"), (Ids{4, 1}));
  EXPECT_EQ(list("/api/events?type=execve&type=connect"), (Ids{4, 3, 1}));
  EXPECT_EQ(list("/api/events?type=ptrace"), Ids{});
  EXPECT_EQ(list("/api/events?pid=200"), (Ids{3, 2}));
  EXPECT_EQ(list("/api/events?pid=0"), Ids{});
  EXPECT_EQ(list(std::string("/api/events?container=") + kWeb), (Ids{3, 2}));
  EXPECT_EQ(list("/api/events?container=host"), (Ids{5, 1}));
  EXPECT_EQ(list("/api/events?since=1795456802&until=1795456804"), (Ids{3, 2}));
  EXPECT_EQ(list("/api/events?since=2026-11-23T18:00:04Z"), (Ids{5, 4}));
  EXPECT_EQ(list("/api/events?container=host&q=opened&type=openat&pid=100"), (Ids{5}));
  json page = ok("/api/events?limit=2&type=openat&type=execve");
  EXPECT_EQ(ids(page), (Ids{5, 4}));
  EXPECT_EQ(page["next_before"], 4);
  page = ok("/api/events?limit=2&type=openat&type=execve&before=4");
  EXPECT_EQ(ids(page), (Ids{2, 1}));
  EXPECT_TRUE(page["next_before"].is_null());
}

// Network flow records: the agent's netflow records stored as events, filtered by exact
// verdict/policy/rule/direction words and a workload substring; /api/netpolicy is the status.
TEST_F(WebApi, NetpolicyFlowsFilterByVerdictPolicyAndWorkload) {
  const auto flow = [](std::int64_t second, const char* verdict, const char* policy, const char* subject) {
    const json record = {{"verdict", verdict}, {"direction", "egress"}, {"protocol", "tcp"}, {"family", "ipv4"},
                         {"remote_addr", "198.18.0.2"}, {"remote_port", 80}, {"policy", policy},
                         {"rule", "default"}, {"subject", subject}, {"comm", "curl"}};
    store::EventRecord event = event_at(second, "netflow", "", 500 + second, netflow_summary(record));
    event.json = record.dump();
    return event;
  };
  store_->add_event(flow(1, "deny", "web", "container=ab*"));
  store_->add_event(flow(2, "allow", "web", "container=ab*"));
  store_->add_event(flow(3, "deny", "web2", "cgroup=/db"));
  store_->add_event(flow(4, "would-deny", "web", "cgroup=/db"));
  store_->add_event(event_at(5, "connect", "", 9, "verdict=deny policy=web "));  // not a flow
  ASSERT_TRUE(store_->flush(10s));
  EXPECT_EQ(netflow_summary(json::parse(ok("/api/netpolicy/flows?limit=1")["items"][0]["event"].dump())),
            "verdict=would-deny direction=egress protocol=tcp remote=198.18.0.2:80 policy=web rule=default "
            "subject=cgroup=/db comm=curl ");
  EXPECT_EQ(list("/api/netpolicy/flows"), (Ids{4, 3, 2, 1}));
  EXPECT_EQ(list("/api/netpolicy/flows?verdict=deny"), (Ids{3, 1}));
  EXPECT_EQ(list("/api/netpolicy/flows?policy=web"), (Ids{4, 2, 1})) << "web2 is another policy";
  EXPECT_EQ(list("/api/netpolicy/flows?verdict=deny&policy=web"), (Ids{1}));
  EXPECT_EQ(list("/api/netpolicy/flows?workload=%2Fdb"), (Ids{4, 3}));
  EXPECT_EQ(list("/api/netpolicy/flows?workload=curl&direction=egress&rule=default"), (Ids{4, 3, 2, 1}));
  EXPECT_EQ(list("/api/netpolicy/flows?direction=ingress"), Ids{});
  EXPECT_EQ(ok("/api/netpolicy/flows?verdict=deny")["items"][0]["event"]["policy"], "web2");
  EXPECT_EQ(get("/api/netpolicy/flows?verdict=a+b").status, 400);
  EXPECT_EQ(get("/api/netpolicy/flows?colour=red").status, 400);
  EXPECT_EQ(ok("/api/netpolicy"), (json{{"enabled", false}}));
  backend_.set_status({{"netpolicy", {{"enabled", true}, {"generation", 1}}}});
  EXPECT_EQ(ok("/api/netpolicy")["generation"], 1);
}

// ---- the other routes ---------------------------------------------------------------------------

TEST_F(WebApi, OneAlertWithItsProcessTree) {
  store::AlertRecord with_tree = alert_at(1, "Terminal shell", 5, "");
  with_tree.json = json{{"process_tree", json::array({json{{"pid", 4001}, {"name", "stored"}}})}}.dump();
  store_->add_alert(with_tree);
  store_->add_alert(alert_at(2, "Terminal shell", 5, ""));
  ASSERT_TRUE(store_->flush(10s));
  json stored = ok("/api/alerts/1");
  EXPECT_EQ(stored["id"], 1);
  EXPECT_EQ(stored["process_tree"][0]["name"], "stored");
  EXPECT_FALSE(backend_.last_tree_pid());
  // Stored without one: the live tree of its pid.
  json live = ok("/api/alerts/2");
  EXPECT_EQ(live["process_tree"][0]["name"], "live");
  EXPECT_EQ(backend_.last_tree_pid(), 4002);
  EXPECT_NE(error("/api/alerts/3", 404).find("no alert 3"), std::string::npos);
  // The list leaves the trees out.
  const json listed = ok("/api/alerts");
  for (const auto& item : listed["items"]) EXPECT_FALSE(item.contains("process_tree"));
}

TEST_F(WebApi, ProcessesAskTheBackendForTheContainer) {
  json all = ok("/api/processes");
  EXPECT_EQ(all["items"].size(), 2u);
  EXPECT_FALSE(backend_.last_processes_container());
  json host = ok("/api/processes?container=host");
  EXPECT_EQ(backend_.last_processes_container(), "");
  ASSERT_EQ(host["items"].size(), 1u);
  EXPECT_EQ(host["items"][0]["pid"], 1);
  json web = ok(std::string("/api/processes?container=") + kWeb);
  EXPECT_EQ(backend_.last_processes_container(), kWeb);
  ASSERT_EQ(web["items"].size(), 1u);
  EXPECT_EQ(web["items"][0]["pid"], 4242);
  backend_.set_processes(std::nullopt);
  EXPECT_NE(error("/api/processes", 503).find("runtime detection is off"), std::string::npos);
}

TEST_F(WebApi, ContainersJoinTheStoreWithWhatRunsNow) {
  add_alerts();
  store_->add_activity({kBaseS, kDb, "execve", 3});
  ASSERT_TRUE(store_->flush(10s));
  const json body = ok("/api/containers");
  std::map<std::string, json> by_id;
  for (const auto& item : body["items"]) by_id[item["id"].get<std::string>()] = item;
  ASSERT_EQ(by_id.size(), 3u) << body.dump();
  EXPECT_TRUE(by_id["host"]["running"].get<bool>());
  EXPECT_EQ(by_id["host"]["name"], "host");
  EXPECT_TRUE(by_id[kWeb]["running"].get<bool>());
  EXPECT_EQ(by_id[kWeb]["name"], "web");
  EXPECT_EQ(by_id[kWeb]["alerts"], 2);
  EXPECT_FALSE(by_id[kDb]["running"].get<bool>());
  EXPECT_EQ(by_id[kDb]["name"], "db");
  EXPECT_EQ(by_id[kDb]["events"], 3);
  EXPECT_EQ(by_id[kDb]["first_seen"], "2026-11-23T18:00:00.000000000Z");
  // Running first.
  EXPECT_FALSE(body["items"][2]["running"].get<bool>());
  backend_.set_running(std::nullopt);
  const json stored_only = ok("/api/containers");
  for (const auto& item : stored_only["items"]) EXPECT_FALSE(item["running"].get<bool>());
}

TEST_F(WebApi, ActivitySeriesAndAlertMarkers) {
  add_alerts();
  store_->add_activity({kBaseS, kWeb, "execve", 3});
  store_->add_activity({kBaseS + 20, kWeb, "execve", 1});
  store_->add_activity({kBaseS + 20, kWeb, "openat", 7});
  store_->add_activity({kBaseS + 10, "", "openat", 9});
  ASSERT_TRUE(store_->flush(10s));
  const json body = ok(std::string("/api/containers/") + kWeb + "/activity?since=1795456805&until=1795456830");
  EXPECT_EQ(body["container"], (json{{"id", kWeb}, {"name", "web"}}));
  EXPECT_EQ(body["bucket_seconds"], 10);
  EXPECT_EQ(body["since"], kBaseS);  // floored to its bucket
  EXPECT_EQ(body["until"], kBaseS + 30);
  EXPECT_EQ(body["times"], (json{kBaseS, kBaseS + 10, kBaseS + 20}));
  EXPECT_EQ(body["series"], (json{{"execve", {3, 0, 1}}, {"openat", {0, 0, 7}}}));
  ASSERT_EQ(body["alerts"].size(), 2u);
  EXPECT_EQ(body["alerts"][0]["id"], 2);  // oldest first
  EXPECT_EQ(body["alerts"][1]["rule"], "Container escape");
  EXPECT_EQ(body["alerts"][1]["priority"], "Critical");
  const json host = ok("/api/containers/host/activity?since=2026-11-23T18:00:00Z&until=2026-11-23T18:00:30Z");
  EXPECT_EQ(host["container"], (json{{"id", "host"}, {"name", "host"}}));
  EXPECT_EQ(host["series"], (json{{"openat", {0, 9, 0}}}));
  EXPECT_EQ(host["alerts"].size(), 3u);
  // Without times: the last hour up to now, 360 buckets or 361 (now inside a bucket).
  const json recent = ok("/api/containers/host/activity");
  EXPECT_GE(recent["times"].size(), 360u);
  EXPECT_LE(recent["times"].size(), 361u);
  // A whole day is the longest span.
  EXPECT_EQ(ok("/api/containers/host/activity?since=1795456800&until=1795543200")["times"].size(), 8640u);
}

TEST_F(WebApi, MeasurementsAndDenials) {
  auto measurement = [](std::int64_t index, std::string path, std::string verdict) {
    store::MeasurementRecord record;
    record.index = index;
    record.time_ns = kBaseNs + index * kSecondNs;
    record.template_name = "ima-ng";
    record.template_hash = std::string(40, 'a');
    record.file_hash = "sha256:" + std::string(64, 'b');
    record.path = std::move(path);
    record.verdict = std::move(verdict);
    return record;
  };
  store_->add_measurement(measurement(0, "boot_aggregate", ""));
  store_->add_measurement(measurement(1, "/usr/bin/ls", "allow"));
  store_->add_measurement(measurement(2, "/usr/bin/evil", "deny"));
  store_->add_measurement(measurement(3, "/usr/binary", "allow"));
  auto decision = [](std::int64_t second, std::string verdict, std::string path) {
    store::DecisionRecord record;
    record.time_ns = kBaseNs + second * kSecondNs;
    record.verdict = std::move(verdict);
    record.path = std::move(path);
    record.pid = 77;
    record.reason = record.verdict == "deny" ? "no signature" : "";
    record.json = json{{"decision", record.verdict}}.dump();
    return record;
  };
  store_->add_decision(decision(1, "allow", "/usr/bin/ls"));
  store_->add_decision(decision(2, "deny", "/usr/bin/evil"));
  store_->add_decision(decision(3, "deny", "/tmp/x"));
  ASSERT_TRUE(store_->flush(10s));
  EXPECT_EQ(list("/api/integrity/measurements"), (Ids{4, 3, 2, 1}));
  EXPECT_EQ(list("/api/integrity/measurements?verdict=allow"), (Ids{4, 2}));
  EXPECT_EQ(list("/api/integrity/measurements?verdict=deny"), (Ids{3}));
  EXPECT_EQ(list("/api/integrity/measurements?verdict=none"), (Ids{1}));
  EXPECT_EQ(list("/api/integrity/measurements?path=/usr/bin/"), (Ids{3, 2}));
  EXPECT_EQ(list("/api/integrity/measurements?path=/usr/bin"), (Ids{4, 3, 2}));
  EXPECT_EQ(list("/api/integrity/measurements?path=/USR"), Ids{});
  EXPECT_EQ(list("/api/integrity/measurements?limit=1&before=3"), (Ids{2}));
  const json item = ok("/api/integrity/measurements?verdict=deny")["items"][0];
  EXPECT_EQ(item["index"], 2);
  EXPECT_EQ(item["pcr"], 10);
  EXPECT_EQ(item["template"], "ima-ng");
  EXPECT_EQ(item["path"], "/usr/bin/evil");
  EXPECT_EQ(list("/api/integrity/denials"), (Ids{3, 2}));
  EXPECT_EQ(list("/api/integrity/denials?until=1795456803"), (Ids{2}));
  EXPECT_EQ(list("/api/integrity/denials?since=1795456803"), (Ids{3}));
  const json denial = ok("/api/integrity/denials?limit=1")["items"][0];
  EXPECT_EQ(denial["reason"], "no signature");
  EXPECT_EQ(denial["entry"], (json{{"decision", "deny"}}));
}

TEST_F(WebApi, HealthRulesIntegrityPolicy) {
  const json health = ok("/api/health");
  EXPECT_EQ(health["status"], "ok");
  EXPECT_TRUE(health["store"].contains("committed"));
  EXPECT_TRUE(health["store"].contains("file_bytes"));
  store_->set_rule_hits({"Terminal shell", 7, kBaseNs});
  ASSERT_TRUE(store_->flush(10s));
  const json rules = ok("/api/rules");
  EXPECT_EQ(rules["loaded"][0]["hits"], 7);
  EXPECT_EQ(rules["loaded"][0]["last_hit"], "2026-11-23T18:00:00.000000000Z");
  EXPECT_FALSE(rules["loaded"][1].contains("hits"));
  EXPECT_EQ(ok("/api/integrity")["mode"], "log");
  EXPECT_TRUE(ok("/api/policy").contains("rules"));
  // token is access control's, accepted everywhere.
  EXPECT_EQ(ok("/api/health?token=abc")["status"], "ok");
  EXPECT_EQ(list("/api/alerts?token=abc"), Ids{});
}

// ---- bad input ------------------------------------------------------------------------------------

struct BadParam {
  std::string target;
  std::string named;  // the message names this
};

TEST_F(WebApi, EveryBadParameterIsA400NamingIt) {
  const std::string long_q(257, 'q');
  const std::vector<BadParam> cases = {
      {"/api/alerts?since=yesterday", "since"},
      {"/api/alerts?since=", "since"},
      {"/api/alerts?since=2026-02-30T00:00:00Z", "since"},
      {"/api/alerts?since=9999999999", "since"},
      {"/api/alerts?since=1795456801123456789", "since"},
      {"/api/alerts?until=-1", "until"},
      {"/api/alerts?since=1&since=2", "since"},
      {"/api/alerts?priority=loud", "priority"},
      {"/api/alerts?priority=warning&priority=debug", "priority"},
      {"/api/alerts?container=not%20an%20id", "container"},
      {"/api/alerts?container=" + std::string(65, 'a'), "container"},
      {"/api/alerts?container=host&container=host", "container"},
      {"/api/alerts?limit=0", "limit"},
      {"/api/alerts?limit=1001", "limit"},
      {"/api/alerts?limit=ten", "limit"},
      {"/api/alerts?limit=1&limit=2", "limit"},
      {"/api/alerts?before=0", "before"},
      {"/api/alerts?before=-3", "before"},
      {"/api/alerts?before=99999999999999999999", "before"},
      {"/api/alerts?rules=x", "rules"},
      {"/api/alerts?Since=1", "Since"},
      {"/api/events?since=x", "since"},
      {"/api/events?until=x", "until"},
      {"/api/events?container=a/b", "container"},
      {"/api/events?pid=-1", "pid"},
      {"/api/events?pid=abc", "pid"},
      {"/api/events?pid=2147483648", "pid"},
      {"/api/events?pid=1&pid=2", "pid"},
      {"/api/events?q=a&q=b", "q"},
      {"/api/events?q=" + long_q, "q"},
      {"/api/events?limit=0", "limit"},
      {"/api/events?before=x", "before"},
      {"/api/events?priority=warning", "priority"},
      {"/api/processes?container=%00", "container"},
      {"/api/processes?pid=1", "pid"},
      {"/api/containers/host/activity?since=x", "since"},
      {"/api/containers/host/activity?until=x", "until"},
      {"/api/containers/host/activity?since=1795456800&until=1795456800", "until"},
      {"/api/containers/host/activity?since=1795456800&until=1795456700", "until"},
      {"/api/containers/host/activity?since=1795456800&until=1795543210", "since"},
      {"/api/containers/host/activity?since=0&until=9000000000", "since"},
      {"/api/containers/host/activity?limit=5", "limit"},
      {"/api/integrity/measurements?verdict=maybe", "verdict"},
      {"/api/integrity/measurements?verdict=allow&verdict=deny", "verdict"},
      {"/api/integrity/measurements?path=/a&path=/b", "path"},
      {"/api/integrity/measurements?limit=x", "limit"},
      {"/api/integrity/measurements?before=x", "before"},
      {"/api/integrity/measurements?since=1", "since"},
      {"/api/integrity/denials?since=x", "since"},
      {"/api/integrity/denials?until=x", "until"},
      {"/api/integrity/denials?limit=2000", "limit"},
      {"/api/integrity/denials?verdict=allow", "verdict"},
      {"/api/health?verbose=1", "verbose"},
      {"/api/containers?all=1", "all"},
      {"/api/integrity?x=1", "x"},
      {"/api/rules?x=1", "x"},
      {"/api/policy?x=1", "x"},
      {"/api/alerts/1?x=1", "x"},
  };
  add_alerts();
  for (const BadParam& bad : cases) {
    const std::string message = error(bad.target, 400);
    EXPECT_NE(message.find("'" + bad.named + "'"), std::string::npos) << bad.target << ": " << message;
  }
}

TEST_F(WebApi, UnknownPathsAre404) {
  add_alerts();
  for (const char* path : {"", "/", "/api", "/api/", "/api/nope", "/apix/alerts", "/ap", "/metrics", "/api/stream",
                           "/index.html", "/api/alerts/1/2", "/api/alerts/abc", "/api/alerts/0", "/api/alerts/-1",
                           "/api/alerts/1.0", "/api/alerts/99999999999999999999", "/api/alerts/999",
                           "/api/containers/host", "/api/containers/host/nope", "/api/containers/a%20b/activity",
                           "/api/containers/" "..%2F..%2Fetc" "/activity", "/api/integrity/nope",
                           "/api/integrity/measurements/1", "/api/health/x", "/API/alerts", "/api/Alerts"}) {
    const std::string message = error(path, 404);
    EXPECT_LT(message.size(), 200u) << path;
  }
  // Long garbage in a path is not echoed back whole.
  EXPECT_LT(error("/api/alerts/" + std::string(5000, '9'), 404).size(), 200u);
  EXPECT_LT(error("/api/containers/" + std::string(5000, 'x') + "/activity", 404).size(), 200u);
}

TEST_F(WebApi, TheApiIsReadOnly) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", ""}) {
    EXPECT_NE(error("/api/alerts", 405, method).find("read-only"), std::string::npos) << method;
  }
  EXPECT_EQ(api_->handle(request_for("/api/health", "HEAD")).status, 200);
  EXPECT_EQ(api_->handle(request_for("/nope", "POST")).status, 404);
}

TEST_F(WebApi, StoredJunkIsShownNotFatal) {
  store::AlertRecord junk = alert_at(1, "r", 99, "");
  junk.json = "{not json";
  junk.output = std::string("\xff\xfe\0nul", 6);
  store_->add_alert(junk);
  store::AlertRecord array = alert_at(2, "r", -1, "");
  array.json = R"([1, 2])";
  store_->add_alert(array);
  store::AlertRecord wrong_types = alert_at(3, "r", 4, "");
  wrong_types.json = R"({"output_fields": 5, "tags": "x", "process_tree": 7, "id": "forged"})";
  store_->add_alert(wrong_types);
  store::EventRecord event = event_at(1, "execve", "", 1, "\xc3");
  event.json = "null";
  store_->add_event(event);
  ASSERT_TRUE(store_->flush(10s));
  const json alerts = ok("/api/alerts");
  ASSERT_EQ(alerts["items"].size(), 3u);
  EXPECT_EQ(alerts["items"][2]["priority"], "Unknown");
  EXPECT_EQ(alerts["items"][1]["priority"], "Unknown");
  EXPECT_TRUE(alerts["items"][0]["output_fields"].is_object());
  EXPECT_TRUE(alerts["items"][0]["tags"].is_array());
  EXPECT_EQ(alerts["items"][0]["id"], 3);
  EXPECT_EQ(ok("/api/alerts/3")["id"], 3);
  const json events = ok("/api/events");
  EXPECT_EQ(events["items"][0]["event"], json::object());
}

// ---- failures inside: 500, never a crash ---------------------------------------------------------

// A store whose every read fails (a damaged file, a full disk).
class FailingStore : public store::Store {
 public:
  bool add_alert(store::AlertRecord) override { return false; }
  bool add_event(store::EventRecord) override { return false; }
  bool add_measurement(store::MeasurementRecord) override { return false; }
  bool add_decision(store::DecisionRecord) override { return false; }
  bool add_activity(store::ActivityCount) override { return false; }
  bool set_rule_hits(store::RuleHits) override { return false; }
  void set_container_name(std::string, std::string) override {}
  bool flush(std::chrono::milliseconds) override { return false; }
  Result<store::Page<store::AlertRecord>> alerts(const store::AlertQuery&) const override { return broken(); }
  Result<std::optional<store::AlertRecord>> alert(std::int64_t) const override { return broken(); }
  Result<store::Page<store::EventRecord>> events(const store::EventQuery&) const override { return broken(); }
  Result<store::Page<store::MeasurementRecord>> measurements(const store::MeasurementQuery&) const override {
    return broken();
  }
  Result<store::Page<store::DecisionRecord>> decisions(const store::DecisionQuery&) const override { return broken(); }
  Result<std::vector<store::ActivityCount>> activity(const store::ActivityQuery&) const override { return broken(); }
  Result<std::vector<store::RuleHits>> rule_hits() const override { return broken(); }
  Result<std::vector<store::ContainerSummary>> containers() const override { return broken(); }
  store::StoreStats stats() const override { return {.last_error = "disk I/O error"}; }
  Result<void> enforce_retention() override { return broken(); }

 private:
  static std::unexpected<Error> broken() { return std::unexpected(Error{"disk I/O error"}); }
};

TEST(WebApiFailures, AFailingStoreIs500) {
  FailingStore store;
  test::FakeConsoleBackend backend;
  const Api api(store, backend);
  for (const char* path : {"/api/alerts", "/api/alerts/1", "/api/events", "/api/containers",
                           "/api/containers/host/activity", "/api/integrity/measurements", "/api/integrity/denials"}) {
    const ApiResponse response = api.handle(request_for(path));
    EXPECT_EQ(response.status, 500) << path;
    EXPECT_NE(response.body.find("store: disk I/O error"), std::string::npos) << path << ": " << response.body;
  }
  // What does not need the store's rows still answers.
  const ApiResponse health = api.handle(request_for("/api/health"));
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("disk I/O error"), std::string::npos);
  EXPECT_EQ(api.handle(request_for("/api/rules")).status, 200);
  EXPECT_EQ(api.handle(request_for("/api/processes")).status, 200);
  // Bad parameters are still the request's fault.
  EXPECT_EQ(api.handle(request_for("/api/alerts?limit=0")).status, 400);
  EXPECT_FALSE(api.alerts_after(0, 10));
  EXPECT_FALSE(api.latest_alert_id());
}

// A backend that throws: the request gets a 500, the server thread lives on.
class ThrowingBackend : public test::FakeConsoleBackend {
 public:
  nlohmann::json health() const override { throw std::runtime_error("health exploded"); }
  nlohmann::json rules() const override { return json::parse("{"); }  // throws parse_error
  std::optional<nlohmann::json> running_containers() const override { return json{{"abc", 5}}; }
};

TEST(WebApiFailures, ABackendThatThrowsIs500) {
  test::TempDir dir;
  auto store = store::open_sqlite_store({.path = dir / "console.db"});
  ASSERT_TRUE(store) << store.error().message;
  ThrowingBackend backend;
  const Api api(**store, backend);
  for (const char* path : {"/api/health", "/api/rules"}) {
    const ApiResponse response = api.handle(request_for(path));
    EXPECT_EQ(response.status, 500) << path;
    EXPECT_NE(response.body.find("internal error"), std::string::npos) << response.body;
  }
  // The agent never sends a malformed running-container document; if it did: a 500, not a crash.
  EXPECT_EQ(api.handle(request_for("/api/containers")).status, 500);
}

// ---- the live stream's source ----------------------------------------------------------------------

TEST_F(WebApi, AlertsAfterAnIdOldestFirst) {
  add_alerts();
  EXPECT_EQ(api_->latest_alert_id().value(), 6);
  auto after = api_->alerts_after(2, 100);
  ASSERT_TRUE(after);
  std::vector<std::int64_t> got;
  for (const auto& alert : *after) got.push_back(alert.id);
  EXPECT_EQ(got, (Ids{3, 4, 5, 6}));
  after = api_->alerts_after(0, 2);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].id, 1);
  EXPECT_TRUE(api_->alerts_after(6, 100)->empty());
  EXPECT_TRUE(api_->alerts_after(1000, 100)->empty());
}

TEST_F(WebApi, AlertsAfterWalksPagesOfTheStore) {
  for (int i = 0; i < 2500; ++i) store_->add_alert(alert_at(i, "r", 4, ""));
  ASSERT_TRUE(store_->flush(30s));
  auto after = api_->alerts_after(10, 0);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), 2490u);
  EXPECT_EQ(after->front().id, 11);
  EXPECT_EQ(after->back().id, 2500);
  EXPECT_TRUE(std::ranges::is_sorted(*after, {}, &store::AlertRecord::id));
}

// ---- records as JSON -------------------------------------------------------------------------------

TEST(WebRecordJson, PriorityNames) {
  EXPECT_EQ(priority_text(0), "Emergency");
  EXPECT_EQ(priority_text(4), "Warning");
  EXPECT_EQ(priority_text(6), "Informational");
  EXPECT_EQ(priority_text(7), "Debug");
  EXPECT_EQ(priority_text(-1), "Unknown");
  EXPECT_EQ(priority_text(8), "Unknown");
  EXPECT_EQ(priority_text(std::numeric_limits<int>::min()), "Unknown");
}

TEST(WebRecordJson, NotUtf8IsReplacedNotThrown) {
  store::AlertRecord alert;
  alert.output = "\xff\xfe";
  alert.rule = "\xc3";
  const ApiResponse response = json_response(200, alert_json(alert, true));
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(json::parse(response.body, nullptr, false).is_discarded()) << response.body;
}

// ---- /metrics ------------------------------------------------------------------------------------

// Every line is a comment or `name{labels} value`; each family's HELP and TYPE appear once.
void expect_exposition_format(const std::string& text) {
  static const std::regex kSample(R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$)re");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::set<std::string> help, type;
  std::size_t start = 0;
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("# ")) {
      EXPECT_TRUE(std::regex_match(line, kComment)) << line;
      std::istringstream words(line.substr(2));
      std::string kind, name;
      words >> kind >> name;
      EXPECT_TRUE((kind == "HELP" ? help : type).insert(name).second) << "twice: " << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, kSample)) << line;
    }
  }
  EXPECT_EQ(help, type);
}

TEST(WebMetrics, RendersTheStatusDocument) {
  const json status = {
      {"permission_events", 10},
      {"allowed", 8},
      {"denied", 2},
      {"decision_latency", {{"buckets", {{0.001, 5}, {0.01, 9}}}, {"count", 10}, {"sum_seconds", 0.02}}},
      {"runtime",
       {{"events_by_type", {{"execve", 12}, {"openat", 30}}},
        {"drops_per_cpu", {0, 4}},
        {"processes", {{"live", 77}}},
        {"rules",
         {{"hits", {{"Terminal shell", 3}, {"Odd \"name\"\\\n", 1}}},
          {"alerts", 4},
          {"eval_ns", 1500000000},
          {"outputs", json::array({json{{"name", "stdout"}, {"delivered", 4}}})}}}}},
      {"console", {{"store", {{"committed", 99}}}, {"http_requests", {{"200", 5}, {"404", 1}}}, {"stream_clients", 2}}},
      {"netpolicy",
       {{"policies", json::array({json{{"name", "web"}, {"allowed", 7}, {"denied", 3}, {"audited", 1}, {"lost", 0}}})}}}};
  const std::string text = render_metrics(status);
  expect_exposition_format(text);
  for (const char* line :
       {"vigil_up 1\n", "vigil_decisions_total{verdict=\"deny\"} 2\n", "vigil_events_total{type=\"execve\"} 12\n",
        "vigil_event_drops_total{cpu=\"1\"} 4\n", "vigil_processes_live 77\n",
        "vigil_rule_hits_total{rule=\"Odd \\\"name\\\"\\\\\\n\"} 1\n", "vigil_rule_eval_seconds_total 1.5\n",
        "vigil_decision_latency_seconds_bucket{le=\"0.001\"} 5\n",
        "vigil_decision_latency_seconds_bucket{le=\"+Inf\"} 10\n", "vigil_decision_latency_seconds_sum 0.02\n",
        "vigil_output_alerts_total{output=\"stdout\",outcome=\"delivered\"} 4\n", "vigil_store_rows_total 99\n",
        "vigil_http_requests_total{code=\"404\"} 1\n", "vigil_stream_clients 2\n",
        "vigil_netpolicy_flows_total{policy=\"web\",verdict=\"deny\"} 3\n",
        "vigil_netpolicy_flows_total{policy=\"web\",verdict=\"would-deny\"} 1\n",
        "vigil_netpolicy_flow_records_lost_total{policy=\"web\"} 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST(WebMetrics, MalformedStatusRendersWhatItCanAndNeverThrows) {
  const std::vector<json> documents = {
      json(),
      json::array(),
      json(5),
      json("text"),
      {{"runtime", 5}, {"console", "x"}, {"decision_latency", {{"buckets", 3}}}},
      {{"decision_latency", {{"buckets", {1, {1}, {"a", 1}, {1, 2, 3}, json::object()}}, {"count", "n"}}}},
      {{"runtime",
        {{"rules",
          {{"outputs", json::array({5, "x", json::array(), json{{"name", 3}}, json{{"name", nullptr}}})}}}}}},
      {{"runtime", {{"rules", {{"outputs", {{"not", "array"}}}, {"hits", {1, 2}}}}}}},
      {{"runtime", {{"events_by_type", {{"execve", "many"}}}, {"drops_per_cpu", {{"a", 1}}}, {"ring_buffer", 1}}}},
      {{"console", {{"http_requests", {{"200", json::object()}}}, {"store", json::array()}}}},
      {{"allowed", 1e308}, {"denied", -1e308}, {"timeouts", std::numeric_limits<double>::quiet_NaN()}},
      {{"allowed", std::numeric_limits<std::uint64_t>::max()}, {"denied", std::numeric_limits<std::int64_t>::min()}},
  };
  for (const json& status : documents) {
    std::string text;
    ASSERT_NO_THROW(text = render_metrics(status)) << status.dump();
    EXPECT_NE(text.find("vigil_up 1\n"), std::string::npos);
    expect_exposition_format(text);
  }
  // An output without a usable name is still counted, under "".
  const std::string text = render_metrics(
      {{"runtime", {{"rules", {{"outputs", json::array({json{{"name", 3}, {"delivered", 2}}, 7})}}}}}});
  EXPECT_NE(text.find("vigil_output_alerts_total{output=\"\",outcome=\"delivered\"} 2\n"), std::string::npos) << text;
}

TEST(WebMetrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value(""), "");
}

}  // namespace
}  // namespace vigil::web
