// Process::loginuid and the capability sets: read from /proc, inherited on fork, updated by
// credential syscalls.
#include <gtest/gtest.h>

#include "events_test_records.h"
#include "state/process_table.h"
#include "state_fake_tree.h"

using namespace vigil::state;

namespace {

TEST(StateCredentials, SeedForkAndCredEvents) {
  vigil::state::testing::FakeTree tree;
  tree.add({.pid = 1, .ppid = 0, .comm = "init", .uid = 0, .euid = 0, .gid = 0, .egid = 0});
  tree.add({.pid = 50, .ppid = 1, .comm = "sshd", .uid = 0, .euid = 0, .gid = 0, .egid = 0, .loginuid = 1000,
            .cap_permitted = 0x1ffffffffffull, .cap_effective = 0x200000});
  auto resolver = tree.resolver();
  ProcessTableOptions options;
  options.proc_root = tree.proc();
  options.fill_misses_from_proc = false;
  ProcessTable table(*resolver, options);
  ASSERT_TRUE(table.seed());

  const Process* init = table.find(1);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->loginuid, kUnknownId);  // 4294967295 in the file: unset
  const Process* sshd = table.find(50);
  ASSERT_NE(sshd, nullptr);
  EXPECT_EQ(sshd->loginuid, 1000u);
  EXPECT_TRUE(sshd->caps_known);
  EXPECT_EQ(sshd->cap_permitted, 0x1ffffffffffull);
  EXPECT_EQ(sshd->cap_effective, 0x200000u);

  vigil::test::DecodedRecord fork(vigil::test::record_bytes(vigil::test::make_fork(50, 51)));
  table.apply(*fork);
  const Process* child = table.find(51);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->loginuid, 1000u);
  EXPECT_EQ(child->cap_effective, 0x200000u);

  auto setuid = vigil::test::make_setuid(51, 0, 1000);
  setuid.new_creds.cap_effective = 0;
  setuid.new_creds.cap_permitted = 0;
  vigil::test::DecodedRecord cred(vigil::test::record_bytes(setuid));
  table.apply(*cred);
  child = table.find(51);
  EXPECT_EQ(child->euid, 1000u);
  EXPECT_TRUE(child->caps_known);
  EXPECT_EQ(child->cap_effective, 0u);
  EXPECT_EQ(child->cap_permitted, 0u);
}

}  // namespace
