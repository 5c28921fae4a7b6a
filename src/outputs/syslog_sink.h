#pragma once
// Alerts to the local syslog daemon over its unix datagram socket, framed as RFC 5424 or
// RFC 3164 (the latter as glibc's syslog(3) frames it: no hostname). Written here rather
// than with syslog(3) because that has one process-wide socket and ident, no configurable
// path (tests bind their own socket) and no error reporting.
#include <string>

#include "outputs/config.h"
#include "outputs/sink.h"

namespace vigil::outputs {

class SyslogSink final : public AlertSink {
 public:
  // Does not connect: syslog may start after the agent; connection errors count per alert.
  explicit SyslogSink(const SyslogOutput& config);
  ~SyslogSink() override;
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

  std::string name() const override { return "syslog:" + config_.socket_path; }
  Result<void> deliver(const Alert& alert) override;

 private:
  Result<void> connect_socket();
  void close_socket();

  SyslogOutput config_;
  int fd_ = -1;
};

// The datagram for one alert, exposed for tests. pid is the sender's (PROCID / TAG[pid]).
std::string syslog_message(const SyslogOutput& config, const Alert& alert, int pid);

}  // namespace vigil::outputs
