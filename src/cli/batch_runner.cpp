#include "cli/batch_runner.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/progress_bar.h"

namespace vigil::cli {

unsigned default_jobs() { return std::max(1u, std::thread::hardware_concurrency()); }

void run_batch(size_t count, unsigned jobs, const std::string& label, bool show_progress,
               const std::function<void(size_t)>& work) {
  if (count == 0) return;
  jobs = static_cast<unsigned>(std::clamp<size_t>(jobs, 1, count));
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mutex;
  std::condition_variable all_done;

  auto worker = [&] {
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < count;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      work(i);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
        std::lock_guard lock(mutex);
        all_done.notify_all();
      }
    }
  };

  ProgressBar bar(label, count, show_progress);
  std::vector<std::jthread> threads;
  threads.reserve(jobs);
  for (unsigned t = 0; t < jobs; ++t) threads.emplace_back(worker);
  {
    std::unique_lock lock(mutex);
    while (!all_done.wait_for(lock, std::chrono::milliseconds(100),
                              [&] { return done.load(std::memory_order_acquire) == count; })) {
      bar.update(done.load(std::memory_order_relaxed));
    }
  }
  threads.clear();
  bar.finish();
}

}  // namespace vigil::cli
