#pragma once
// Shared by the probe_syscall_*_test.cpp files: opens an EventProbe restricted to the syscalls
// under test, collects the records it delivers, and checks the header fields every syscall
// record carries against what the test finds out without eBPF (/proc, stat, getpid...).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "event_header.h"
#include "probe/probe.h"
#include "process_events.h"
#include "support/test_support.h"
#include "syscall_events.h"

namespace vigil::test::syscall_probe {

using namespace std::chrono_literals;
using vigil::test::TempDir;

inline std::uint64_t inode_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

inline std::uint64_t boottime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A raw syscall: its result, or -errno.
inline long sys(long nr, auto... args) {
  long r = ::syscall(nr, args...);
  return r < 0 ? -errno : r;
}

inline pid_t own_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// This process's cgroup v2 directory from /proc/self/cgroup's "0::" line and the cgroup2 mount
// in /proc/self/mountinfo (e.g. /sys/fs/cgroup/unified/...). Its inode number is the cgroup id.
inline std::optional<std::string> own_cgroup_dir() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line, path;
  bool found = false;
  while (std::getline(cgroups, line)) {
    if (line.rfind("0::", 0) == 0) {
      path = line.substr(3);
      found = true;
    }
  }
  if (!found) return std::nullopt;
  for (const MountInfo& mount : read_mountinfo()) {
    if (mount.fstype != "cgroup2") continue;
    std::string relative = path;
    if (mount.root != "/") {
      if (relative.rfind(mount.root, 0) != 0) continue;
      relative = relative.substr(mount.root.size());
    }
    std::string dir = mount.mount_point + (relative == "/" ? "" : relative);
    if (inode_of(dir) != 0) return dir;
  }
  return std::nullopt;
}

// Forks with a close-on-exec pipe to the parent: in the child (0 returned) `fd` becomes the write
// end, in the parent (the child's pid returned) the read end; the other end is closed. -1 if
// pipe2 or fork failed.
inline pid_t fork_with_pipe(int& fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return -1;
  }
  ::close(fds[pid == 0 ? 0 : 1]);
  fd = fds[pid == 0 ? 1 : 0];
  return pid;
}

// A new cgroup under this process's own, removed (once empty) when this goes out of scope.
// Usable when `created`; else `requirement` says what is missing.
struct ChildCgroup {
  bool created = false;
  std::string path;
  std::string procs;  // path + "/cgroup.procs"
  std::string requirement = "a cgroup v2 hierarchy";

  explicit ChildCgroup(const std::string& prefix) {
    auto parent = own_cgroup_dir();
    if (!parent) return;
    path = *parent + "/" + prefix + std::to_string(::getpid());
    procs = path + "/cgroup.procs";
    created = ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
    if (!created) requirement = "a writable cgroup v2 hierarchy (mkdir " + path + ": " + std::strerror(errno) + ")";
  }
  // Moves the calling process into this cgroup. Async-signal-safe: for a child between fork and exec.
  bool join() const {
    int fd = ::open(procs.c_str(), O_WRONLY);
    if (fd < 0) return false;
    bool joined = ::write(fd, "0", 1) == 1;
    ::close(fd);
    return joined;
  }
  // fork_with_pipe, the child first moved into this cgroup (it exits with 120 if it cannot be).
  pid_t fork_into(int& fd) const {
    const pid_t pid = fork_with_pipe(fd);
    if (pid == 0 && !join()) ::_exit(120);
    return pid;
  }
  ChildCgroup(const ChildCgroup&) = delete;
  ChildCgroup& operator=(const ChildCgroup&) = delete;
  ~ChildCgroup() {
    if (!created) return;
    for (int i = 0; i < 50 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10'000);
  }
};

// In a forked child: the inode numbers of `paths` (namespace files). Async-signal-safe.
template <std::size_t N>
bool stat_inodes(const char* const (&paths)[N], std::uint64_t (&inodes)[N]) {
  for (std::size_t i = 0; i < N; ++i) {
    struct stat st{};
    if (::stat(paths[i], &st) != 0) return false;
    inodes[i] = st.st_ino;
  }
  return true;
}

// In the parent of fork_with_pipe: reads the child's report of `size` bytes, closes the pipe and
// reaps the child, which must have exited 0. Use with ASSERT_NO_FATAL_FAILURE.
inline void read_report_and_reap(int fd, pid_t child, void* report, std::size_t size) {
  ssize_t got = ::read(fd, report, size);
  ::close(fd);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child setup failed, status " << status;
  ASSERT_EQ(got, static_cast<ssize_t>(size));
}

inline std::string own_comm() {
  std::string comm = read_text("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

inline std::string comm_of(const vigil_event_header& h) { return std::string(h.comm, strnlen(h.comm, sizeof(h.comm))); }

// A string field whose valid size (NUL included) the record gives.
inline std::string text(const char* field, std::uint32_t size) {
  if (size == 0) return {};
  return std::string(field, strnlen(field, size));
}

// The process probe's records (exec, fork, exit), decoded by type, in delivery order; a record
// of any other type is malformed. Records adds the syscall families.
struct ProcessRecords {
  std::vector<vigil_exec_event> execs;
  std::vector<vigil_fork_event> forks;
  std::vector<vigil_exit_event> exits;
  std::vector<std::string> malformed;
  std::size_t count = 0;

  void add(std::span<const std::uint8_t> record) {
    auto header = checked_header(record);
    if (header && !add_process_record(*header, record)) unknown_type(*header);
  }

  // The exec (exit) record of pid, or nullptr.
  const vigil_exec_event* exec_of_pid(pid_t pid) const {
    for (const auto& e : execs)
      if (e.header.pid == static_cast<__u32>(pid)) return &e;
    return nullptr;
  }
  // The fork record that names child, or nullptr.
  const vigil_fork_event* fork_of_child(pid_t child) const {
    for (const auto& e : forks)
      if (e.child_pid == static_cast<__u32>(child)) return &e;
    return nullptr;
  }
  const vigil_exit_event* exit_of_pid(pid_t pid) const {
    for (const auto& e : exits)
      if (e.header.pid == static_cast<__u32>(pid)) return &e;
    return nullptr;
  }

 protected:
  // Counts the record; its header if it is one and its size matches, else notes it malformed.
  std::optional<vigil_event_header> checked_header(std::span<const std::uint8_t> record) {
    ++count;
    vigil_event_header header{};
    if (record.size() < sizeof(header)) {
      malformed.push_back("short record of " + std::to_string(record.size()) + " bytes");
      return std::nullopt;
    }
    std::memcpy(&header, record.data(), sizeof(header));
    if (header.size != record.size()) {
      malformed.push_back("type " + std::to_string(header.type) + ": header.size " +
                          std::to_string(header.size) + " != " + std::to_string(record.size()));
      return std::nullopt;
    }
    return header;
  }

  // Stores an exec, fork or exit record; false for any other type.
  bool add_process_record(const vigil_event_header& header, std::span<const std::uint8_t> record) {
    switch (header.type) {
      case VIGIL_EVENT_EXEC: push(execs, record); return true;
      case VIGIL_EVENT_FORK: push(forks, record); return true;
      case VIGIL_EVENT_EXIT: push(exits, record); return true;
      default: return false;
    }
  }

  void unknown_type(const vigil_event_header& header) {
    malformed.push_back("unknown type " + std::to_string(header.type));
  }

  template <class T>
  void push(std::vector<T>& into, std::span<const std::uint8_t> record) {
    if (record.size() != sizeof(T)) {
      malformed.push_back("record of " + std::to_string(record.size()) + " bytes, want " +
                          std::to_string(sizeof(T)));
      return;
    }
    T event{};
    std::memcpy(&event, record.data(), sizeof(T));
    into.push_back(event);
  }
};

// Every record, decoded by type, in delivery order.
struct Records : ProcessRecords {
  std::vector<vigil_syscall_file_event> files;
  std::vector<vigil_syscall_net_event> nets;
  std::vector<vigil_syscall_cred_event> creds;
  std::vector<vigil_syscall_proc_event> procs;
  std::vector<vigil_syscall_exec_event> syscall_execs;
  std::vector<vigil_syscall_io_event> ios;

  void add(std::span<const std::uint8_t> record) {
    auto header = checked_header(record);
    if (!header || add_process_record(*header, record)) return;
    switch (header->type) {
      case VIGIL_EVENT_SYSCALL_FILE: push(files, record); break;
      case VIGIL_EVENT_SYSCALL_NET: push(nets, record); break;
      case VIGIL_EVENT_SYSCALL_CRED: push(creds, record); break;
      case VIGIL_EVENT_SYSCALL_PROC: push(procs, record); break;
      case VIGIL_EVENT_SYSCALL_EXEC: push(syscall_execs, record); break;
      case VIGIL_EVENT_SYSCALL_IO: push(ios, record); break;
      default: unknown_type(*header);
    }
  }

  // Records of syscall nr made by thread tid, in order.
  template <class T>
  static std::vector<T> of(const std::vector<T>& all, pid_t tid, long nr) {
    std::vector<T> found;
    for (const auto& e : all)
      if (e.header.tid == static_cast<__u32>(tid) && e.sc.syscall_nr == static_cast<__u32>(nr)) found.push_back(e);
    return found;
  }
  template <class T>
  static std::size_t count_of(const std::vector<T>& all, pid_t tid, long nr) {
    return of(all, tid, nr).size();
  }
};

inline std::optional<probe::EventProbe> open_probe(std::vector<int> syscalls,
                                                   std::size_t ring_bytes = std::size_t{4} << 20) {
  auto probe = probe::EventProbe::open(
      probe::EventProbeOptions{.ring_buffer_bytes = ring_bytes, .syscalls = std::move(syscalls)});
  if (!probe) {
    ADD_FAILURE() << "EventProbe::open: " << probe.error().message;
    return std::nullopt;
  }
  return std::move(*probe);
}

// Polls until `done` holds or 10 s pass; returns whether it held. Probe: an EventProbe or a
// ProcessProbe; Sink: Records or ProcessRecords.
template <class Probe, class Sink>
bool poll_until(Probe& probe, Sink& records, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    auto n = probe.poll(100ms, [&](std::span<const std::uint8_t> r) { records.add(r); });
    if (!n) {
      ADD_FAILURE() << n.error().message;
      return false;
    }
  }
  return true;
}

// Polls until thread tid has made, for each {nr, n} in `wants`, at least n records of syscall nr
// in the family `records.*family` (or 10 s pass); returns whether it did.
template <class T>
bool poll_for_counts(probe::EventProbe& probe, Records& records, std::vector<T> Records::*family, pid_t tid,
                     std::initializer_list<std::pair<long, std::size_t>> wants) {
  return poll_until(probe, records, [&] {
    for (const auto& [nr, n] : wants)
      if (Records::count_of(records.*family, tid, nr) < n) return false;
    return true;
  });
}

// Drains what is in the ring buffer now (plus what arrives within `wait`).
inline void drain(probe::EventProbe& probe, Records& records, std::chrono::milliseconds wait = 200ms) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto n = probe.poll(50ms, [&](std::span<const std::uint8_t> r) { records.add(r); });
    if (!n) {
      ADD_FAILURE() << n.error().message;
      return;
    }
  }
}

// What every record made by this thread must say about it.
struct Self {
  pid_t pid = ::getpid();
  pid_t tid = own_tid();
  pid_t ppid = ::getppid();
  __u32 uid = ::getuid();  // real ids expected in the header (a child may change them)
  __u32 gid = ::getgid();
  std::uint64_t cgroup_id = 0;
  std::uint64_t mnt_ns = inode_of("/proc/self/ns/mnt");
  std::uint64_t pid_ns = inode_of("/proc/self/ns/pid");
  std::uint64_t net_ns = inode_of("/proc/self/ns/net");
  std::string comm = own_comm();
  std::uint64_t since_ns = boottime_ns();

  Self() {
    if (auto dir = own_cgroup_dir()) cgroup_id = inode_of(*dir);
  }
  // The same process context seen from a child this thread forked (before it changes anything).
  Self child(pid_t child_pid) const {
    Self c = *this;
    c.pid = child_pid;
    c.tid = child_pid;
    c.ppid = pid;
    return c;
  }

  void expect_header(const vigil_event_header& h, vigil_event_type type, std::size_t size) const {
    EXPECT_EQ(h.type, static_cast<__u32>(type));
    EXPECT_EQ(h.size, size);
    EXPECT_EQ(h.pid, static_cast<__u32>(pid));
    EXPECT_EQ(h.tid, static_cast<__u32>(tid));
    EXPECT_EQ(h.ppid, static_cast<__u32>(ppid));
    EXPECT_EQ(h.uid, uid);
    EXPECT_EQ(h.gid, gid);
    EXPECT_NE(cgroup_id, 0u) << "no cgroup v2 directory found for this process";
    EXPECT_EQ(h.cgroup_id, cgroup_id);
    EXPECT_EQ(h.mnt_ns, mnt_ns);
    EXPECT_EQ(h.pid_ns, pid_ns);
    EXPECT_EQ(h.net_ns, net_ns);
    EXPECT_EQ(comm_of(h), comm);
    EXPECT_EQ(h.reserved0, 0u);
    EXPECT_EQ(h.reserved1, 0u);
    EXPECT_GE(h.timestamp_ns, since_ns);
    EXPECT_LE(h.timestamp_ns, boottime_ns());
  }
};

}  // namespace vigil::test::syscall_probe

#define PROBE_SYSCALL_PRECONDITIONS()                                                  \
  VIGIL_REQUIRE_ROOT();                                                                \
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (CO-RE)")
