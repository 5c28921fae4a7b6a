#pragma once
// One JSON line per decision or measurement failure, appended with a single write(2) so
// concurrent writers never interleave within a line. Rotated by size like the alert file
// (path.1 is the newest rotated file): the console's store keeps the history, the file is
// for tools that tail it. Unlike the measurement list it may rotate: nothing replays it.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::agent {

struct AuditRotation {
  uint64_t max_size_bytes = uint64_t{64} << 20;  // rotate before a line would pass this; 0: never
  unsigned max_files = 5;                         // rotated files kept, path.1 .. path.<max_files>
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path, AuditRotation rotation = {});
  ~AuditLog();
  void record(nlohmann::json entry);  // adds "time" (RFC 3339, UTC, microseconds)
  // Told of every entry after it is written (the console's store). Set before the first
  // record(); called from the recording thread, so it must not block.
  void set_observer(std::function<void(const nlohmann::json& entry)> observer) { observer_ = std::move(observer); }
  const std::string& path() const { return path_; }

 private:
  AuditLog(int fd, std::string path, AuditRotation rotation, uint64_t size)
      : fd_(fd), path_(std::move(path)), rotation_(rotation), size_(size) {}
  // Renames path -> path.1 -> ... and opens a fresh file; on failure keeps writing the old one.
  void rotate_locked();

  std::mutex mutex_;  // the descriptor and size_ (rotation swaps the file)
  int fd_;
  std::string path_;
  AuditRotation rotation_;
  uint64_t size_;
  std::function<void(const nlohmann::json&)> observer_;
};

}  // namespace vigil::agent
