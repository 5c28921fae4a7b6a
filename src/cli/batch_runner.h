#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace vigil::cli {

// Runs work(i) for every i in [0, count) on `jobs` threads, drawing a progress bar on a TTY.
// work must be thread-safe; each index runs exactly once.
void run_batch(size_t count, unsigned jobs, const std::string& label, bool show_progress,
               const std::function<void(size_t)>& work);

unsigned default_jobs();

}  // namespace vigil::cli
