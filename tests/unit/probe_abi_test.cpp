// The kernel/user ABI (bpf/abi/) has exactly the layout docs/bpf.md documents.
#include <gtest/gtest.h>

#include <cstddef>
#include <type_traits>

#include "event_header.h"
#include "probe/probe.h"
#include "process_events.h"

namespace {

#define VIGIL_EXPECT_FIELD(type, field, offset, size)                       \
  static_assert(offsetof(type, field) == (offset), #type "." #field " offset"); \
  static_assert(sizeof(type::field) == (size), #type "." #field " size")

static_assert(VIGIL_ABI_VERSION == 1);
static_assert(VIGIL_EVENT_EXEC == 1 && VIGIL_EVENT_FORK == 2 && VIGIL_EVENT_EXIT == 3);
static_assert(VIGIL_EVENT_TYPE_COUNT == 4);

static_assert(sizeof(vigil_event_header) == 80);
static_assert(alignof(vigil_event_header) == 8);
static_assert(std::is_trivially_copyable_v<vigil_event_header>);
VIGIL_EXPECT_FIELD(vigil_event_header, timestamp_ns, 0, 8);
VIGIL_EXPECT_FIELD(vigil_event_header, type, 8, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, size, 12, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, pid, 16, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, tid, 20, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, ppid, 24, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, uid, 28, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, gid, 32, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, reserved0, 36, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, cgroup_id, 40, 8);
VIGIL_EXPECT_FIELD(vigil_event_header, mnt_ns, 48, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, pid_ns, 52, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, net_ns, 56, 4);
VIGIL_EXPECT_FIELD(vigil_event_header, comm, 60, 16);
VIGIL_EXPECT_FIELD(vigil_event_header, reserved1, 76, 4);

static_assert(VIGIL_EXEC_FILENAME_MAX == 256 && VIGIL_EXEC_ARGS_MAX == 1024);
static_assert(VIGIL_EXEC_FILENAME_TRUNCATED == 1 && VIGIL_EXEC_ARGS_TRUNCATED == 2 &&
              VIGIL_EXEC_ARGS_UNREADABLE == 4);
static_assert(sizeof(vigil_exec_event) == 1392);
VIGIL_EXPECT_FIELD(vigil_exec_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_ino, 80, 8);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_dev, 88, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, argc, 92, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, args_size, 96, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, filename_size, 100, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, flags, 104, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, reserved0, 108, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, filename, 112, 256);
VIGIL_EXPECT_FIELD(vigil_exec_event, args, 368, 1024);

static_assert(sizeof(vigil_fork_event) == 88);
VIGIL_EXPECT_FIELD(vigil_fork_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_pid, 80, 4);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_tid, 84, 4);

static_assert(sizeof(vigil_exit_event) == 88);
VIGIL_EXPECT_FIELD(vigil_exit_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_exit_event, exit_code, 80, 4);
VIGIL_EXPECT_FIELD(vigil_exit_event, reserved0, 84, 4);

// Every record keeps 8-byte alignment in the ring buffer, which rounds sizes up to 8.
static_assert(sizeof(vigil_exec_event) % 8 == 0 && sizeof(vigil_fork_event) % 8 == 0 &&
              sizeof(vigil_exit_event) % 8 == 0);

TEST(ProbeAbi, LayoutsMatchTheDocumentation) {
  // The static_asserts above are the test; this keeps it visible in the test list.
  EXPECT_EQ(sizeof(vigil_event_header), 80u);
}

TEST(ProbeOptions, RingBufferSizeMustBeAPowerOfTwoOfPages) {
  using vigil::probe::ProcessProbeOptions;
  EXPECT_TRUE(vigil::probe::validate(ProcessProbeOptions{}).has_value());
  EXPECT_TRUE(vigil::probe::validate(ProcessProbeOptions{.ring_buffer_bytes = 1 << 16}).has_value());
  auto odd = vigil::probe::validate(ProcessProbeOptions{.ring_buffer_bytes = 3 << 16});
  ASSERT_FALSE(odd.has_value());
  EXPECT_NE(odd.error().message.find("power of two"), std::string::npos);
  EXPECT_FALSE(vigil::probe::validate(ProcessProbeOptions{.ring_buffer_bytes = 0}).has_value());
  EXPECT_FALSE(vigil::probe::validate(ProcessProbeOptions{.ring_buffer_bytes = 512}).has_value());
  EXPECT_FALSE(
      vigil::probe::validate(ProcessProbeOptions{.ring_buffer_bytes = std::size_t{1} << 31}).has_value());
}

}  // namespace
