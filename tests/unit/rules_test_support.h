#pragma once
// Shared by the rules_* tests: loading rules from text, hand-built syscall records for every
// payload family, and a small world (fake /proc + process table) to evaluate them in.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "events_test_records.h"
#include "rules/rules.h"
#include "state/process_table.h"
#include "state_fake_tree.h"

namespace vigil::test {

inline rules::RuleSet load_rules(const std::string& yaml, rules::LoadReport& report, const std::string& name = "test.yaml",
                                 rules::LoadOptions options = {}) {
  const rules::RuleSource source{name, yaml};
  return rules::RuleSet::load_sources(std::span<const rules::RuleSource>(&source, 1), report, options);
}

// Every diagnostic as text, for failure messages.
inline std::string all_diagnostics(const rules::LoadReport& report) {
  std::string out;
  for (const auto& d : report.errors) out += "error: " + d.to_string() + "\n";
  for (const auto& d : report.warnings) out += "warning: " + d.to_string() + "\n";
  return out;
}

// A rule named "r" with this condition and output.
inline std::string one_rule(const std::string& condition, const std::string& output = "hit") {
  return "- rule: r\n  desc: d\n  condition: '" + condition + "'\n  output: '" + output + "'\n  priority: WARNING\n";
}

inline vigil_syscall_file_event file_record(std::uint32_t nr, std::uint32_t pid, std::string_view path,
                                            std::int64_t ret, std::uint64_t flags = 0, std::string_view comm = "cat") {
  vigil_syscall_file_event file{};
  fill_header(file.header, VIGIL_EVENT_SYSCALL_FILE, sizeof file, pid, comm);
  file.sc.syscall_nr = nr;
  file.sc.ret = ret;
  file.dirfd = -100;
  file.dirfd2 = -100;
  file.fd = ret >= 0 ? static_cast<std::int32_t>(ret) : -1;
  file.open_flags = flags;
  file.path_size = static_cast<std::uint32_t>(path.size() + 1);
  std::memcpy(file.path, path.data(), path.size());
  return file;
}

inline void set_path2(vigil_syscall_file_event& file, std::string_view path) {
  file.path2_size = static_cast<std::uint32_t>(path.size() + 1);
  std::memcpy(file.path2, path.data(), path.size());
}

inline vigil_syscall_net_event net_record(std::uint32_t nr, std::uint32_t pid, std::int32_t fd, std::int64_t ret,
                                          std::string_view comm = "curl") {
  vigil_syscall_net_event net{};
  fill_header(net.header, VIGIL_EVENT_SYSCALL_NET, sizeof net, pid, comm);
  net.sc.syscall_nr = nr;
  net.sc.ret = ret;
  net.fd = fd;
  return net;
}

inline void set_v4(vigil_sockaddr& address, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                   std::uint16_t port) {
  address.family = AF_INET;
  address.port = port;
  address.addr[0] = a;
  address.addr[1] = b;
  address.addr[2] = c;
  address.addr[3] = d;
}

inline vigil_syscall_proc_event proc_record(std::uint32_t nr, std::uint32_t pid, std::int64_t ret,
                                            std::initializer_list<std::uint64_t> args, std::string_view comm = "sh") {
  vigil_syscall_proc_event proc{};
  fill_header(proc.header, VIGIL_EVENT_SYSCALL_PROC, sizeof proc, pid, comm);
  proc.sc.syscall_nr = nr;
  proc.sc.ret = ret;
  std::size_t i = 0;
  for (std::uint64_t arg : args) proc.args[i++] = arg;
  return proc;
}

template <class T>
DecodedRecord decoded(const T& record) {
  DecodedRecord event(record_bytes(record));
  EXPECT_TRUE(event) << "record did not decode";
  return event;
}

// Matches of one evaluation, copied out of the sink.
struct Hit {
  std::string rule;
  std::string output;
  rules::Priority priority;
  rules::Action action;
  std::vector<std::pair<std::string, std::string>> fields;
};

inline std::vector<Hit> evaluate(rules::RuleSet& set, const events::Event& event,
                                 const state::ProcessTable* table = nullptr) {
  std::vector<Hit> hits;
  set.evaluate(rules::EvalContext{event, table}, [&](const rules::Match& match) {
    Hit hit{std::string(match.rule), std::string(match.output), match.priority, match.action, {}};
    for (const auto& field : match.fields) hit.fields.emplace_back(field.name, field.value);
    hits.push_back(std::move(hit));
  });
  return hits;
}

// A fake /proc with init (1), a login shell (100, tty, loginuid 1000) and a process in a
// container (300), seeded into a process table.
struct RulesWorld {
  state::testing::FakeTree tree;
  std::unique_ptr<state::ContainerResolver> resolver;
  std::unique_ptr<state::ProcessTable> table;
  static constexpr const char* kContainerId = "feedfacecafebeef00112233445566778899aabbccddeeff0011223344556677";

  RulesWorld() {
    tree.add({.pid = 1, .ppid = 0, .comm = "systemd", .cmdline = arg_area({"/sbin/init", "splash"}),
              .exe = "/usr/lib/systemd/systemd", .uid = 0, .euid = 0, .gid = 0, .egid = 0, .start_ticks = 1});
    tree.add({.pid = 100, .ppid = 1, .comm = "bash", .cmdline = arg_area({"-bash"}), .exe = "/usr/bin/bash",
              .cwd = "/home/user", .uid = 1000, .euid = 1000, .gid = 1000, .egid = 1000, .tty = 34817,
              .start_ticks = 10, .cgroup = "/user.slice/session-1.scope", .loginuid = 1000,
              .cap_permitted = 0, .cap_effective = 0});
    tree.add({.pid = 200, .ppid = 100, .comm = "sudo", .cmdline = arg_area({"sudo", "-i"}), .exe = "/usr/bin/sudo",
              .cwd = "/home/user", .uid = 1000, .euid = 0, .gid = 1000, .egid = 0, .tty = 34817, .start_ticks = 20,
              .cgroup = "/user.slice/session-1.scope", .loginuid = 1000, .cap_permitted = (1ull << 21) | 1,
              .cap_effective = (1ull << 21) | 1});
    tree.add({.pid = 300, .ppid = 1, .comm = "nginx", .cmdline = arg_area({"nginx", "-g", "daemon off;"}),
              .exe = "/usr/sbin/nginx", .cwd = "/", .uid = 0, .euid = 0, .gid = 0, .egid = 0, .start_ticks = 30,
              .cgroup = std::string("/system.slice/docker-") + kContainerId + ".scope",
              .cap_permitted = 1ull << 16, .cap_effective = 1ull << 16});
    resolver = tree.resolver();
    state::ProcessTableOptions options;
    options.proc_root = tree.proc();
    options.fill_misses_from_proc = false;
    table = std::make_unique<state::ProcessTable>(*resolver, options);
    EXPECT_TRUE(table->seed());
  }
};

}  // namespace vigil::test
