#include "attest/net/alert_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/time_text.h"

namespace vigil::attest {

Result<void> AlertLog::append(const StateAlert& alert) {
  nlohmann::json line = {
      {"time", rfc3339_ns(alert.time_ns)}, {"agent", alert.agent},   {"state", alert.state},
      {"previous_state", alert.previous_state}, {"kind", alert.kind}, {"reason", alert.reason},
  };
  if (alert.failing_entry >= 0) {
    line["failing_entry"] = alert.failing_entry;
    line["failing_path"] = alert.failing_path;
  }
  // Agent-supplied text (paths) may hold invalid UTF-8: replace rather than throw.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) return fail_errno("alerts: cannot open " + path_);
  const ssize_t written = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size())) return fail("alerts: cannot write " + path_);
  return {};
}

}  // namespace vigil::attest
