// Evaluation allocates nothing for an event no rule matches (after the first events warmed the
// scratch buffers up). Counted by replacing the global operator new for this test binary; the
// count only runs while a test turns it on.
// GCC pairs the replaced operator new with malloc and then flags every delete in this file as
// mismatched; the replacement below is consistent (malloc/free on both sides).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "rules_test_support.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};
}  // namespace

// Every plain form is replaced, nothrow and array ones too: under ASan a form left out comes
// from the sanitizer's allocator and its pointer then reaches this free() (std::stable_sort's
// temporary buffer is a nothrow new), which ASan reports as an alloc-dealloc mismatch.
// (The align_val_t forms stay the sanitizer's on both sides.)
namespace {
void* counted_malloc(std::size_t size) noexcept {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* pointer = counted_malloc(size)) return pointer;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* pointer = counted_malloc(size)) return pointer;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }

namespace {

using namespace vigil;

TEST(RulesAllocation, NoneOnTheNonMatchingPath) {
  test::RulesWorld world;
  const std::string path = std::string(VIGIL_SOURCE_DIR) + "/tests/data/rules/falco_style.yaml";
  rules::LoadReport report;
  rules::RuleSet set = rules::RuleSet::load_files(std::vector<std::string>{path}, report);
  ASSERT_TRUE(report.ok());
  rules::LoadReport extra_report;
  rules::RuleSet extra = test::load_rules(
      test::one_rule("proc.cmdline contains never-there or proc.aname = never-there or fd.name pmatch (/nope) or "
                     "evt.args contains never-there or thread.cap_effective contains CAP_NOPE or "
                     "user.name = never-there or proc.acmdline contains never-there"),
      extra_report);
  ASSERT_TRUE(extra_report.ok()) << test::all_diagnostics(extra_report);

  std::vector<test::DecodedRecord> events;
  events.push_back(test::decoded(test::file_record(VIGIL_NR_openat, 200, "../notes/./x.txt", 3, O_RDONLY, "sudo")));
  events.push_back(test::decoded(test::file_record(VIGIL_NR_openat, 100, "/usr/lib/libc.so.6", 3, O_RDONLY, "bash")));
  events.push_back(test::decoded(test::make_execve_syscall(100, "/usr/bin/ls", 0, {"ls", "-la", "/tmp"})));
  auto connect = test::net_record(VIGIL_NR_connect, 100, 4, 0, "bash");
  test::set_v4(connect.remote, 10, 1, 2, 3, 80);
  events.push_back(test::decoded(connect));
  events.push_back(test::decoded(test::proc_record(VIGIL_NR_kill, 300, 0, {1, 15}, "nginx")));

  std::size_t matches = 0;
  const auto sink = [&](const rules::Match&) { ++matches; };
  const auto run_all = [&] {
    for (const auto& event : events) {
      set.evaluate(rules::EvalContext{*event, world.table.get()}, sink);
      extra.evaluate(rules::EvalContext{*event, world.table.get()}, sink);
    }
  };
  run_all();  // warm-up: scratch buffers and name caches grow once
  allocations = 0;
  counting = true;
  for (int round = 0; round < 50; ++round) run_all();
  counting = false;
  EXPECT_EQ(matches, 0u);
  EXPECT_EQ(allocations.load(), 0u);
}

}  // namespace
