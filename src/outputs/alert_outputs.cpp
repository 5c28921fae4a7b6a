#include <unistd.h>

#include <climits>

#include "outputs/outputs.h"
#include "outputs/sink_worker.h"

namespace vigil::outputs {
namespace {

std::string this_host() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

}  // namespace

AlertOutputs::AlertOutputs() : hostname_(this_host()) {}

AlertOutputs::~AlertOutputs() { stop(std::chrono::seconds(2)); }

Result<void> AlertOutputs::add(const OutputConfig& config) {
  auto sink = make_sink(config);
  if (!sink) return std::unexpected(sink.error());
  add(std::move(*sink), config.delivery);
  return {};
}

void AlertOutputs::add(std::unique_ptr<AlertSink> sink, const DeliveryOptions& delivery) {
  if (!sink) return;
  workers_.push_back(std::make_unique<SinkWorker>(std::move(sink), delivery));
}

void AlertOutputs::publish(const Alert& alert) {
  // One copy shared by every queue that takes it; none if no sink wants this priority.
  std::shared_ptr<const Alert> shared;
  for (const auto& worker : workers_) {
    if (!worker->wants(alert.priority)) continue;
    if (!shared) {
      try {
        auto copy = std::make_shared<Alert>(alert);
        if (copy->hostname.empty()) copy->hostname = hostname_;
        shared = std::move(copy);
      } catch (const std::bad_alloc&) {
        // No memory for the copy: count the alert as dropped for every sink that wanted it.
        for (const auto& w : workers_) {
          if (w->wants(alert.priority)) w->count_dropped();
        }
        return;
      }
    }
    worker->offer(shared);
  }
}

bool AlertOutputs::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool all = true;
  for (const auto& worker : workers_) all = worker->wait_idle(deadline) && all;
  return all;
}

void AlertOutputs::stop(std::chrono::milliseconds drain_timeout) {
  std::lock_guard lock(stop_mutex_);
  if (drain_timeout.count() > 0) (void)flush(drain_timeout);
  for (const auto& worker : workers_) worker->stop();
}

std::vector<SinkStatus> AlertOutputs::status() const {
  std::vector<SinkStatus> out;
  out.reserve(workers_.size());
  for (const auto& worker : workers_) out.push_back(worker->status());
  return out;
}

Result<std::unique_ptr<AlertOutputs>> make_outputs(const OutputsConfig& config) {
  auto outputs = std::make_unique<AlertOutputs>();
  for (size_t i = 0; i < config.outputs.size(); ++i) {
    auto added = outputs->add(config.outputs[i]);
    if (!added) return fail("outputs[" + std::to_string(i) + "]: " + added.error().message, added.error().sys_errno);
  }
  return outputs;
}

}  // namespace vigil::outputs
