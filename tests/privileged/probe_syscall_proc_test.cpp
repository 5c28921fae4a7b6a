// The syscall probe's process family (VIGIL_EVENT_SYSCALL_PROC), for real: descriptors (dup*,
// close), memfd_create, executable mappings (mmap/mprotect with PROT_EXEC only), bpf (a tiny
// array map, closed after), module loading with invalid input only (never a real module),
// signals and ptrace on children this test starts, unshare and setns into our own namespace.
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

void expect_proc_record(const Self& self, const vigil_syscall_proc_event& e, long nr, long ret,
                        std::initializer_list<std::uint64_t> args) {
  self.expect_header(e.header, VIGIL_EVENT_SYSCALL_PROC, sizeof(e));
  EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(nr));
  EXPECT_EQ(e.sc.ret, ret);
  std::size_t i = 0;
  for (auto a : args) {
    EXPECT_EQ(e.args[i], a) << "args[" << i << "]";
    ++i;
  }
}

void expect_no_extras(const vigil_syscall_proc_event& e) {
  EXPECT_EQ(e.sc.flags, 0u);
  EXPECT_EQ(e.ino, 0u);
  EXPECT_EQ(e.dev, 0u);
  EXPECT_EQ(e.str_size, 0u);
  EXPECT_EQ(e.str[0], '\0');
  EXPECT_EQ(e.bpf_type, 0u);
  EXPECT_EQ(e.fd_kind, 0u);
}

// dup*: oldfd's file as the kernel saw it (inode, device, mode and socket family).
void expect_dup_source(const vigil_syscall_proc_event& e, int oldfd, std::uint32_t family) {
  struct stat st{};
  ASSERT_EQ(::fstat(oldfd, &st), 0);
  EXPECT_EQ(e.ino, st.st_ino);
  EXPECT_EQ(e.dev, st.st_dev);
  EXPECT_EQ(e.fd_kind & 0xffff, st.st_mode & 0xffff);
  EXPECT_EQ(e.fd_kind >> 16, family);
  EXPECT_EQ(e.str_size, 0u);
  EXPECT_EQ(e.bpf_type, 0u);
}

void expect_file(const vigil_syscall_proc_event& e, int fd) {
  struct stat st{};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(e.ino, st.st_ino);
  EXPECT_EQ(e.dev, st.st_dev);
}

std::uint64_t u(long v) { return static_cast<std::uint64_t>(v); }
std::uint64_t ptr(const void* p) { return reinterpret_cast<std::uint64_t>(p); }

TEST(ProbeSyscallProc, DupAndClose) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_dup, SYS_dup2, SYS_dup3, SYS_close});
  ASSERT_TRUE(probe);
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  long dup_fd = sys(SYS_dup, fd);
  ASSERT_GE(dup_fd, 0);
  long dup2_fd = sys(SYS_dup2, fd, 900);
  ASSERT_EQ(dup2_fd, 900);
  long dup3_fd = sys(SYS_dup3, fd, 901, O_CLOEXEC);
  ASSERT_EQ(dup3_fd, 901);
  ASSERT_EQ(sys(SYS_dup3, fd, fd, 0), -EINVAL);
  ASSERT_EQ(sys(SYS_close, dup_fd), 0);
  ASSERT_EQ(sys(SYS_close, 900), 0);
  ASSERT_EQ(sys(SYS_close, 900), -EBADF);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] {
    std::size_t n = 0;
    for (const auto& e : Records::of(records.procs, self.tid, SYS_close)) n += e.args[0] == 900;
    return n >= 2;
  }));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto dups = Records::of(records.procs, self.tid, SYS_dup);
  ASSERT_EQ(dups.size(), 1u);
  expect_proc_record(self, dups[0], SYS_dup, dup_fd, {u(fd)});
  expect_dup_source(dups[0], fd, 0);
  auto dup2s = Records::of(records.procs, self.tid, SYS_dup2);
  ASSERT_EQ(dup2s.size(), 1u);
  expect_proc_record(self, dup2s[0], SYS_dup2, 900, {u(fd), 900});
  expect_dup_source(dup2s[0], fd, 0);
  auto dup3s = Records::of(records.procs, self.tid, SYS_dup3);
  ASSERT_EQ(dup3s.size(), 2u);
  expect_proc_record(self, dup3s[0], SYS_dup3, 901, {u(fd), 901, O_CLOEXEC});
  expect_proc_record(self, dup3s[1], SYS_dup3, -EINVAL, {u(fd), u(fd), 0});
  expect_dup_source(dup3s[0], fd, 0);
  expect_dup_source(dup3s[1], fd, 0);  // even a failed dup3 names oldfd's file
  // Only the closes of our descriptors (libraries may close others meanwhile).
  std::vector<vigil_syscall_proc_event> closes;
  for (const auto& e : Records::of(records.procs, self.tid, SYS_close))
    if (e.args[0] == u(dup_fd) || e.args[0] == 900) closes.push_back(e);
  ASSERT_EQ(closes.size(), 3u);
  expect_proc_record(self, closes[0], SYS_close, 0, {u(dup_fd)});
  expect_proc_record(self, closes[1], SYS_close, 0, {900});
  expect_proc_record(self, closes[2], SYS_close, -EBADF, {900});
  for (const auto& e : closes) expect_no_extras(e);
  ::close(901);
  ::close(fd);
}

// The shape of a reverse shell: a socket duplicated onto a standard descriptor. The record says
// it is a socket of that family whatever user space knew about the descriptor.
TEST(ProbeSyscallProc, DupOfASocketNamesItsFamily) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_dup2});
  ASSERT_TRUE(probe);
  int inet = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int inet6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(inet, 0);
  ASSERT_GE(inet6, 0);
  ASSERT_EQ(sys(SYS_dup2, inet, 910), 910);
  ASSERT_EQ(sys(SYS_dup2, inet6, 911), 911);
  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::procs, self.tid, {{SYS_dup2, 2}}));
  auto dups = Records::of(records.procs, self.tid, SYS_dup2);
  ASSERT_EQ(dups.size(), 2u);
  expect_dup_source(dups[0], inet, AF_INET);
  EXPECT_EQ(dups[0].fd_kind & S_IFMT, static_cast<std::uint32_t>(S_IFSOCK));
  expect_dup_source(dups[1], inet6, AF_INET6);
  for (int fd : {inet, inet6, 910, 911}) ::close(fd);
}

TEST(ProbeSyscallProc, MemfdAndExecutableMappings) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_memfd_create, SYS_mmap, SYS_mprotect});
  ASSERT_TRUE(probe);
  const long page = ::sysconf(_SC_PAGESIZE);

  long memfd = sys(SYS_memfd_create, "vigil-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(memfd, 0);
  ASSERT_EQ(::ftruncate(static_cast<int>(memfd), page), 0);
  const std::string long_name(300, 'n');
  ASSERT_EQ(sys(SYS_memfd_create, long_name.c_str(), 0), -EINVAL) << "names are at most 249 bytes";
  // Not executable: no record.
  long plain = sys(SYS_mmap, nullptr, page, PROT_READ, MAP_PRIVATE, memfd, 0);
  ASSERT_GT(plain, 0);
  long file_exec = sys(SYS_mmap, nullptr, page, PROT_READ | PROT_EXEC, MAP_PRIVATE, memfd, 0);
  ASSERT_GT(file_exec, 0);
  long anon_exec = sys(SYS_mmap, nullptr, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1L, 0);
  ASSERT_GT(anon_exec, 0);
  ASSERT_EQ(sys(SYS_mprotect, plain, page, PROT_READ | PROT_WRITE), 0);  // no record
  ASSERT_EQ(sys(SYS_mprotect, plain, page, PROT_READ | PROT_EXEC), 0);
  ASSERT_EQ(sys(SYS_mprotect, plain + 1, page, PROT_EXEC), -EINVAL);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return Records::count_of(records.procs, self.tid, SYS_mprotect) >= 2; }));
  drain(*probe, records);
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  auto memfds = Records::of(records.procs, self.tid, SYS_memfd_create);
  ASSERT_EQ(memfds.size(), 2u);
  {
    SCOPED_TRACE("memfd_create");
    const auto& e = memfds[0];
    expect_proc_record(self, e, SYS_memfd_create, memfd, {});
    EXPECT_EQ(e.args[1], static_cast<std::uint64_t>(MFD_CLOEXEC | MFD_ALLOW_SEALING));
    EXPECT_EQ(e.str_size, sizeof("vigil-memfd"));
    EXPECT_STREQ(e.str, "vigil-memfd");
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.ino, 0u) << "memfd_create has no fd argument";
  }
  {
    SCOPED_TRACE("memfd_create long name");
    const auto& e = memfds[1];
    expect_proc_record(self, e, SYS_memfd_create, -EINVAL, {ptr(long_name.c_str()), 0});
    EXPECT_EQ(e.sc.flags, VIGIL_SYSCALL_PATH_TRUNCATED);
    EXPECT_EQ(e.str_size, static_cast<__u32>(VIGIL_SYSCALL_STR_MAX));
    EXPECT_EQ(std::string(e.str, strnlen(e.str, sizeof(e.str))), long_name.substr(0, VIGIL_SYSCALL_STR_MAX - 1));
  }
  auto mmaps = Records::of(records.procs, self.tid, SYS_mmap);
  ASSERT_EQ(mmaps.size(), 2u) << "only PROT_EXEC mappings are recorded";
  {
    SCOPED_TRACE("mmap file PROT_EXEC");
    const auto& e = mmaps[0];
    expect_proc_record(self, e, SYS_mmap, file_exec, {0, u(page), PROT_READ | PROT_EXEC, MAP_PRIVATE, u(memfd), 0});
    expect_file(e, static_cast<int>(memfd));
    EXPECT_EQ(e.str_size, 0u);
  }
  {
    SCOPED_TRACE("mmap anonymous PROT_EXEC");
    const auto& e = mmaps[1];
    expect_proc_record(self, e, SYS_mmap, anon_exec,
                       {0, u(page), PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, u(-1), 0});
    expect_no_extras(e);
  }
  auto mprotects = Records::of(records.procs, self.tid, SYS_mprotect);
  ASSERT_EQ(mprotects.size(), 2u);
  expect_proc_record(self, mprotects[0], SYS_mprotect, 0, {u(plain), u(page), PROT_READ | PROT_EXEC});
  expect_no_extras(mprotects[0]);
  expect_proc_record(self, mprotects[1], SYS_mprotect, -EINVAL, {u(plain + 1), u(page), PROT_EXEC});
  ::munmap(reinterpret_cast<void*>(plain), page);
  ::munmap(reinterpret_cast<void*>(file_exec), page);
  ::munmap(reinterpret_cast<void*>(anon_exec), page);
  ::close(static_cast<int>(memfd));
}

TEST(ProbeSyscallProc, BpfAndModuleLoadingAttempts) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const std::string not_a_module = dir / "not-a-module.ko";
  vigil::test::write_text(not_a_module, "this is not an ELF module\n");
  int module_fd = ::open(not_a_module.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(module_fd, 0);
  Self self;
  auto probe = open_probe({SYS_bpf, SYS_init_module, SYS_finit_module});
  ASSERT_TRUE(probe);

  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long map_fd = sys(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  ASSERT_GE(map_fd, 0);
  ::close(static_cast<int>(map_fd));
  // Never a real module: garbage bytes and a text file, both rejected by the kernel.
  const char junk[] = "junk";
  long init = sys(SYS_init_module, junk, sizeof(junk), "vigil_param=1");
  ASSERT_LT(init, 0);
  long finit = sys(SYS_finit_module, module_fd, "vigil_other=2", 0);
  ASSERT_LT(finit, 0);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::procs, self.tid, {{SYS_finit_module, 1}, {SYS_bpf, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  // The probe's own bpf() calls (interest map updates, ring buffer setup) are recorded too:
  // keep the map creation.
  std::vector<vigil_syscall_proc_event> bpfs;
  for (const auto& e : Records::of(records.procs, self.tid, SYS_bpf))
    if (e.args[0] == BPF_MAP_CREATE) bpfs.push_back(e);
  ASSERT_EQ(bpfs.size(), 1u);
  expect_proc_record(self, bpfs[0], SYS_bpf, map_fd, {BPF_MAP_CREATE, ptr(&attr), sizeof(attr)});
  EXPECT_EQ(bpfs[0].bpf_type, static_cast<__u32>(BPF_MAP_TYPE_ARRAY));
  EXPECT_EQ(bpfs[0].ino, 0u);
  EXPECT_EQ(bpfs[0].str_size, 0u);
  auto inits = Records::of(records.procs, self.tid, SYS_init_module);
  ASSERT_EQ(inits.size(), 1u);
  expect_proc_record(self, inits[0], SYS_init_module, init, {ptr(junk), sizeof(junk)});
  EXPECT_STREQ(inits[0].str, "vigil_param=1");
  EXPECT_EQ(inits[0].str_size, sizeof("vigil_param=1"));
  EXPECT_EQ(inits[0].ino, 0u);
  auto finits = Records::of(records.procs, self.tid, SYS_finit_module);
  ASSERT_EQ(finits.size(), 1u);
  expect_proc_record(self, finits[0], SYS_finit_module, finit, {u(module_fd)});
  EXPECT_EQ(finits[0].args[2], 0u);
  EXPECT_STREQ(finits[0].str, "vigil_other=2");
  EXPECT_EQ(finits[0].str_size, sizeof("vigil_other=2"));
  expect_file(finits[0], module_fd);
  ::close(module_fd);
}

TEST(ProbeSyscallProc, SignalsPtraceUnshareSetns) {
  PROBE_SYSCALL_PRECONDITIONS();
  Self self;
  auto probe = open_probe({SYS_kill, SYS_tkill, SYS_tgkill, SYS_ptrace, SYS_unshare, SYS_setns});
  ASSERT_TRUE(probe);

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  ASSERT_EQ(sys(SYS_kill, child, 0), 0);
  ASSERT_EQ(sys(SYS_ptrace, PTRACE_PEEKDATA, child, nullptr, nullptr), -ESRCH) << "not attached";
  ASSERT_EQ(sys(SYS_ptrace, PTRACE_SEIZE, child, nullptr, nullptr), 0);
  ASSERT_EQ(sys(SYS_tkill, self.tid, 0), 0);
  ASSERT_EQ(sys(SYS_tgkill, self.pid, self.tid, 0), 0);
  ASSERT_EQ(sys(SYS_kill, child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(sys(SYS_unshare, 0), 0);
  ASSERT_EQ(sys(SYS_unshare, 0xff), -EINVAL) << "CSIGNAL bits are not unshare flags";
  int net_fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(net_fd, 0);
  ASSERT_EQ(sys(SYS_setns, net_fd, CLONE_NEWNET), 0);  // into the namespace we are in
  ASSERT_EQ(sys(SYS_setns, net_fd, CLONE_NEWUTS), -EINVAL);

  Records records;
  ASSERT_TRUE(poll_until(*probe, records, [&] { return Records::count_of(records.procs, self.tid, SYS_setns) >= 2; }));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto kills = Records::of(records.procs, self.tid, SYS_kill);
  ASSERT_EQ(kills.size(), 2u);
  expect_proc_record(self, kills[0], SYS_kill, 0, {u(child), 0});
  expect_proc_record(self, kills[1], SYS_kill, 0, {u(child), SIGKILL});
  for (const auto& e : kills) expect_no_extras(e);
  auto ptraces = Records::of(records.procs, self.tid, SYS_ptrace);
  ASSERT_EQ(ptraces.size(), 2u);
  expect_proc_record(self, ptraces[0], SYS_ptrace, -ESRCH, {PTRACE_PEEKDATA, u(child)});
  expect_proc_record(self, ptraces[1], SYS_ptrace, 0, {PTRACE_SEIZE, u(child)});
  auto tkills = Records::of(records.procs, self.tid, SYS_tkill);
  ASSERT_EQ(tkills.size(), 1u);
  expect_proc_record(self, tkills[0], SYS_tkill, 0, {u(self.tid), 0});
  auto tgkills = Records::of(records.procs, self.tid, SYS_tgkill);
  ASSERT_EQ(tgkills.size(), 1u);
  expect_proc_record(self, tgkills[0], SYS_tgkill, 0, {u(self.pid), u(self.tid), 0});
  auto unshares = Records::of(records.procs, self.tid, SYS_unshare);
  ASSERT_EQ(unshares.size(), 2u);
  expect_proc_record(self, unshares[0], SYS_unshare, 0, {0});
  expect_proc_record(self, unshares[1], SYS_unshare, -EINVAL, {0xff});
  auto setnses = Records::of(records.procs, self.tid, SYS_setns);
  ASSERT_EQ(setnses.size(), 2u);
  expect_proc_record(self, setnses[0], SYS_setns, 0, {u(net_fd), CLONE_NEWNET});
  EXPECT_EQ(setnses[0].ino, self.net_ns) << "the namespace the fd names";
  expect_file(setnses[0], net_fd);
  expect_proc_record(self, setnses[1], SYS_setns, -EINVAL, {u(net_fd), CLONE_NEWUTS});
  EXPECT_EQ(setnses[1].ino, self.net_ns);
  ::close(net_fd);
}

}  // namespace
