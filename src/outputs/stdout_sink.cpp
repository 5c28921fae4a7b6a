#include "outputs/stdout_sink.h"

#include "outputs/write_all.h"

namespace vigil::outputs {

Result<void> StdoutSink::deliver(const Alert& alert) {
  // One write per line: lines from this worker never interleave mid-line with each other.
  const std::string line = format_ == LineFormat::json ? alert_json_line(alert) : alert_text_line(alert);
  return write_all(fd_, line, name());
}

}  // namespace vigil::outputs
