#include "state/pid_map.h"

#include <bit>

namespace vigil::state {

PidMap::PidMap(std::size_t initial_capacity) {
  const std::size_t capacity = std::bit_ceil(initial_capacity < 16 ? std::size_t{16} : initial_capacity);
  entries_.assign(capacity, Entry{});
  mask_ = capacity - 1;
}

std::size_t PidMap::home(std::uint32_t pid) const {
  // Fibonacci hashing: consecutive pids (the common case) spread over the table.
  return static_cast<std::size_t>((static_cast<std::uint64_t>(pid) * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
}

std::optional<std::uint32_t> PidMap::find(std::uint32_t pid) const {
  if (pid == 0) return std::nullopt;
  for (std::size_t i = home(pid);; i = (i + 1) & mask_) {
    const Entry& entry = entries_[i];
    if (entry.pid == pid) return entry.slot;
    if (entry.pid == 0) return std::nullopt;
  }
}

void PidMap::insert(std::uint32_t pid, std::uint32_t slot) {
  if (pid == 0) return;
  if ((size_ + 1) * 2 > entries_.size()) grow();
  for (std::size_t i = home(pid);; i = (i + 1) & mask_) {
    Entry& entry = entries_[i];
    if (entry.pid == pid) {
      entry.slot = slot;
      return;
    }
    if (entry.pid == 0) {
      entry = Entry{pid, slot};
      ++size_;
      return;
    }
  }
}

bool PidMap::erase(std::uint32_t pid) {
  if (pid == 0) return false;
  std::size_t hole = home(pid);
  while (entries_[hole].pid != pid) {
    if (entries_[hole].pid == 0) return false;
    hole = (hole + 1) & mask_;
  }
  // Backward shift: move up every later entry of the probe run whose home is not between the
  // hole and its own position, so no lookup ever stops early at the freed slot.
  for (std::size_t next = (hole + 1) & mask_; entries_[next].pid != 0; next = (next + 1) & mask_) {
    const std::size_t want = home(entries_[next].pid);
    const bool stays = hole <= next ? (hole < want && want <= next) : (hole < want || want <= next);
    if (stays) continue;
    entries_[hole] = entries_[next];
    hole = next;
  }
  entries_[hole] = Entry{};
  --size_;
  return true;
}

void PidMap::clear() {
  entries_.assign(entries_.size(), Entry{});
  size_ = 0;
}

void PidMap::grow() {
  std::vector<Entry> old = std::move(entries_);
  entries_.assign(old.size() * 2, Entry{});
  mask_ = entries_.size() - 1;
  size_ = 0;
  for (const Entry& entry : old) {
    if (entry.pid != 0) insert(entry.pid, entry.slot);
  }
}

}  // namespace vigil::state
