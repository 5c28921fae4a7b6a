#pragma once
// The agent's last few errors (failed measurements, PCR extends, reloads, logged errors), with
// when they happened, for `vigil status` and the console's status: an operator asking "what is
// wrong" sees it without reading the journal. Bounded; the oldest go first.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/time_text.h"

namespace vigil::agent {

class RecentErrors {
 public:
  explicit RecentErrors(std::size_t keep = 10) : keep_(keep) {}

  void add(std::string message) {
    const std::int64_t now = wall_clock_ns();
    std::lock_guard lock(mutex_);
    ++total_;
    // A repeat of the newest error (a failing disk, a dead TPM) counts up instead of pushing
    // the other errors out.
    if (!entries_.empty() && entries_.back().message == message) {
      entries_.back().last_ns = now;
      ++entries_.back().count;
      return;
    }
    if (entries_.size() == keep_) entries_.pop_front();
    entries_.push_back({std::move(message), now, now, 1});
  }

  // [{"time": last occurrence, "message", "count"}], oldest first.
  nlohmann::json to_json() const {
    std::lock_guard lock(mutex_);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& entry : entries_) {
      list.push_back({{"time", rfc3339_ns(entry.last_ns)}, {"message", entry.message}, {"count", entry.count}});
    }
    return list;
  }

  std::uint64_t total() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  struct Entry {
    std::string message;
    std::int64_t first_ns, last_ns;
    std::uint64_t count;
  };
  mutable std::mutex mutex_;
  std::size_t keep_;
  std::deque<Entry> entries_;
  std::uint64_t total_ = 0;
};

}  // namespace vigil::agent
