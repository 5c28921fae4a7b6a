// Rule evaluation speed: a loaded rule set (rules/default.yaml when the tree has one, else the
// test fixture tests/data/rules/falco_style.yaml; VIGIL_BENCH_RULES names another file) over a realistic mix of events, with the
// process table behind it as in the agent. Reports events/s (items_per_second). Not a test.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "../tests/unit/events_test_records.h"
#include "rules/rules.h"
#include "state/process_table.h"

namespace {

using vigil::test::DecodedRecord;
using vigil::test::record_bytes;

std::string rules_path() {
  if (const char* chosen = std::getenv("VIGIL_BENCH_RULES"); chosen != nullptr && *chosen != '\0') return chosen;
  const std::string tree = VIGIL_SOURCE_DIR;
  if (std::filesystem::exists(tree + "/rules/default.yaml")) return tree + "/rules/default.yaml";
  return tree + "/tests/data/rules/falco_style.yaml";
}

vigil_syscall_file_event open_event(std::uint32_t pid, std::string_view path, std::uint64_t flags, std::string_view comm) {
  auto file = vigil::test::make_openat(pid, path, 3);
  file.open_flags = flags;
  std::memset(file.header.comm, 0, sizeof file.header.comm);
  std::memcpy(file.header.comm, comm.data(), comm.size());
  return file;
}

struct Fixture {
  std::unique_ptr<vigil::state::ContainerResolver> resolver;
  std::unique_ptr<vigil::state::ProcessTable> table;
  vigil::rules::RuleSet rules;
  std::vector<DecodedRecord> history;  // fed to the table once
  std::vector<DecodedRecord> mix;      // evaluated in the loop

  Fixture() {
    vigil::rules::LoadReport report;
    const std::vector<std::string> files{rules_path()};
    rules = vigil::rules::RuleSet::load_files(files, report);
    std::fprintf(stderr, "rules: %s: %zu loaded, %zu skipped, %zu errors\n", files[0].c_str(), report.loaded,
                 report.skipped, report.errors.size());
    resolver = std::make_unique<vigil::state::ContainerResolver>(std::make_unique<vigil::state::CgroupPaths>(
        "/nonexistent-cgroup", vigil::state::CgroupPathsOptions{.use_file_handles = false}));
    vigil::state::ProcessTableOptions options;
    options.fill_misses_from_proc = false;
    table = std::make_unique<vigil::state::ProcessTable>(*resolver, options);
    // A few processes with parents, so ancestor fields have something to walk.
    for (std::uint32_t pid = 1000; pid < 1008; ++pid) {
      auto fork = vigil::test::make_fork(pid - 1, pid);
      history.emplace_back(record_bytes(fork));
      auto exec = vigil::test::make_exec(pid, pid % 2 ? "/usr/bin/python3" : "/bin/bash",
                                         {pid % 2 ? "python3" : "bash", "-c", "something long enough to matter"});
      exec.header.ppid = pid - 1;
      history.emplace_back(record_bytes(exec));
    }
    for (const auto& event : history) table->apply(*event);

    const char* paths[] = {"/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/status",
                           "/home/user/.cache/x", "/etc/passwd", "/tmp/build/obj.o", "/var/log/syslog", "../rel/file"};
    for (std::uint32_t i = 0; i < 40; ++i) {
      const std::uint32_t pid = 1000 + i % 8;
      mix.emplace_back(record_bytes(open_event(pid, paths[i % 8], i % 5 == 0 ? O_WRONLY | O_CREAT : O_RDONLY | O_CLOEXEC,
                                               pid % 2 ? "python3" : "bash")));
    }
    for (std::uint32_t i = 0; i < 6; ++i) {
      mix.emplace_back(record_bytes(vigil::test::make_execve_syscall(1000 + i, "/usr/bin/ls", 0, {"ls", "-la", "/tmp"})));
      mix.emplace_back(record_bytes(vigil::test::make_connect_v4(1000 + i, 3, 93, 184, 216, 34, 443)));
    }
    mix.emplace_back(record_bytes(vigil::test::make_memfd(1001, "jit", 5)));
    mix.emplace_back(record_bytes(vigil::test::make_setuid(1002, 1000, 0)));
    vigil_syscall_proc_event dup{};
    vigil::test::fill_header(dup.header, VIGIL_EVENT_SYSCALL_PROC, sizeof dup, 1003, "bash");
    dup.sc.syscall_nr = VIGIL_NR_dup2;
    dup.args[0] = 3;
    mix.emplace_back(record_bytes(dup));
  }
};

void BM_RulesEvaluate(benchmark::State& state) {
  static Fixture fixture;
  std::size_t matches = 0;
  std::size_t next = 0;
  const auto sink = [&](const vigil::rules::Match&) { ++matches; };
  for (auto _ : state) {
    const auto& event = fixture.mix[next];
    fixture.rules.evaluate(vigil::rules::EvalContext{*event, fixture.table.get()}, sink);
    if (++next == fixture.mix.size()) next = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["matches"] = static_cast<double>(matches);
  state.counters["rules"] = static_cast<double>(fixture.rules.size());
}
BENCHMARK(BM_RulesEvaluate);

}  // namespace

BENCHMARK_MAIN();
