#pragma once
// One place alerts are written to. AlertOutputs calls deliver() from the sink's own worker
// thread, one alert at a time, so a sink needs no locking of its own and may block (up to
// its timeouts) without holding up the agent.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "outputs/alert.h"

namespace vigil::outputs {

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Names the sink in counters and messages: "stdout", "file:/path", "webhook:http://...".
  virtual std::string name() const = 0;
  // Writes one alert. An error is counted as failed for this sink, its message kept as the
  // sink's last error; the alert is not retried by the caller (a sink retries inside if it wants).
  virtual Result<void> deliver(const Alert& alert) = 0;
  // Called from another thread at shutdown: make a deliver() in progress return soon
  // (cancel a request, stop waiting to retry). Later deliver() calls may fail at once.
  virtual void interrupt() {}
};

// What happened to the alerts routed to one sink since it was added.
struct SinkStatus {
  std::string name;
  uint64_t delivered = 0;  // deliver() succeeded
  uint64_t dropped = 0;    // the queue was full (or the outputs had stopped): never handed to the sink
  uint64_t failed = 0;     // deliver() returned an error (or threw)
  std::string last_error;  // the latest failure's message; empty if none
};

}  // namespace vigil::outputs
