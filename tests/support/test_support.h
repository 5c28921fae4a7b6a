#pragma once
// Helpers shared by vigil's tests: temp dirs, running commands, and the skip rules.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv without a shell, capturing output; kills it (by its PID) after timeout_seconds.
CommandResult run(const std::vector<std::string>& argv, int timeout_seconds = 120);
// Runs a shell command line (for tests that need redirection or pipes).
CommandResult run_shell(const std::string& command, int timeout_seconds = 120);
// text as one single-quoted shell word (for run_shell command lines).
std::string shell_quote(const std::string& text);

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
std::vector<uint8_t> read_xattr(const std::string& path, const std::string& name);
void write_xattr(const std::string& path, const std::string& name, const std::vector<uint8_t>& value);
bool have_program(const std::string& name);

// A line of /proc/self/mountinfo: the filesystem type, the root of the mount within its
// filesystem and where it is mounted (both as the file spells them, octal escapes kept).
struct MountInfo {
  std::string fstype;
  std::string root;
  std::string mount_point;
};
std::vector<MountInfo> read_mountinfo(const std::string& path = "/proc/self/mountinfo");

// Path of the vigil binary under test.
std::string vigil_binary();

// CI sets CI=true: then a required test may not skip.
bool in_ci();

}  // namespace vigil::test

// Skips (outside CI) or fails (in CI) unless the condition holds; `why` says what is missing.
#define VIGIL_REQUIRE(condition, why)                                                   \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      if (::vigil::test::in_ci()) FAIL() << "required test cannot run under CI: " << why; \
      GTEST_SKIP() << why;                                                              \
    }                                                                                   \
  } while (0)

#define VIGIL_REQUIRE_ROOT() VIGIL_REQUIRE(::geteuid() == 0, "needs root (security.* xattrs, mounts)")
