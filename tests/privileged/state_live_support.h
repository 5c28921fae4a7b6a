#pragma once
// Shared by the privileged state tests: a live ProcessProbe feeding a ProcessTable through the
// events decoder, and reading /proc the way the tests compare against it.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "events/event.h"
#include "probe/probe.h"
#include "state/process_table.h"
#include "support/test_support.h"

namespace vigil::state::live_testing {

using namespace std::chrono_literals;

struct LiveTable {
  vigil::probe::EventProbe probe;
  std::unique_ptr<ContainerResolver> resolver;
  std::unique_ptr<ProcessTable> table;
  std::uint64_t records = 0;
  std::uint64_t decode_errors = 0;
  std::string first_decode_error = {};

  // Polls until `done` holds (checked between polls) or `limit` passes; applies every record.
  bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!pump(50ms)) return false;
    }
    return true;
  }

  // Applies what arrives within one wait; false on a poll error.
  bool pump(std::chrono::milliseconds wait) {
    auto n = probe.poll(wait, [&](std::span<const std::uint8_t> record) {
      ++records;
      auto event = vigil::events::decode_record(record);
      if (!event) {
        if (decode_errors++ == 0) first_decode_error = vigil::events::describe(event.error());
        return;
      }
      table->apply(*event);
    });
    if (!n) ADD_FAILURE() << "poll: " << n.error().message;
    return n.has_value();
  }

  // Applies records until none arrived for `quiet`.
  void drain(std::chrono::milliseconds quiet = 300ms) {
    for (int rounds = 0; rounds < 200; ++rounds) {
      const std::uint64_t before = records;
      if (!pump(quiet) || records == before) return;
    }
  }
};

// Opens the probe first, then seeds the table: every change after the seed is in the ring.
// `syscalls`: names to capture besides the process records.
inline std::optional<LiveTable> open_live_table(ProcessTableOptions options = {},
                                                const std::vector<std::string>& syscalls = {}) {
  std::vector<int> numbers;
  for (const std::string& name : syscalls) {
    const auto* known = vigil::probe::EventProbe::find_syscall(name);
    if (known == nullptr) {
      ADD_FAILURE() << "the probe cannot capture " << name;
      return std::nullopt;
    }
    numbers.push_back(known->number);
  }
  auto probe = vigil::probe::EventProbe::open({.ring_buffer_bytes = std::size_t{32} << 20, .syscalls = numbers});
  if (!probe) {
    ADD_FAILURE() << "EventProbe::open: " << probe.error().message;
    return std::nullopt;
  }
  auto mount = CgroupPaths::find_cgroup2_mount();
  if (!mount) {
    ADD_FAILURE() << mount.error().message;
    return std::nullopt;
  }
  LiveTable live{std::move(*probe), nullptr, nullptr};
  live.resolver = std::make_unique<ContainerResolver>(std::make_unique<CgroupPaths>(*mount));
  live.table = std::make_unique<ProcessTable>(*live.resolver, options);
  if (auto seeded = live.table->seed(); !seeded) {
    ADD_FAILURE() << "seed: " << seeded.error().message;
    return std::nullopt;
  }
  return live;
}

// The "0::" path of /proc/PID/cgroup, or nullopt when the process is gone.
inline std::optional<std::string> cgroup_v2_path(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  if (!in) return std::nullopt;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return std::nullopt;
}

inline std::uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A `sleep 30` child, killed and reaped when this goes out of scope. pid is -1 if fork failed.
struct SleepingChild {
  pid_t pid = start();
  SleepingChild() = default;
  SleepingChild(const SleepingChild&) = delete;
  SleepingChild& operator=(const SleepingChild&) = delete;
  ~SleepingChild() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

 private:
  static pid_t start() {
    const pid_t child = ::fork();
    if (child == 0) {
      char* argv[] = {const_cast<char*>("sleep"), const_cast<char*>("30"), nullptr};
      ::execv("/bin/sleep", argv);
      ::_exit(127);
    }
    return child;
  }
};

// Whether the table has pid live, already running sleep (its exec applied).
inline bool runs_sleep(const ProcessTable& table, pid_t pid) {
  const Process* p = table.find_live(static_cast<std::uint32_t>(pid));
  return p != nullptr && p->comm == "sleep";
}

#define STATE_LIVE_PRECONDITIONS()                                                    \
  VIGIL_REQUIRE_ROOT();                                                               \
  VIGIL_REQUIRE(::access("/sys/kernel/btf/vmlinux", R_OK) == 0, "kernel BTF (CO-RE)"); \
  VIGIL_REQUIRE(vigil::state::CgroupPaths::find_cgroup2_mount().has_value(), "a cgroup2 mount")

}  // namespace vigil::state::live_testing
