// The in-kernel path filter (EventProbe::set_path_filters, bpf/syscalls.bpf.c path_wanted): real
// file syscalls under wanted and unwanted directories, and what leaves the kernel.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;
using vigil::probe::PathFilter;
using vigil::probe::PathFilters;


std::set<std::string> paths_of(const Records& records, pid_t tid, long nr) {
  std::set<std::string> paths;
  for (const auto& e : Records::of(records.files, tid, nr)) paths.insert(text(e.path, e.path_size));
  return paths;
}

// Opens (read-only unless `write`) and closes; the path need not exist.
void touch_open(const std::string& path, bool write) {
  long fd = sys(SYS_openat, AT_FDCWD, path.c_str(), write ? (O_WRONLY | O_CREAT) : O_RDONLY, 0600);
  if (fd >= 0) ::close(static_cast<int>(fd));
}

TEST(ProbePathFilter, OnlyWantedPathsLeaveTheKernel) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  for (const char* sub : {"/wanted", "/writes", "/other", "/wanted-not"}) ASSERT_EQ(::mkdir((dir.path() + sub).c_str(), 0755), 0);
  auto probe = open_probe({SYS_openat, SYS_unlinkat});
  ASSERT_TRUE(probe);
  const std::string wanted = dir / "wanted/";
  const std::string writes = dir / "writes/";
  ASSERT_TRUE(probe->set_path_filters(PathFilters{
      {SYS_openat, PathFilter{.prefixes = {wanted}, .write_prefixes = {writes}}},
      {SYS_unlinkat, PathFilter{.prefixes = {}, .write_prefixes = {writes}}}}));
  auto filtered_before = probe->filtered_by_path();
  ASSERT_TRUE(filtered_before);

  touch_open(dir / "wanted/a", true);      // wanted: any open
  touch_open(dir / "wanted/a", false);
  touch_open(dir / "writes/b", true);      // write-only prefix: the write passes ...
  touch_open(dir / "writes/b", false);     // ... the read does not
  touch_open(dir / "other/c", true);       // no prefix
  touch_open(dir / "wanted-not/d", false); // byte-wise prefix "wanted/" does not cover "wanted-not/"
  const std::string sneaky = dir.path() + "/other/../wanted/e";  // could be wanted: passes
  touch_open(sneaky, false);
  const std::string doubled = dir.path() + "//other/f";          // "//": passes
  touch_open(doubled, false);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  touch_open("other/relative", false);                            // relative: passes
  ASSERT_EQ(::chdir("/"), 0);
  ASSERT_EQ(sys(SYS_unlinkat, AT_FDCWD, (dir / "writes/b").c_str(), 0), 0);  // unlink counts as a write
  ASSERT_EQ(sys(SYS_unlinkat, AT_FDCWD, (dir / "other/c").c_str(), 0), 0);   // filtered

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_openat, 6}, {SYS_unlinkat, 1}}));
  drain(*probe, records);
  EXPECT_EQ(paths_of(records, self.tid, SYS_openat),
            (std::set<std::string>{dir / "wanted/a", dir / "writes/b", sneaky, doubled, "other/relative"}));
  EXPECT_EQ(Records::count_of(records.files, self.tid, SYS_openat), 6u);  // wanted/a twice
  EXPECT_EQ(paths_of(records, self.tid, SYS_unlinkat), (std::set<std::string>{dir / "writes/b"}));
  auto filtered_after = probe->filtered_by_path();
  ASSERT_TRUE(filtered_after);
  EXPECT_GE(*filtered_after - *filtered_before, 4u);  // read of writes/b, other/c, wanted-not/d, unlink other/c

  // Replacing the filters: the other directory is wanted now; clearing: everything passes.
  ASSERT_TRUE(probe->set_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {dir / "other/"}}}}));
  EXPECT_EQ(probe->path_filters().size(), 1u);
  touch_open(dir / "other/g", false);
  touch_open(dir / "wanted/h", false);
  ASSERT_TRUE(probe->set_path_filters({}));
  touch_open(dir / "wanted/i", false);
  Records later;
  ASSERT_TRUE(poll_for_counts(*probe, later, &Records::files, self.tid, {{SYS_openat, 2}}));
  drain(*probe, later);
  EXPECT_EQ(paths_of(later, self.tid, SYS_openat), (std::set<std::string>{dir / "other/g", dir / "wanted/i"}));
}

// The filter reads a path eight bytes at a time: "//" and "/." must be seen wherever they fall
// (inside a word or across two), and only before the NUL. Paths starting with a byte no prefix
// starts with are judged without the trie; spelled with "/..", they still pass.
TEST(ProbePathFilter, AliasesPassAtEveryOffsetAndLeadsSkipTheTrie) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  for (const char* sub : {"/wanted", "/other"}) ASSERT_EQ(::mkdir((dir.path() + sub).c_str(), 0755), 0);
  auto probe = open_probe({SYS_openat});
  ASSERT_TRUE(probe);
  ASSERT_TRUE(probe->set_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {dir / "wanted/"}}}}));
  auto filtered_before = probe->filtered_by_path();
  ASSERT_TRUE(filtered_before);

  std::set<std::string> passing;
  std::size_t filtered_opens = 0;
  for (std::size_t pad = 0; pad < 17; ++pad) {
    const std::string base = dir.path() + "/other/x" + std::string(pad, 'x');
    for (const std::string& alias : {base + "//f", base + "/./f", base + "/../f", base + "/.f"}) {
      touch_open(alias, false);
      passing.insert(alias);
    }
    touch_open(base + "/f", false);        // plain, under no prefix: filtered
    touch_open(base + "x.y/z/", false);    // a '.' not after '/', a trailing '/': plain, filtered
    filtered_opens += 2;
  }
  touch_open("/dev/null", false);           // a lead no prefix has: filtered without the trie
  ++filtered_opens;
  const std::string around = "/dev/.." + dir.path() + "/other/g";  // the same lead, but "/.": passes
  touch_open(around, false);
  passing.insert(around);
  touch_open(dir / "wanted/h", false);      // wanted
  passing.insert(dir / "wanted/h");

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_openat, passing.size()}}));
  drain(*probe, records);
  EXPECT_EQ(paths_of(records, self.tid, SYS_openat), passing);
  auto filtered_after = probe->filtered_by_path();
  ASSERT_TRUE(filtered_after);
  EXPECT_GE(*filtered_after - *filtered_before, filtered_opens);
}

// rename* names two paths: the call leaves the kernel when either is under a prefix.
TEST(ProbePathFilter, RenameIsWantedWhenEitherPathIs) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  for (const char* sub : {"/wanted", "/other"}) ASSERT_EQ(::mkdir((dir.path() + sub).c_str(), 0755), 0);
  auto probe = open_probe({SYS_renameat});
  ASSERT_TRUE(probe);
  ASSERT_TRUE(probe->set_path_filters(PathFilters{{SYS_renameat, PathFilter{.prefixes = {dir / "wanted/"}}}}));
  auto rename_file = [&](const std::string& from, const std::string& to) {
    vigil::test::write_text(from, "x");
    ASSERT_EQ(sys(SYS_renameat, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str()), 0);
  };
  rename_file(dir / "other/a", dir / "wanted/a");  // into: wanted (second path)
  rename_file(dir / "wanted/a", dir / "other/b");  // out of: wanted (first path)
  rename_file(dir / "other/b", dir / "other/c");   // elsewhere: filtered
  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_renameat, 2}}));
  drain(*probe, records);
  auto renames = Records::of(records.files, self.tid, SYS_renameat);
  ASSERT_EQ(renames.size(), 2u);
  EXPECT_EQ(text(renames[0].path, renames[0].path_size), dir / "other/a");
  EXPECT_EQ(text(renames[0].path2, renames[0].path2_size), dir / "wanted/a");
  EXPECT_EQ(text(renames[1].path, renames[1].path_size), dir / "wanted/a");
  EXPECT_EQ(text(renames[1].path2, renames[1].path2_size), dir / "other/b");
}

TEST(ProbePathFilter, RejectsWhatItCannotFilter) {
  PROBE_SYSCALL_PRECONDITIONS();
  auto probe = open_probe({SYS_openat});
  ASSERT_TRUE(probe);
  EXPECT_FALSE(probe->set_path_filters(PathFilters{{SYS_fchmod, PathFilter{.prefixes = {"/etc/"}}}}));
  EXPECT_FALSE(probe->set_path_filters(PathFilters{{SYS_openat, PathFilter{.prefixes = {"etc/"}}}}));
  EXPECT_TRUE(probe->path_filters().empty());
}

}  // namespace
