// The kernel/user ABI (bpf/abi/) has exactly the layout docs/bpf.md documents.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "event_header.h"
#include "probe/probe.h"
#include "process_events.h"
#include "syscall_events.h"

namespace {

#define VIGIL_EXPECT_FIELD(type, field, offset, size)                       \
  static_assert(offsetof(type, field) == (offset), #type "." #field " offset"); \
  static_assert(sizeof(type::field) == (size), #type "." #field " size")

static_assert(VIGIL_ABI_VERSION == 3);
static_assert(VIGIL_EVENT_EXEC == 1 && VIGIL_EVENT_FORK == 2 && VIGIL_EVENT_EXIT == 3);
static_assert(VIGIL_EVENT_SYSCALL_FILE == 4 && VIGIL_EVENT_SYSCALL_NET == 5 && VIGIL_EVENT_SYSCALL_CRED == 6 &&
              VIGIL_EVENT_SYSCALL_PROC == 7 && VIGIL_EVENT_SYSCALL_EXEC == 8);
static_assert(VIGIL_EVENT_TYPE_COUNT == 9);

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
static_assert(sizeof(vigil_exec_event) == 3552);
VIGIL_EXPECT_FIELD(vigil_exec_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_ino, 80, 8);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_dev, 88, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, argc, 92, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, args_size, 96, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, filename_size, 100, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, flags, 104, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, env_size, 108, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, filename, 112, 256);
VIGIL_EXPECT_FIELD(vigil_exec_event, args, 368, 1024);
VIGIL_EXPECT_FIELD(vigil_exec_event, creds, 1392, 56);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_mtime_ns, 1448, 8);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_ctime_ns, 1456, 8);
VIGIL_EXPECT_FIELD(vigil_exec_event, vpid, 1464, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, vpgid, 1468, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, vsid, 1472, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, loginuid, 1476, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, stdio_kind, 1480, 12);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_path_size, 1492, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, cwd_size, 1496, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, reserved0, 1500, 4);
VIGIL_EXPECT_FIELD(vigil_exec_event, exe_path, 1504, 1024);
VIGIL_EXPECT_FIELD(vigil_exec_event, cwd, 2528, 1024);

static_assert(sizeof(vigil_fork_event) == 96);
VIGIL_EXPECT_FIELD(vigil_fork_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_pid, 80, 4);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_tid, 84, 4);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_vpid, 88, 4);
VIGIL_EXPECT_FIELD(vigil_fork_event, child_pid_ns, 92, 4);

static_assert(sizeof(vigil_exit_event) == 88);
VIGIL_EXPECT_FIELD(vigil_exit_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_exit_event, exit_code, 80, 4);
VIGIL_EXPECT_FIELD(vigil_exit_event, reserved0, 84, 4);

// Every record keeps 8-byte alignment in the ring buffer, which rounds sizes up to 8.
static_assert(sizeof(vigil_exec_event) % 8 == 0 && sizeof(vigil_fork_event) % 8 == 0 &&
              sizeof(vigil_exit_event) % 8 == 0);

// ---- syscall records (syscall_events.h) ----

// The numbers the eBPF side switches on are the x86_64 ones <sys/syscall.h> knows.
static_assert(VIGIL_NR_open == SYS_open);
static_assert(VIGIL_NR_close == SYS_close);
static_assert(VIGIL_NR_mmap == SYS_mmap);
static_assert(VIGIL_NR_mprotect == SYS_mprotect);
static_assert(VIGIL_NR_dup == SYS_dup);
static_assert(VIGIL_NR_dup2 == SYS_dup2);
static_assert(VIGIL_NR_socket == SYS_socket);
static_assert(VIGIL_NR_connect == SYS_connect);
static_assert(VIGIL_NR_accept == SYS_accept);
static_assert(VIGIL_NR_bind == SYS_bind);
static_assert(VIGIL_NR_listen == SYS_listen);
static_assert(VIGIL_NR_execve == SYS_execve);
static_assert(VIGIL_NR_kill == SYS_kill);
static_assert(VIGIL_NR_chdir == SYS_chdir);
static_assert(VIGIL_NR_fchdir == SYS_fchdir);
static_assert(VIGIL_NR_rename == SYS_rename);
static_assert(VIGIL_NR_creat == SYS_creat);
static_assert(VIGIL_NR_unlink == SYS_unlink);
static_assert(VIGIL_NR_chmod == SYS_chmod);
static_assert(VIGIL_NR_fchmod == SYS_fchmod);
static_assert(VIGIL_NR_chown == SYS_chown);
static_assert(VIGIL_NR_fchown == SYS_fchown);
static_assert(VIGIL_NR_lchown == SYS_lchown);
static_assert(VIGIL_NR_ptrace == SYS_ptrace);
static_assert(VIGIL_NR_setuid == SYS_setuid);
static_assert(VIGIL_NR_setgid == SYS_setgid);
static_assert(VIGIL_NR_setreuid == SYS_setreuid);
static_assert(VIGIL_NR_setregid == SYS_setregid);
static_assert(VIGIL_NR_setresuid == SYS_setresuid);
static_assert(VIGIL_NR_setresgid == SYS_setresgid);
static_assert(VIGIL_NR_setfsuid == SYS_setfsuid);
static_assert(VIGIL_NR_setfsgid == SYS_setfsgid);
static_assert(VIGIL_NR_capset == SYS_capset);
static_assert(VIGIL_NR_mount == SYS_mount);
static_assert(VIGIL_NR_umount2 == SYS_umount2);
static_assert(VIGIL_NR_init_module == SYS_init_module);
static_assert(VIGIL_NR_tkill == SYS_tkill);
static_assert(VIGIL_NR_tgkill == SYS_tgkill);
static_assert(VIGIL_NR_openat == SYS_openat);
static_assert(VIGIL_NR_fchownat == SYS_fchownat);
static_assert(VIGIL_NR_unlinkat == SYS_unlinkat);
static_assert(VIGIL_NR_renameat == SYS_renameat);
static_assert(VIGIL_NR_fchmodat == SYS_fchmodat);
static_assert(VIGIL_NR_unshare == SYS_unshare);
static_assert(VIGIL_NR_accept4 == SYS_accept4);
static_assert(VIGIL_NR_dup3 == SYS_dup3);
static_assert(VIGIL_NR_setns == SYS_setns);
static_assert(VIGIL_NR_finit_module == SYS_finit_module);
static_assert(VIGIL_NR_renameat2 == SYS_renameat2);
static_assert(VIGIL_NR_memfd_create == SYS_memfd_create);
static_assert(VIGIL_NR_bpf == SYS_bpf);
static_assert(VIGIL_NR_execveat == SYS_execveat);
static_assert(VIGIL_NR_openat2 == SYS_openat2);
static_assert(VIGIL_NR_open_by_handle_at == SYS_open_by_handle_at);
#ifdef SYS_fchmodat2
static_assert(VIGIL_NR_fchmodat2 == SYS_fchmodat2);
#else
static_assert(VIGIL_NR_fchmodat2 == 452);  // Linux 6.6; older libc headers lack SYS_fchmodat2
#endif

static_assert(VIGIL_SYSCALL_NR_MAX == 512 && VIGIL_SYSCALL_PATH_MAX == 256 && VIGIL_SYSCALL_ARGS_MAX == 1024 &&
              VIGIL_SYSCALL_STR_MAX == 256 && VIGIL_SOCKADDR_UNIX_MAX == 108 && VIGIL_FSTYPE_MAX == 32);
static_assert(VIGIL_SYSCALL_PATH_TRUNCATED == 0x1 && VIGIL_SYSCALL_PATH_UNREADABLE == 0x2 &&
              VIGIL_SYSCALL_PATH2_TRUNCATED == 0x4 && VIGIL_SYSCALL_PATH2_UNREADABLE == 0x8 &&
              VIGIL_SYSCALL_ARGS_TRUNCATED == 0x10 && VIGIL_SYSCALL_ARGS_UNREADABLE == 0x20 &&
              VIGIL_SYSCALL_NO_ENTER == 0x40 && VIGIL_SYSCALL_ADDR_UNREADABLE == 0x80);

static_assert(sizeof(vigil_syscall_common) == 16);
VIGIL_EXPECT_FIELD(vigil_syscall_common, syscall_nr, 0, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_common, flags, 4, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_common, ret, 8, 8);

static_assert(sizeof(vigil_syscall_file_event) == 704);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, sc, 80, 16);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, dirfd, 96, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, dirfd2, 100, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, fd, 104, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, mode, 108, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, open_flags, 112, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, resolve, 120, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, at_flags, 128, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, uid, 132, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, gid, 136, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, dev, 140, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, ino, 144, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, path_size, 152, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, path2_size, 156, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, path, 160, 256);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, path2, 416, 256);
VIGIL_EXPECT_FIELD(vigil_syscall_file_event, fstype, 672, 32);

static_assert(sizeof(vigil_sockaddr) == 136);
VIGIL_EXPECT_FIELD(vigil_sockaddr, family, 0, 2);
VIGIL_EXPECT_FIELD(vigil_sockaddr, port, 2, 2);
VIGIL_EXPECT_FIELD(vigil_sockaddr, unix_path_size, 4, 4);
VIGIL_EXPECT_FIELD(vigil_sockaddr, addr, 8, 16);
VIGIL_EXPECT_FIELD(vigil_sockaddr, unix_path, 24, 108);
VIGIL_EXPECT_FIELD(vigil_sockaddr, reserved0, 132, 4);

static_assert(sizeof(vigil_syscall_net_event) == 392);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, sc, 80, 16);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, fd, 96, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, domain, 100, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, type, 104, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, protocol, 108, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, backlog, 112, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, accept_flags, 116, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, local, 120, 136);
VIGIL_EXPECT_FIELD(vigil_syscall_net_event, remote, 256, 136);

static_assert(sizeof(vigil_creds) == 56);
VIGIL_EXPECT_FIELD(vigil_creds, uid, 0, 4);
VIGIL_EXPECT_FIELD(vigil_creds, euid, 4, 4);
VIGIL_EXPECT_FIELD(vigil_creds, suid, 8, 4);
VIGIL_EXPECT_FIELD(vigil_creds, fsuid, 12, 4);
VIGIL_EXPECT_FIELD(vigil_creds, gid, 16, 4);
VIGIL_EXPECT_FIELD(vigil_creds, egid, 20, 4);
VIGIL_EXPECT_FIELD(vigil_creds, sgid, 24, 4);
VIGIL_EXPECT_FIELD(vigil_creds, fsgid, 28, 4);
VIGIL_EXPECT_FIELD(vigil_creds, cap_effective, 32, 8);
VIGIL_EXPECT_FIELD(vigil_creds, cap_permitted, 40, 8);
VIGIL_EXPECT_FIELD(vigil_creds, cap_inheritable, 48, 8);

static_assert(sizeof(vigil_syscall_cred_event) == 256);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, sc, 80, 16);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, old_creds, 96, 56);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, new_creds, 152, 56);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, id_args, 208, 12);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, cap_version, 220, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, cap_pid, 224, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, reserved0, 228, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, cap_effective_arg, 232, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, cap_permitted_arg, 240, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_cred_event, cap_inheritable_arg, 248, 8);

static_assert(sizeof(vigil_syscall_proc_event) == 424);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, sc, 80, 16);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, args, 96, 48);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, ino, 144, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, dev, 152, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, str_size, 156, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, bpf_type, 160, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, fd_kind, 164, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_proc_event, str, 168, 256);

static_assert(sizeof(vigil_syscall_exec_event) == 1424);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, header, 0, 80);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, sc, 80, 16);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, dirfd, 96, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, at_flags, 100, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, exe_ino, 104, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, exe_dev, 112, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, argc, 116, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, args_size, 120, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, filename_size, 124, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, env_size, 128, 8);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, reserved0, 136, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, reserved1, 140, 4);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, filename, 144, 256);
VIGIL_EXPECT_FIELD(vigil_syscall_exec_event, args, 400, 1024);

static_assert(sizeof(vigil_syscall_file_event) % 8 == 0 && sizeof(vigil_syscall_net_event) % 8 == 0 &&
              sizeof(vigil_syscall_cred_event) % 8 == 0 && sizeof(vigil_syscall_proc_event) % 8 == 0 &&
              sizeof(vigil_syscall_exec_event) % 8 == 0);
static_assert(std::is_trivially_copyable_v<vigil_syscall_file_event> &&
              std::is_trivially_copyable_v<vigil_syscall_net_event> &&
              std::is_trivially_copyable_v<vigil_syscall_cred_event> &&
              std::is_trivially_copyable_v<vigil_syscall_proc_event> &&
              std::is_trivially_copyable_v<vigil_syscall_exec_event>);

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

TEST(ProbeOptions, SyscallsMustBeSupported) {
  using vigil::probe::EventProbeOptions;
  EXPECT_TRUE(vigil::probe::validate(EventProbeOptions{}).has_value());
  EXPECT_TRUE(vigil::probe::validate(EventProbeOptions{.syscalls = std::vector<int>{SYS_openat, SYS_close}}).has_value());
  EXPECT_TRUE(vigil::probe::validate(EventProbeOptions{.syscalls = std::vector<int>{}}).has_value());
  auto unknown = vigil::probe::validate(EventProbeOptions{.syscalls = std::vector<int>{SYS_read}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("not supported"), std::string::npos);
  EXPECT_FALSE(vigil::probe::validate(EventProbeOptions{.syscalls = std::vector<int>{-1}}).has_value());
  EXPECT_FALSE(vigil::probe::validate(EventProbeOptions{.syscalls = std::vector<int>{100000}}).has_value());
}

// The name <-> number <-> record table others use to map Falco syscall names.
TEST(ProbeSyscallTable, NamesNumbersAndRecordTypes) {
  using vigil::probe::EventProbe;
  auto table = EventProbe::supported_syscalls();
  EXPECT_EQ(table.size(), 54u);
  for (std::size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].number, table[i].number);
  struct Want {
    const char* name;
    int number;
    vigil_event_type type;
    bool at_entry;
  };
  const Want wants[] = {
      {"open", SYS_open, VIGIL_EVENT_SYSCALL_FILE, false},
      {"openat2", SYS_openat2, VIGIL_EVENT_SYSCALL_FILE, false},
      {"mount", SYS_mount, VIGIL_EVENT_SYSCALL_FILE, false},
      {"connect", SYS_connect, VIGIL_EVENT_SYSCALL_NET, false},
      {"accept4", SYS_accept4, VIGIL_EVENT_SYSCALL_NET, false},
      {"setresuid", SYS_setresuid, VIGIL_EVENT_SYSCALL_CRED, true},
      {"capset", SYS_capset, VIGIL_EVENT_SYSCALL_CRED, true},
      {"close", SYS_close, VIGIL_EVENT_SYSCALL_PROC, false},
      {"finit_module", SYS_finit_module, VIGIL_EVENT_SYSCALL_PROC, false},
      {"execve", SYS_execve, VIGIL_EVENT_SYSCALL_EXEC, true},
      {"execveat", SYS_execveat, VIGIL_EVENT_SYSCALL_EXEC, true},
  };
  for (const auto& want : wants) {
    SCOPED_TRACE(want.name);
    const auto* by_name = EventProbe::find_syscall(want.name);
    ASSERT_NE(by_name, nullptr);
    EXPECT_EQ(by_name, EventProbe::find_syscall(want.number));
    EXPECT_EQ(by_name->number, want.number);
    EXPECT_EQ(by_name->record_type, want.type);
    EXPECT_EQ(by_name->needs_prior_state, want.at_entry);
  }
  EXPECT_EQ(EventProbe::find_syscall("read"), nullptr);
  EXPECT_EQ(EventProbe::find_syscall(SYS_read), nullptr);
}

}  // namespace
