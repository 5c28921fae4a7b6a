#pragma once
// The console's JSON API (docs/api.md) as a pure function of a request: no sockets here, so the
// routes are unit-tested and fuzzed without a server. src/web/http/server.h puts it on HTTP(S).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/store.h"

namespace vigil::web {

struct ApiRequest {
  std::string method = "GET";
  std::string path;                                 // decoded, without the query string
  std::multimap<std::string, std::string> params;   // decoded query parameters
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// What the running agent knows now (the store knows the past). The agent implements it;
// tests use a fake. Every call is made from HTTP worker threads, concurrently.
class ConsoleBackend {
 public:
  virtual ~ConsoleBackend() = default;
  // {"status": "ok", ...} as /api/health shows it (the API adds the store's stats).
  virtual nlohmann::json health() const = 0;
  // Live processes, each as docs/api.md's Process; only those of `container_id` when given
  // ("" = the host). nullopt when runtime detection is off.
  virtual std::optional<nlohmann::json> processes(const std::optional<std::string>& container_id) const = 0;
  // Containers with live processes now: id ("" = host) -> {"name", "processes"}.
  virtual std::optional<nlohmann::json> running_containers() const = 0;
  // The process and its ancestors now (the process first), for alerts stored without one.
  virtual nlohmann::json process_tree(std::int64_t pid) const = 0;
  virtual nlohmann::json integrity() const = 0;
  virtual nlohmann::json rules() const = 0;
  virtual nlohmann::json policy() const = 0;
  // The agent's status.json document; /metrics is rendered from it (src/web/metrics.h).
  virtual nlohmann::json status() const = 0;
};

class Api {
 public:
  Api(const store::Store& store, const ConsoleBackend& backend) : store_(store), backend_(backend) {}
  // Never throws; unknown paths 404, bad parameters 400 naming the parameter, a failing store 500.
  ApiResponse handle(const ApiRequest& request) const;
  // Alerts committed after `after_id`, oldest first, at most `limit` (the live stream's source).
  Result<std::vector<store::AlertRecord>> alerts_after(std::int64_t after_id, int limit) const;
  // The newest committed alert's id (0: none): where a stream without Last-Event-ID starts.
  Result<std::int64_t> latest_alert_id() const;
  // The store's counters as /api/health and /metrics show them.
  nlohmann::json store_status() const;

 private:
  Result<ApiResponse> route(const ApiRequest& request) const;
  Result<ApiResponse> alerts(const ApiRequest& request) const;
  Result<ApiResponse> alert(std::string_view id) const;
  Result<ApiResponse> events(const ApiRequest& request) const;
  Result<ApiResponse> processes(const ApiRequest& request) const;
  Result<ApiResponse> netflows(const ApiRequest& request) const;
  Result<ApiResponse> containers() const;
  Result<ApiResponse> activity(std::string_view id, const ApiRequest& request) const;
  Result<ApiResponse> integrity() const;
  Result<ApiResponse> measurements(const ApiRequest& request) const;
  Result<ApiResponse> denials(const ApiRequest& request) const;
  Result<ApiResponse> rules() const;
  Result<ApiResponse> health() const;

  const store::Store& store_;
  const ConsoleBackend& backend_;
};

ApiResponse json_response(int status, const nlohmann::json& body);
ApiResponse error_response(int status, std::string_view message);

}  // namespace vigil::web
