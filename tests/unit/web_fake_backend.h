#pragma once
// A ConsoleBackend (src/web/api.h) for the console's unit tests and its fuzzer: fixed documents
// the test may change, and a record of what the API asked for. Header-only, so
// tests/fuzz/fuzz_web_api.cpp uses it too. Safe from the server's worker threads.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "web/api.h"

namespace vigil::test {

class FakeConsoleBackend : public web::ConsoleBackend {
 public:
  FakeConsoleBackend() {
    health_ = {{"status", "ok"}, {"version", "test"}, {"hostname", "fake-host"}};
    processes_ = nlohmann::json::array({
        {{"pid", 1}, {"ppid", 0}, {"name", "init"}, {"container", {{"id", "host"}, {"name", "host"}}}},
        {{"pid", 4242}, {"ppid", 4200}, {"name", "cat"}, {"container", {{"id", "3f2a1b4c5d6e"}, {"name", "web"}}}},
    });
    running_ = {{"", {{"name", "host"}, {"processes", 1}}}, {"3f2a1b4c5d6e", {{"name", "web"}, {"processes", 1}}}};
    integrity_ = {{"mode", "log"}, {"measurements", 0}};
    rules_ = {{"enabled", true},
              {"loaded", nlohmann::json::array({{{"name", "Terminal shell"}, {"priority", "Notice"}, {"hits", 0}},
                                                {{"name", "Read sensitive file"}, {"priority", "Warning"}}})},
              {"skipped", nlohmann::json::array()},
              {"warnings", nlohmann::json::array()}};
    policy_ = {{"rules", nlohmann::json::array()}, {"warnings", nlohmann::json::array()}};
    status_ = {{"permission_events", 3}, {"allowed", 2}, {"denied", 1}};
  }

  // ---- what the API sees ----
  nlohmann::json health() const override { return get(health_); }
  std::optional<nlohmann::json> processes(const std::optional<std::string>& container_id) const override {
    std::lock_guard lock(mutex_);
    last_processes_container_ = container_id;
    ++processes_calls_;
    if (!processes_) return std::nullopt;
    if (!container_id || !processes_->is_array()) return processes_;
    const std::string wanted = container_id->empty() ? "host" : *container_id;
    nlohmann::json items = nlohmann::json::array();
    for (const auto& process : *processes_) {
      if (process.is_object() && process.contains("container") && process["container"].value("id", "") == wanted)
        items.push_back(process);
    }
    return items;
  }
  std::optional<nlohmann::json> running_containers() const override {
    std::lock_guard lock(mutex_);
    return running_;
  }
  nlohmann::json process_tree(std::int64_t pid) const override {
    std::lock_guard lock(mutex_);
    last_tree_pid_ = pid;
    return nlohmann::json::array({{{"pid", pid}, {"ppid", 1}, {"name", "live"}}});
  }
  nlohmann::json integrity() const override { return get(integrity_); }
  nlohmann::json rules() const override { return get(rules_); }
  nlohmann::json policy() const override { return get(policy_); }
  nlohmann::json status() const override { return get(status_); }

  // ---- what the test sets ----
  void set_health(nlohmann::json value) { set(health_, std::move(value)); }
  // nullopt: runtime detection off.
  void set_processes(std::optional<nlohmann::json> value) { set(processes_, std::move(value)); }
  void set_running(std::optional<nlohmann::json> value) { set(running_, std::move(value)); }
  void set_integrity(nlohmann::json value) { set(integrity_, std::move(value)); }
  void set_rules(nlohmann::json value) { set(rules_, std::move(value)); }
  void set_policy(nlohmann::json value) { set(policy_, std::move(value)); }
  void set_status(nlohmann::json value) { set(status_, std::move(value)); }

  // ---- what the API asked for ----
  std::optional<std::string> last_processes_container() const {
    std::lock_guard lock(mutex_);
    return last_processes_container_;
  }
  int processes_calls() const {
    std::lock_guard lock(mutex_);
    return processes_calls_;
  }
  std::optional<std::int64_t> last_tree_pid() const {
    std::lock_guard lock(mutex_);
    return last_tree_pid_;
  }

 private:
  template <class T>
  T get(const T& field) const {
    std::lock_guard lock(mutex_);
    return field;
  }
  template <class T>
  void set(T& field, T value) {
    std::lock_guard lock(mutex_);
    field = std::move(value);
  }

  mutable std::mutex mutex_;
  nlohmann::json health_, integrity_, rules_, policy_, status_;
  std::optional<nlohmann::json> processes_, running_;
  mutable std::optional<std::string> last_processes_container_;
  mutable int processes_calls_ = 0;
  mutable std::optional<std::int64_t> last_tree_pid_;
};

}  // namespace vigil::test
