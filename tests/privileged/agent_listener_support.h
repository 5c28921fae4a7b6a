#pragma once
// Helpers for the listener's tests (agent_listener_test.cpp, agent_stress_test.cpp): execs and
// opens by other users timed from the caller's side, the agent's read counter, and the
// measurement list as the agent wrote it.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "ima/measurement_list.h"
#include "privileged/agent_fixture.h"

namespace vigil::test {

// What a child did: exit code, or 100 + errno when its exec/open failed.
constexpr int kChildErrnoBase = 100;

enum class Access { exec, open };

// Forks a child that becomes uid/gid `uid` (no supplementary groups) and execs `path` with
// execv (no fallback to /bin/sh on ENOEXEC, unlike a shell or execvp) or opens it and reads a
// byte. Only async-signal-safe calls after fork: the test process has threads.
inline pid_t spawn_as(uint32_t uid, const std::string& path, Access access) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (uid != 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) {
      ::_exit(99);
    }
  }
  if (access == Access::exec) {
    char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
    ::execv(path.c_str(), argv);
    ::_exit(kChildErrnoBase + errno);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ::_exit(kChildErrnoBase + errno);
  char byte;
  (void)!::read(fd, &byte, 1);
  ::_exit(0);
}

struct ChildResult {
  int code = -1;  // exit code; -1 when killed by a signal
  std::chrono::milliseconds elapsed{0};
};

inline ChildResult wait_child(pid_t pid, std::chrono::steady_clock::time_point started) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildResult result;
  result.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline ChildResult run_as(uint32_t uid, const std::string& path, Access access = Access::exec) {
  const auto started = std::chrono::steady_clock::now();
  return wait_child(spawn_as(uid, path, access), started);
}

// Bytes the process read so far (/proc/PID/io rchar: read(2) and pread(2) alike).
inline uint64_t read_bytes_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  for (std::string key; in >> key;) {
    uint64_t value = 0;
    in >> value;
    if (key == "rchar:") return value;
  }
  return 0;
}

// The binary list (the authoritative one); empty with a test failure when it does not parse.
inline std::vector<ima::MeasurementEntry> measurement_list(const std::string& state_dir) {
  const std::string text = read_text(state_dir + "/binary_runtime_measurements");
  auto entries = ima::parse_binary_list(std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_TRUE(entries) << (entries ? "" : entries.error().message);
  return entries ? *entries : std::vector<ima::MeasurementEntry>{};
}

inline std::vector<ima::MeasurementEntry> entries_for(const std::vector<ima::MeasurementEntry>& list,
                                                      const std::string& path) {
  std::vector<ima::MeasurementEntry> found;
  for (const auto& entry : list) {
    if (entry.path == path) found.push_back(entry);
  }
  return found;
}

inline crypto::Digest file_digest(const std::string& path, crypto::HashAlgo algo = crypto::HashAlgo::sha256) {
  crypto::Hasher hasher;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  auto digest = fd >= 0 ? hasher.of_fd(algo, fd) : Result<crypto::Digest>(fail("open " + path));
  if (fd >= 0) ::close(fd);
  EXPECT_TRUE(digest) << path;
  return digest ? *digest : crypto::Digest{};
}

// A sparse file of `size` bytes, executable by everyone, owned by `uid`.
inline void make_sparse_executable(const std::string& path, off_t size, uint32_t uid = 0) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::ftruncate(fd, size), 0) << path;
  ::fchown(fd, uid, uid);
  ::fchmod(fd, 0755);
  ::close(fd);
}

}  // namespace vigil::test
