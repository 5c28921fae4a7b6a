// Arbitrary requests to the console API's request handling (src/web), not its socket: the
// access decision on a peer address, an Authorization header and ?token=, then the route,
// its parameters and the store queries they make, over a real SQLite store holding a few rows
// of every kind. The input is lines:
//   peer address \n Authorization header \n method \n target (path?query, percent-encoded)
// and, whole, a status document for /metrics when it is JSON. Whatever the input, the API
// answers a JSON document with a status it documents; a 500 (an exception inside, a failed
// query) is a finding, and so is anything that throws out.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "../unit/web_fake_backend.h"
#include "store/store.h"
#include "web/access.h"
#include "web/api.h"
#include "web/metrics.h"
#include "web/params.h"

namespace {

using namespace std::chrono_literals;

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kBaseNs = 1'795'456'800'000'000'000;

struct World {
  std::string dir;
  std::unique_ptr<vigil::store::Store> store;
  vigil::test::FakeConsoleBackend backend;
  std::unique_ptr<vigil::web::Api> api;

  World() {
    char name[] = "/tmp/vigil-fuzz-web-XXXXXX";
    if (::mkdtemp(name) == nullptr) std::abort();
    dir = name;
    vigil::store::StoreConfig config;
    config.path = dir + "/console.db";
    config.max_age = std::chrono::hours(24 * 365 * 200);
    auto opened = vigil::store::open_sqlite_store(config);
    if (!opened) {
      std::fprintf(stderr, "store: %s\n", opened.error().message.c_str());
      std::abort();
    }
    store = std::move(*opened);
    const char* containers[] = {"", "3f2a1b4c5d6e", "aaaaaaaaaaaa"};
    store->set_container_name(containers[1], "web");
    for (int i = 0; i < 30; ++i) {
      const std::string container = containers[i % 3];
      vigil::store::AlertRecord alert;
      alert.time_ns = kBaseNs + i * 1'000'000'000LL;
      alert.rule = i % 2 ? "Terminal shell" : "Read sensitive file";
      alert.priority = i % 8;
      alert.output = "output " + std::to_string(i);
      alert.container_id = container;
      alert.pid = 100 + i;
      alert.action = "alert";
      alert.json = i % 5 == 0 ? "{broken" : R"({"process_tree": [{"pid": 1}], "tags": ["t"]})";
      store->add_alert(alert);
      vigil::store::EventRecord event;
      event.time_ns = alert.time_ns;
      event.type = i % 2 ? "execve" : "openat";
      event.container_id = container;
      event.pid = 100 + i;
      event.process = "p";
      event.summary = "summary %_\\ " + std::to_string(i);
      event.json = "{}";
      store->add_event(event);
      vigil::store::MeasurementRecord measurement;
      measurement.index = i;
      measurement.time_ns = alert.time_ns;
      measurement.path = "/usr/bin/" + std::to_string(i);
      measurement.verdict = i % 3 == 0 ? "" : i % 3 == 1 ? "allow" : "deny";
      store->add_measurement(measurement);
      vigil::store::DecisionRecord decision;
      decision.time_ns = alert.time_ns;
      decision.verdict = i % 2 ? "deny" : "allow";
      decision.path = measurement.path;
      decision.json = "[]";
      store->add_decision(decision);
      store->add_activity({1'795'456'800 + i * 10, container, event.type, i});
    }
    store->set_rule_hits({"Terminal shell", 15, kBaseNs});
    if (!store->flush(30s)) std::abort();
    api = std::make_unique<vigil::web::Api>(*store, backend);
  }
  ~World() {
    api.reset();
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

World& world() {
  static World instance;
  return instance;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// As the HTTP server decodes: %XX, and '+' as a space in the query.
std::string decode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

std::string_view next_line(std::string_view& input) {
  const std::size_t newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
  return line;
}

[[noreturn]] void finding(const char* what, const vigil::web::ApiRequest& request,
                          const vigil::web::ApiResponse& response) {
  std::fprintf(stderr, "%s: %s %s -> %d %s\n", what, request.method.c_str(), request.path.c_str(), response.status,
               response.body.substr(0, 500).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  std::string_view input = whole;
  const std::string_view peer = next_line(input);
  const std::string_view authorization = next_line(input);
  const std::string_view method = next_line(input);
  const std::string_view target = input;

  vigil::web::ApiRequest request;
  request.method = std::string(method);
  const std::size_t question = target.find('?');
  request.path = decode(target.substr(0, question), false);
  std::optional<std::string> token;
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const std::size_t equals = pair.find('=');
      std::string name = decode(pair.substr(0, equals), true);
      std::string value = equals == std::string_view::npos ? std::string() : decode(pair.substr(equals + 1), true);
      if (name == "token" && !token) token = value;
      request.params.emplace(std::move(name), std::move(value));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }

  // Access: loopback always in; elsewhere exactly the token.
  const vigil::web::Access access = vigil::web::check_access(
      peer, authorization, token ? std::optional<std::string_view>(*token) : std::nullopt, kToken);
  if (vigil::web::is_loopback_address(peer) && access != vigil::web::Access::allowed) std::abort();
  if (access == vigil::web::Access::allowed && !vigil::web::is_loopback_address(peer)) {
    const auto offered = vigil::web::offered_token(authorization, token);
    if (!offered || *offered != kToken) std::abort();
  }

  const vigil::web::ApiResponse response = w.api->handle(request);
  switch (response.status) {
    case 200:
    case 400:
    case 404:
    case 405:
    case 503:
      break;
    default:
      finding("undocumented status", request, response);
  }
  if (response.content_type != "application/json") finding("not JSON", request, response);
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object()) finding("body is not a JSON object", request, response);
  if (response.status != 200 && (!body.contains("error") || !body["error"].is_string()))
    finding("error without a message", request, response);

  // The parameter parsers on their own, on the raw target.
  (void)vigil::web::parse_time_ns(target);

  // The whole input as /metrics' status document.
  const nlohmann::json status = nlohmann::json::parse(whole, nullptr, false);
  if (!status.is_discarded()) {
    const std::string text = vigil::web::render_metrics(status);
    if (text.find("vigil_up 1\n") == std::string::npos) std::abort();
  }
  return 0;
}
