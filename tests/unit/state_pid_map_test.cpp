// The open-addressing pid index against std::unordered_map, with churn that exercises
// wrap-around probe runs, backward-shift deletion and growth.
#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

#include "state/pid_map.h"

using vigil::state::PidMap;

TEST(StatePidMap, BehavesLikeAMapUnderChurn) {
  PidMap map(16);
  std::unordered_map<std::uint32_t, std::uint32_t> reference;
  std::mt19937 random(12345);
  // A small key range forces collisions, re-inserts and deletes of present keys.
  std::uniform_int_distribution<std::uint32_t> key(1, 3000);
  for (int step = 0; step < 200000; ++step) {
    const std::uint32_t pid = key(random);
    switch (random() % 3) {
      case 0:
      case 1: {
        const std::uint32_t slot = static_cast<std::uint32_t>(step);
        map.insert(pid, slot);
        reference[pid] = slot;
        break;
      }
      case 2: EXPECT_EQ(map.erase(pid), reference.erase(pid) == 1); break;
    }
    if (step % 997 == 0) {
      for (std::uint32_t probe = 1; probe <= 3000; ++probe) {
        const auto found = map.find(probe);
        const auto want = reference.find(probe);
        ASSERT_EQ(found.has_value(), want != reference.end()) << "pid " << probe << " step " << step;
        if (found) {
          ASSERT_EQ(*found, want->second);
        }
      }
    }
  }
  EXPECT_EQ(map.size(), reference.size());
}

TEST(StatePidMap, PidZeroIsNeverStored) {
  PidMap map;
  map.insert(0, 7);
  EXPECT_FALSE(map.find(0));
  EXPECT_EQ(map.size(), 0u);
  EXPECT_FALSE(map.erase(0));
  map.insert(4194304, 1);  // pid_max on 64-bit
  map.insert(0xffffffffu, 2);
  EXPECT_EQ(map.find(4194304).value_or(0), 1u);
  EXPECT_EQ(map.find(0xffffffffu).value_or(0), 2u);
  map.clear();
  EXPECT_FALSE(map.find(4194304));
  EXPECT_EQ(map.size(), 0u);
}
