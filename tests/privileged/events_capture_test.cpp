// `vigil capture` end to end on the real probes: record while this test runs a known command,
// then replay the capture file and find that exec with the right pid, filename and arguments.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "privileged/cli_fixture.h"
#include "support/test_support.h"

namespace {

using namespace std::chrono_literals;
using vigil::test::run_vigil;

// `vigil capture ARGS` in the background, stdout/stderr to files; stopped with SIGINT.
class BackgroundCapture {
 public:
  BackgroundCapture(const vigil::test::TempDir& dir, std::vector<std::string> args)
      : out_(dir / "capture.out"), err_(dir / "capture.err") {
    args.insert(args.begin(), {vigil::test::vigil_binary(), "capture"});
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~BackgroundCapture() {
    if (pid_ > 0 && !stopped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits until the capture file has its header (the probes are attached by then).
  bool wait_ready(const std::string& capture_file) {
    for (int i = 0; i < 200; ++i) {
      struct stat st {};
      if (::stat(capture_file.c_str(), &st) == 0 && st.st_size >= 64) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        stopped_ = true;
        return false;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // SIGINT, then the exit status (-1 when it had to be killed).
  int stop() {
    ::kill(pid_, SIGINT);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        stopped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(50ms);
    }
    return -1;
  }

  std::string err() const { return vigil::test::read_text(err_); }

 private:
  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
  bool stopped_ = false;
};

// Runs /bin/echo MARKER as a child of this test; returns its pid.
pid_t run_echo(const std::string& marker) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDOUT_FILENO);
    ::execl("/bin/echo", "echo", marker.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::string fmt_hex(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (int shift = 60; shift >= 0; shift -= 4) text += kDigits[(value >> shift) & 0xf];
  return text;
}

std::string random_marker() {
  std::random_device random;
  return "vigil-capture-marker-" + std::to_string(random());
}

TEST(EventsCapture, RecordedExecIsReplayedWithItsPidAndArguments) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (/sys/kernel/btf/vmlinux) missing");
  vigil::test::TempDir dir;
  const std::string capture_file = dir / "session.vcap";
  BackgroundCapture capture(dir, {"-w", capture_file});
  ASSERT_TRUE(capture.wait_ready(capture_file)) << capture.err();

  const std::string marker = random_marker();
  const pid_t echo_pid = run_echo(marker);
  std::this_thread::sleep_for(500ms);  // the capture polls every 200 ms
  ASSERT_EQ(capture.stop(), 0) << capture.err();
  EXPECT_NE(capture.err().find("vigil capture: "), std::string::npos) << capture.err();
  EXPECT_NE(capture.err().find(" 0 decode errors"), std::string::npos) << capture.err();
  struct stat st {};
  ASSERT_EQ(::stat(capture_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto replay = run_vigil({"capture", "-r", capture_file, "--json"});
  EXPECT_EXIT_CODE(replay, 0);
  int lifecycle_execs = 0;
  int syscall_execs = 0;
  bool saw_fork = false;
  for (const auto& event : json_lines(replay.out)) {
    if (event.value("pid", 0) != echo_pid && event.value("child_pid", 0) != echo_pid) continue;
    const std::string name = event["event"];
    if (name == "fork") {
      saw_fork = true;
      EXPECT_EQ(event["pid"], ::getpid());
    }
    if (name == "procexec" || name == "execve") {
      (name == "procexec" ? lifecycle_execs : syscall_execs)++;
      EXPECT_EQ(event["filename"], "/bin/echo") << event.dump();
      EXPECT_EQ(event["args"], nlohmann::json::array({"echo", marker})) << event.dump();
      EXPECT_EQ(event["ppid"], ::getpid()) << event.dump();
      EXPECT_EQ(event["comm"], "echo") << event.dump();
      EXPECT_TRUE(event.contains("time")) << event.dump();
    }
    if (name == "execve") {
      EXPECT_EQ(event["ret"], 0) << event.dump();
    }
  }
  EXPECT_EQ(lifecycle_execs, 1) << replay.out.substr(0, 4000);
  EXPECT_EQ(syscall_execs, 1) << replay.out.substr(0, 4000);
  EXPECT_TRUE(saw_fork);

  // Filters on replay: only that process's events, only the lifecycle exec.
  auto filtered = run_vigil({"capture", "-r", capture_file, "--pid", std::to_string(echo_pid), "--syscall", "procexec"});
  EXPECT_EXIT_CODE(filtered, 0);
  std::istringstream lines(filtered.out);
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  ASSERT_EQ(all.size(), 1u) << filtered.out;
  EXPECT_NE(all[0].find(" procexec pid=" + std::to_string(echo_pid) + " "), std::string::npos) << all[0];
  EXPECT_NE(all[0].find("args=[echo " + marker + "]"), std::string::npos) << all[0];
  EXPECT_NE(filtered.err.find("1 matched the filters"), std::string::npos) << filtered.err;
}

TEST(EventsCapture, LiveSyscallFilterAndCount) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (/sys/kernel/btf/vmlinux) missing");
  vigil::test::TempDir dir;
  const std::string capture_file = dir / "opens.vcap";
  BackgroundCapture capture(dir, {"-w", capture_file, "--syscall", "openat", "--count", "1000000"});
  ASSERT_TRUE(capture.wait_ready(capture_file)) << capture.err();
  const std::string target = dir / "opened-by-test";
  vigil::test::write_text(target, "x");
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(capture.stop(), 0) << capture.err();

  auto replay = run_vigil({"capture", "-r", capture_file, "--json"});
  EXPECT_EXIT_CODE(replay, 0);
  bool saw_open = false;
  for (const auto& event : json_lines(replay.out)) {
    EXPECT_EQ(event["event"], "openat") << event.dump();  // the kernel recorded nothing else
    if (event["path"] == target && event["pid"] == ::getpid()) {
      saw_open = true;
      EXPECT_GE(event["ret"].get<long>(), 0);
      EXPECT_EQ(event["fd"], event["ret"]);
    }
  }
  EXPECT_TRUE(saw_open) << replay.out.substr(0, 4000);

  auto first = run_vigil({"capture", "-r", capture_file, "--count", "1"});
  EXPECT_EXIT_CODE(first, 0);
  EXPECT_EQ(std::count(first.out.begin(), first.out.end(), '\n'), 1) << first.out;
}

// --path: file syscalls outside the prefix stay in the kernel; inside it they are recorded.
TEST(EventsCapture, LivePathFilterKeepsOnlyThatPrefix) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (/sys/kernel/btf/vmlinux) missing");
  vigil::test::TempDir dir;
  ::mkdir((dir / "wanted").c_str(), 0755);
  ::mkdir((dir / "other").c_str(), 0755);
  const std::string capture_file = dir / "paths.vcap";
  BackgroundCapture capture(dir, {"-w", capture_file, "--syscall", "openat", "--path", dir / "wanted/"});
  ASSERT_TRUE(capture.wait_ready(capture_file)) << capture.err();
  vigil::test::write_text(dir / "wanted/in", "x");
  vigil::test::write_text(dir / "other/out", "x");
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(capture.stop(), 0) << capture.err();

  auto replay = run_vigil({"capture", "-r", capture_file, "--json"});
  EXPECT_EXIT_CODE(replay, 0);
  bool saw_wanted = false;
  for (const auto& event : json_lines(replay.out)) {
    const std::string path = event.value("path", "");
    EXPECT_NE(path, dir / "other/out") << "filtered in the kernel";
    // Every absolute path this test opened is under the prefix. Other processes (a compiler
    // running beside the test) open relative or "/.."-laden paths the filter passes unjudged,
    // and the capture shows them resolved: they say nothing about the filter.
    if (event.value("pid", 0) == ::getpid() && !path.empty() && path[0] == '/') {
      EXPECT_TRUE(path.starts_with(dir / "wanted/")) << path;
    }
    saw_wanted |= path == dir / "wanted/in";
  }
  EXPECT_TRUE(saw_wanted) << replay.out.substr(0, 4000);
  auto with_replay = run_vigil({"capture", "-r", capture_file, "--path", "/etc/"});
  EXPECT_EXIT_CODE(with_replay, 2);
}

// The cgroup2 mount point, from /proc/self/mountinfo ("" if none).
std::string cgroup2_mount() {
  std::istringstream in(vigil::test::read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    if (root == "/") return mount_point;
  }
  return "";
}

TEST(EventsCapture, ContainerFilterKeepsOnlyThatContainersEvents) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (/sys/kernel/btf/vmlinux) missing");
  const std::string mount = cgroup2_mount();
  VIGIL_REQUIRE(!mount.empty(), "no cgroup2 hierarchy mounted");
  // A cgroup named like docker's: the runtime pattern src/state recognises.
  std::string id;
  std::mt19937_64 random(std::random_device{}());
  for (int i = 0; i < 4; ++i) id += fmt_hex(random());
  const std::string cgroup = mount + "/docker-" + id + ".scope";
  ASSERT_EQ(::mkdir(cgroup.c_str(), 0755), 0) << cgroup;
  struct RemoveCgroup {
    std::string path;
    ~RemoveCgroup() { ::rmdir(path.c_str()); }
  } remove{cgroup};

  vigil::test::TempDir dir;
  const std::string capture_file = dir / "container.vcap";
  BackgroundCapture capture(dir, {"-w", capture_file, "--syscall", "procexec", "--container", id.substr(0, 12)});
  ASSERT_TRUE(capture.wait_ready(capture_file)) << capture.err();
  const std::string marker = random_marker();
  // Inside: a shell that moves itself into the cgroup, then execs echo. Outside: plain echo.
  auto inside = vigil::test::run({"/bin/sh", "-c", "echo $$ > " + cgroup + "/cgroup.procs && exec /bin/echo " + marker});
  ASSERT_EQ(inside.exit_code, 0) << inside.err;
  run_echo(marker + "-outside");
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(capture.stop(), 0) << capture.err();

  auto replay = run_vigil({"capture", "-r", capture_file, "--json"});
  EXPECT_EXIT_CODE(replay, 0);
  const auto events = json_lines(replay.out);
  ASSERT_EQ(events.size(), 1u) << replay.out;
  EXPECT_EQ(events[0]["event"], "procexec");
  EXPECT_EQ(events[0]["args"], nlohmann::json::array({"/bin/echo", marker}));
}

TEST(EventsCapture, UnprivilegedLiveCaptureSaysItNeedsRoot) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(vigil::test::have_program("setpriv"), "setpriv (util-linux) not installed");
  auto result = vigil::test::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "--inh-caps=-all", vigil::test::vigil_binary(), "capture", "--count", "1"},
                                 30);
  EXPECT_EXIT_CODE(result, 2);
  EXPECT_NE(result.err.find("live capture needs root"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("-r FILE"), std::string::npos) << result.err;
}

}  // namespace
