// Name, syscall number and record type of every EventType. Numbers are the x86_64 ones the
// records carry (bpf/abi/syscall_nr.h), whatever the host, so a name means the same syscall in a
// capture file and live.
#include <array>
#include <cstdint>
#include <string_view>

#include "event_header.h"
#include "events/event.h"
#include "syscall_nr.h"

namespace vigil::events {
namespace {

struct TypeRow {
  EventType type;
  std::string_view name;
  long syscall_nr;           // -1: not a syscall record
  std::uint32_t record_type;  // enum vigil_event_type carrying it
};

#define VIGIL_SYSCALL_ROW(name, record) {EventType::name, #name, VIGIL_NR_##name, record}

// In enumerator order (checked below), so a type's row is kTypes[type].
constexpr TypeRow kTypes[] = {
    {EventType::unknown, "unknown", -1, 0},
    {EventType::procexec, "procexec", -1, VIGIL_EVENT_EXEC},
    {EventType::fork, "fork", -1, VIGIL_EVENT_FORK},
    {EventType::procexit, "procexit", -1, VIGIL_EVENT_EXIT},
    VIGIL_SYSCALL_ROW(open, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(creat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(openat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(openat2, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(unlink, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(unlinkat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(rename, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(renameat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(renameat2, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(chmod, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchmod, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchmodat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchmodat2, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(chown, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchown, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchownat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(lchown, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(mount, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(umount2, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(chdir, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(fchdir, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(mkdir, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(mkdirat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(rmdir, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(symlink, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(symlinkat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(link, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(linkat, VIGIL_EVENT_SYSCALL_FILE),
    VIGIL_SYSCALL_ROW(socket, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(connect, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(accept, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(accept4, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(bind, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(listen, VIGIL_EVENT_SYSCALL_NET),
    VIGIL_SYSCALL_ROW(sendto, VIGIL_EVENT_SYSCALL_IO),
    VIGIL_SYSCALL_ROW(sendmsg, VIGIL_EVENT_SYSCALL_IO),
    VIGIL_SYSCALL_ROW(recvfrom, VIGIL_EVENT_SYSCALL_IO),
    VIGIL_SYSCALL_ROW(recvmsg, VIGIL_EVENT_SYSCALL_IO),
    VIGIL_SYSCALL_ROW(setuid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setgid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setreuid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setregid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setresuid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setresgid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setfsuid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(setfsgid, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(capset, VIGIL_EVENT_SYSCALL_CRED),
    VIGIL_SYSCALL_ROW(ptrace, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(kill, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(tkill, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(tgkill, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(unshare, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(setns, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(dup, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(dup2, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(dup3, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(close, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(memfd_create, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(mmap, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(mprotect, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(bpf, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(init_module, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(finit_module, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(userfaultfd, VIGIL_EVENT_SYSCALL_PROC),
    VIGIL_SYSCALL_ROW(execve, VIGIL_EVENT_SYSCALL_EXEC),
    VIGIL_SYSCALL_ROW(execveat, VIGIL_EVENT_SYSCALL_EXEC),
};
#undef VIGIL_SYSCALL_ROW
static_assert(std::size(kTypes) == kEventTypeCount, "one row per EventType");

constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < std::size(kTypes); ++i) {
    if (static_cast<std::size_t>(kTypes[i].type) != i) return false;
  }
  return true;
}
static_assert(rows_in_enum_order(), "kTypes rows must follow the EventType enumerators");

// Syscall number -> type, for numbers below this bound (every syscall vigil names is).
constexpr std::size_t kSyscallTableSize = 1024;

constexpr std::array<EventType, kSyscallTableSize> build_syscall_table() {
  std::array<EventType, kSyscallTableSize> table{};
  for (const auto& row : kTypes) {
    if (row.syscall_nr >= 0 && static_cast<std::size_t>(row.syscall_nr) < kSyscallTableSize) {
      table[static_cast<std::size_t>(row.syscall_nr)] = row.type;
    }
  }
  return table;
}
constexpr auto kSyscallTable = build_syscall_table();

}  // namespace

std::string_view event_type_name(EventType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < std::size(kTypes) ? kTypes[i].name : kTypes[0].name;
}

EventType event_type_from_name(std::string_view name) noexcept {
  for (const auto& row : kTypes) {
    if (row.name == name) return row.type;
  }
  return EventType::unknown;
}

EventType event_type_of_syscall(std::int64_t syscall_nr) noexcept {
  if (syscall_nr < 0 || static_cast<std::uint64_t>(syscall_nr) >= kSyscallTableSize) return EventType::unknown;
  return kSyscallTable[static_cast<std::size_t>(syscall_nr)];
}

std::int64_t syscall_nr_of(EventType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < std::size(kTypes) ? kTypes[i].syscall_nr : -1;
}

std::uint32_t record_type_of(EventType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < std::size(kTypes) ? kTypes[i].record_type : 0;
}

}  // namespace vigil::events
