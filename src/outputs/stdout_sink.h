#pragma once
// Alerts as lines on standard output (or any descriptor the caller owns, for tests).
#include <unistd.h>

#include "outputs/config.h"
#include "outputs/sink.h"

namespace vigil::outputs {

class StdoutSink final : public AlertSink {
 public:
  explicit StdoutSink(LineFormat format, int fd = STDOUT_FILENO) : format_(format), fd_(fd) {}
  std::string name() const override { return fd_ == STDOUT_FILENO ? "stdout" : "fd:" + std::to_string(fd_); }
  Result<void> deliver(const Alert& alert) override;

 private:
  LineFormat format_;
  int fd_;  // not owned
};

}  // namespace vigil::outputs
