// Event type names, syscall numbers and record types agree with each other and with the ABI.
#include <gtest/gtest.h>

#include <sys/syscall.h>

#include <set>
#include <string>

#include "event_header.h"
#include "events/event.h"
#include "syscall_nr.h"

namespace {

using vigil::events::EventType;

TEST(EventsTypes, NamesRoundTripAndAreUnique) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < vigil::events::kEventTypeCount; ++i) {
    const auto type = static_cast<EventType>(i);
    const std::string name(vigil::events::event_type_name(type));
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(vigil::events::event_type_from_name(name), type) << name;
  }
  EXPECT_EQ(vigil::events::event_type_from_name("no_such_syscall"), EventType::unknown);
  EXPECT_EQ(vigil::events::event_type_from_name("OPENAT"), EventType::unknown);
  EXPECT_EQ(vigil::events::event_type_name(static_cast<EventType>(9999)), "unknown");
}

TEST(EventsTypes, FalcoStyleNames) {
  EXPECT_EQ(vigil::events::event_type_name(EventType::openat), "openat");
  EXPECT_EQ(vigil::events::event_type_name(EventType::connect), "connect");
  EXPECT_EQ(vigil::events::event_type_name(EventType::execve), "execve");
  EXPECT_EQ(vigil::events::event_type_name(EventType::procexit), "procexit");
  EXPECT_EQ(vigil::events::event_type_name(EventType::procexec), "procexec");
}

TEST(EventsTypes, SyscallNumbersMapBothWays) {
  EXPECT_EQ(vigil::events::event_type_of_syscall(VIGIL_NR_openat), EventType::openat);
  EXPECT_EQ(vigil::events::event_type_of_syscall(VIGIL_NR_execveat), EventType::execveat);
  EXPECT_EQ(vigil::events::event_type_of_syscall(VIGIL_NR_fchmodat2), EventType::fchmodat2);
  EXPECT_EQ(vigil::events::event_type_of_syscall(0), EventType::unknown);  // read: not captured
  EXPECT_EQ(vigil::events::event_type_of_syscall(-1), EventType::unknown);
  EXPECT_EQ(vigil::events::event_type_of_syscall(1 << 20), EventType::unknown);
  std::size_t syscalls = 0;
  for (std::size_t i = 0; i < vigil::events::kEventTypeCount; ++i) {
    const auto type = static_cast<EventType>(i);
    const auto nr = vigil::events::syscall_nr_of(type);
    if (nr < 0) continue;
    ++syscalls;
    EXPECT_EQ(vigil::events::event_type_of_syscall(nr), type) << vigil::events::event_type_name(type);
    EXPECT_GE(vigil::events::record_type_of(type), static_cast<std::uint32_t>(VIGIL_EVENT_SYSCALL_FILE));
  }
  EXPECT_EQ(syscalls, 66u);  // every syscall in bpf/abi/syscall_nr.h
#if defined(__x86_64__)
  EXPECT_EQ(vigil::events::syscall_nr_of(EventType::openat), SYS_openat);
  EXPECT_EQ(vigil::events::syscall_nr_of(EventType::connect), SYS_connect);
#endif
}

TEST(EventsTypes, RecordTypes) {
  EXPECT_EQ(vigil::events::record_type_of(EventType::procexec), static_cast<std::uint32_t>(VIGIL_EVENT_EXEC));
  EXPECT_EQ(vigil::events::record_type_of(EventType::dup2), static_cast<std::uint32_t>(VIGIL_EVENT_SYSCALL_PROC));
  EXPECT_EQ(vigil::events::record_type_of(EventType::bind), static_cast<std::uint32_t>(VIGIL_EVENT_SYSCALL_NET));
  EXPECT_EQ(vigil::events::record_type_of(EventType::execve), static_cast<std::uint32_t>(VIGIL_EVENT_SYSCALL_EXEC));
  EXPECT_EQ(vigil::events::record_type_of(EventType::unknown), 0u);
  EXPECT_EQ(vigil::events::syscall_nr_of(EventType::procexec), -1);
}

}  // namespace
