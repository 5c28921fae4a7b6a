#include "agent/console_feed.h"

#include "common/hex_text.h"
#include "common/time_text.h"
#include "crypto/crypto.h"
#include "ima/template.h"
#include "web/record_json.h"

namespace vigil::agent {

namespace {

class StoreAlertSink final : public outputs::AlertSink {
 public:
  explicit StoreAlertSink(store::Store& store) : store_(store) {}
  std::string name() const override { return "console-store"; }
  Result<void> deliver(const outputs::Alert& alert) override {
    if (!store_.add_alert(alert_record(alert))) return fail("the console store's queue is full");
    return {};
  }

 private:
  store::Store& store_;
};

// Audit times are RFC 3339 text; the store wants ns. The entry was just written, so "now" is
// the same instant to within the call.
std::int64_t entry_time_ns() { return wall_clock_ns(); }

}  // namespace

store::AlertRecord alert_record(const outputs::Alert& alert) {
  store::AlertRecord record;
  record.time_ns = alert.time_ns;
  record.rule = alert.rule;
  record.priority = static_cast<int>(alert.priority);
  record.output = alert.output;
  record.container_id = alert.container_id;
  record.container_name = alert.container_name;
  record.pid = alert.pid;
  record.action = alert.action;
  record.json = outputs::alert_to_json(alert).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return record;
}

std::unique_ptr<outputs::AlertSink> ConsoleFeed::alert_sink() { return std::make_unique<StoreAlertSink>(store_); }

void ConsoleFeed::on_audit(const nlohmann::json& entry) {
  const std::string event = entry.value("event", "");
  if (event == "netflow") return on_netflow(entry);
  if (event != "appraisal" && event != "exec-guard-kill") return;
  store::DecisionRecord decision;
  decision.time_ns = entry_time_ns();
  decision.verdict = entry.value("verdict", event == "exec-guard-kill" ? "deny" : "");
  decision.path = entry.value("path", "");
  if (auto pid = entry.find("pid"); pid != entry.end() && pid->is_number_integer()) decision.pid = pid->get<std::int64_t>();
  if (entry.contains("reason") && entry["reason"].is_string()) {
    decision.reason = entry["reason"].get<std::string>();
  } else if (entry.contains("cause") && entry["cause"].is_string()) {
    decision.reason = entry["cause"].get<std::string>();
  } else if (entry.value("result", "") != "pass" && entry.contains("status") && entry["status"].is_string()) {
    decision.reason = entry["status"].get<std::string>();
  }
  decision.json = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  store_.add_decision(std::move(decision));
}

// Every flow record the agent logs (denied, would-deny, allowed as the kernel samples them) is
// kept as an event of type "netflow": the Flows page and /api/netpolicy/flows read them.
void ConsoleFeed::on_netflow(const nlohmann::json& flow) {
  store::EventRecord record;
  const auto time = flow.find("time_ns");
  record.time_ns = time != flow.end() && time->is_number_integer() ? time->get<std::int64_t>() : entry_time_ns();
  record.type = "netflow";
  if (auto pid = flow.find("pid"); pid != flow.end() && pid->is_number_integer()) record.pid = pid->get<std::int64_t>();
  if (auto comm = flow.find("comm"); comm != flow.end() && comm->is_string()) record.process = comm->get<std::string>();
  record.summary = web::netflow_summary(flow);
  record.json = flow.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  store_.add_event(std::move(record));
}

void ConsoleFeed::on_measurement(const ima::MeasurementEntry& entry, std::size_t index, std::string_view verdict) {
  store::MeasurementRecord record;
  record.index = static_cast<std::int64_t>(index);
  record.time_ns = wall_clock_ns();
  record.pcr = static_cast<int>(entry.pcr);
  record.template_name = std::string(ima::template_name_text(entry.template_name));
  record.template_hash = hex_text(entry.template_sha1);  // the column ascii_runtime_measurements shows
  record.file_hash = std::string(crypto::hash_name(entry.file_digest.algo)) + ":" + entry.file_digest.hex();
  record.path = entry.path;
  record.verdict = std::string(verdict);
  store_.add_measurement(std::move(record));
}

}  // namespace vigil::agent
