#pragma once
// What the agent's pillars hand to the console's store: alerts (as one more alert output),
// appraisal decisions (from the audit log) and measurement-list entries. Every call only
// queues (store::Store never waits for the disk), so the hot paths are not slowed.
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ima/measurement_list.h"
#include "outputs/sink.h"
#include "store/store.h"

namespace vigil::agent {

class ConsoleFeed {
 public:
  explicit ConsoleFeed(store::Store& store) : store_(store) {}
  // An alert output that writes to the store.
  std::unique_ptr<outputs::AlertSink> alert_sink();
  // Audit-log entries: "appraisal" and "exec-guard-kill" become decisions, "netflow" an event
  // of type netflow (on_netflow); others are ignored.
  void on_audit(const nlohmann::json& entry);
  void on_netflow(const nlohmann::json& flow);
  void on_measurement(const ima::MeasurementEntry& entry, std::size_t index, std::string_view verdict);
  store::Store& store() { return store_; }

 private:
  store::Store& store_;
};

store::AlertRecord alert_record(const outputs::Alert& alert);

}  // namespace vigil::agent
