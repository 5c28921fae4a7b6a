// plan_path_filters: what the in-kernel path filter's maps get for a set of filters.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include "path_filter.h"
#include "probe/probe.h"

namespace {

using vigil::probe::PathFilter;
using vigil::probe::PathFilterPlan;
using vigil::probe::PathFilters;

using vigil::probe::plan_path_filters;

std::uint8_t want_of(const PathFilterPlan& plan, std::size_t group, const std::string& prefix) {
  for (const auto& e : plan.entries)
    if (e.group == group && e.prefix == prefix) return e.want;
  ADD_FAILURE() << "no entry " << prefix << " in group " << group;
  return 0;
}

TEST(PathFilterPlan, EqualFiltersShareAGroup) {
  PathFilter etc{.prefixes = {"/etc/", "/etc/"}};
  auto plan = plan_path_filters(PathFilters{{SYS_open, etc},
                                            {SYS_openat, PathFilter{.prefixes = {"/etc/"}}},
                                            {SYS_unlink, PathFilter{.prefixes = {"/var/log/"}}}});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->filters.size(), 2u);
  EXPECT_EQ(plan->group_of.at(SYS_open), plan->group_of.at(SYS_openat));
  EXPECT_NE(plan->group_of.at(SYS_open), plan->group_of.at(SYS_unlink));
  EXPECT_EQ(plan->entries.size(), 2u);  // the duplicate /etc/ is one entry
}

TEST(PathFilterPlan, LongerPrefixesCarryWhatShorterOnesWant) {
  auto plan = plan_path_filters(PathFilters{
      {SYS_openat, PathFilter{.prefixes = {"/etc/shadow", "/root/.ssh/"}, .write_prefixes = {"/etc/", "/usr/bin/", "/root/"}}}});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(want_of(*plan, 0, "/etc/"), VIGIL_PATH_WANT_WRITE);
  EXPECT_EQ(want_of(*plan, 0, "/etc/shadow"), VIGIL_PATH_WANT_ANY | VIGIL_PATH_WANT_WRITE);
  EXPECT_EQ(want_of(*plan, 0, "/root/.ssh/"), VIGIL_PATH_WANT_ANY | VIGIL_PATH_WANT_WRITE);
  EXPECT_EQ(want_of(*plan, 0, "/usr/bin/"), VIGIL_PATH_WANT_WRITE);
  EXPECT_EQ(plan->entries.size(), 5u);
}

TEST(PathFilterPlan, APrefixWantedForAnyCallIsNotAlsoWriteOnly) {
  auto plan = plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {"/tmp/"}, .write_prefixes = {"/tmp/"}}}});
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->filters[0].write_prefixes.empty());
  EXPECT_EQ(want_of(*plan, 0, "/tmp/"), VIGIL_PATH_WANT_ANY);
}

TEST(PathFilterPlan, RejectsWhatTheKernelCannotFilter) {
  EXPECT_TRUE(plan_path_filters(PathFilters{{SYS_rename, PathFilter{.prefixes = {"/etc/"}}}}));  // either path
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_fchmod, PathFilter{.prefixes = {"/etc/"}}}}));
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_connect, PathFilter{.prefixes = {"/etc/"}}}}));
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {"relative/"}}}}));
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {""}}}}));
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {"/" + std::string(254, 'a')}}}}));
  EXPECT_TRUE(plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {"/" + std::string(253, 'a')}}}}));
  EXPECT_FALSE(plan_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {std::string("/a\0b", 4)}}}}));
}

TEST(PathFilterPlan, AFilterWithNoPrefixesKeepsEveryCall) {
  auto plan = plan_path_filters(PathFilters{{SYS_unlink, PathFilter{}}});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->group_of.size(), 1u);
  EXPECT_TRUE(plan->entries.empty());
}

}  // namespace
