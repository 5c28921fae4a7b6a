#pragma once
// Response times in fixed buckets, recorded lock-free from any thread (one relaxed increment
// per bucket and two for the sum and count), read as Prometheus wants them (cumulative).
#include <array>
#include <atomic>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace vigil::agent {

class LatencyHistogram {
 public:
  // Upper bounds in ns: 50 µs ... 1 s; slower answers only count towards +Inf.
  static constexpr std::array<std::int64_t, 14> kBoundsNs = {
      50'000,     100'000,    250'000,     500'000,     1'000'000,   2'500'000,   5'000'000,
      10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};

  void record(std::int64_t ns) {
    if (ns < 0) ns = 0;
    std::size_t bucket = 0;
    while (bucket < kBoundsNs.size() && ns > kBoundsNs[bucket]) ++bucket;
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }
  // {"buckets": [[le_seconds, cumulative count], ...], "count", "sum_seconds"}
  nlohmann::json to_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBoundsNs.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      buckets.push_back({static_cast<double>(kBoundsNs[i]) / 1e9, cumulative});
    }
    cumulative += counts_[kBoundsNs.size()].load(std::memory_order_relaxed);
    return {{"buckets", buckets},
            {"count", cumulative},
            {"sum_seconds", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9}};
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsNs.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace vigil::agent
