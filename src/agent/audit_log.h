#pragma once
// One JSON line per decision or measurement failure, appended with a single write(2) so
// concurrent writers never interleave within a line.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::agent {

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path);
  ~AuditLog();
  void record(nlohmann::json entry);  // adds "time" (RFC 3339, UTC, microseconds)
  // Told of every entry after it is written (the console's store). Set before the first
  // record(); called from the recording thread, so it must not block.
  void set_observer(std::function<void(const nlohmann::json& entry)> observer) { observer_ = std::move(observer); }
  const std::string& path() const { return path_; }

 private:
  AuditLog(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::function<void(const nlohmann::json&)> observer_;
};

}  // namespace vigil::agent
