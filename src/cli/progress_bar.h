#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace vigil::cli {

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total, bool enabled);
  void update(size_t done);
  void finish();

 private:
  std::string label_;
  size_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

bool stderr_is_terminal();

}  // namespace vigil::cli
