#pragma once
// Where rule alerts go (Falco-style outputs): stdout, files, syslog, webhooks. The agent
// builds one AlertOutputs from its config and calls publish() from its event thread; every
// sink has a bounded queue and a worker thread, so a slow or stuck sink costs the caller
// nothing and shows up as dropped alerts in that sink's counters. See docs/outputs.md.
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "outputs/alert.h"
#include "outputs/config.h"
#include "outputs/sink.h"

namespace vigil::outputs {

class SinkWorker;

class AlertOutputs {
 public:
  AlertOutputs();
  // stop(2 s): what is queued gets two seconds to go out.
  ~AlertOutputs();
  AlertOutputs(const AlertOutputs&) = delete;
  AlertOutputs& operator=(const AlertOutputs&) = delete;

  // Adding is setup: call it before the first publish(), not concurrently with it.
  // Fails when the output cannot be set up (a file that cannot be opened, a bad URL).
  Result<void> add(const OutputConfig& config);
  void add(std::unique_ptr<AlertSink> sink, const DeliveryOptions& delivery);

  // Queues the alert for every sink whose min_priority it meets. Never waits for a sink:
  // a full queue counts the alert as dropped for that sink. Safe from any thread.
  void publish(const Alert& alert);
  // Waits until every queue is empty and no delivery is in progress; false on timeout.
  bool flush(std::chrono::milliseconds timeout);
  // Flushes for up to drain_timeout, then interrupts the sinks and joins the workers;
  // alerts still queued count as dropped, as does anything published afterwards. Idempotent.
  void stop(std::chrono::milliseconds drain_timeout);

  // Counters per sink, in the order the sinks were added.
  std::vector<SinkStatus> status() const;

 private:
  std::vector<std::unique_ptr<SinkWorker>> workers_;
  std::string hostname_;  // filled into alerts that carry none
  std::mutex stop_mutex_;
};

// Builds the sink one output config names (exposed for tests and for `vigil` commands that
// write to a single sink).
Result<std::unique_ptr<AlertSink>> make_sink(const OutputConfig& config);
// Every output in the config, added in order; the first failure names its index.
Result<std::unique_ptr<AlertOutputs>> make_outputs(const OutputsConfig& config);

}  // namespace vigil::outputs
