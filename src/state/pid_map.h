#pragma once
// pid -> slot index, open addressing with linear probing. The process table looks a pid up on
// every event; a node-based map would allocate on every fork. Deletion shifts later entries
// back (no tombstones), so lookups stay short however many processes come and go.
#include <cstdint>
#include <optional>
#include <vector>

namespace vigil::state {

class PidMap {
 public:
  explicit PidMap(std::size_t initial_capacity = 1024);

  // pid 0 is the empty marker: it never names a user-visible process.
  std::optional<std::uint32_t> find(std::uint32_t pid) const;
  // Inserts or overwrites. pid must not be 0.
  void insert(std::uint32_t pid, std::uint32_t slot);
  bool erase(std::uint32_t pid);
  std::size_t size() const { return size_; }
  void clear();

 private:
  struct Entry {
    std::uint32_t pid = 0;
    std::uint32_t slot = 0;
  };
  std::size_t home(std::uint32_t pid) const;
  void grow();

  std::vector<Entry> entries_;  // capacity is a power of two, at most half full
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace vigil::state
