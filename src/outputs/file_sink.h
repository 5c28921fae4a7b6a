#pragma once
// Alerts appended to a file, one per line, rotated by size like logrotate's numbering
// (path.1 is the newest rotated file). The file is created 0600: alerts name users'
// files and commands. If someone removes or renames the file, the next alert reopens the
// path instead of writing into a file nobody can see.
#include <sys/types.h>

#include <cstdint>

#include "outputs/config.h"
#include "outputs/sink.h"

namespace vigil::outputs {

class FileSink final : public AlertSink {
 public:
  // Opens (creates) the file now, so a bad path is a config error at startup.
  static Result<std::unique_ptr<FileSink>> open(const FileOutput& config);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  std::string name() const override { return "file:" + config_.path; }
  Result<void> deliver(const Alert& alert) override;

 private:
  explicit FileSink(const FileOutput& config) : config_(config) {}
  Result<void> reopen();
  // True when the open descriptor is no longer the file at config_.path; else refreshes size_.
  bool replaced();
  Result<void> rotate();

  FileOutput config_;
  int fd_ = -1;
  uint64_t size_ = 0;  // bytes in the open file
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace vigil::outputs
