#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/tree_walk.h"
#include "support/test_support.h"

using namespace vigil;

namespace {

bool has_issue(const WalkResult& result, const std::string& path, WalkIssue::Kind kind, const std::string& fragment) {
  return std::any_of(result.issues.begin(), result.issues.end(), [&](const WalkIssue& issue) {
    return issue.path == path && issue.kind == kind && issue.reason.find(fragment) != std::string::npos;
  });
}

}  // namespace

TEST(TreeWalk, RegularFilesOnlyAndSpecialFilesSkipped) {
  test::TempDir dir;
  ::mkdir((dir / "sub").c_str(), 0755);
  ::mkdir((dir / "sub/deeper").c_str(), 0755);
  test::write_text(dir / "a", "1");
  test::write_text(dir / "sub/with space", "2");
  test::write_text(dir / "sub/new\nline", "3");
  test::write_text(dir / "sub/deeper/z", "4");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  ASSERT_EQ(::symlink("a", (dir / "link").c_str()), 0);
  ASSERT_EQ(::symlink("loop2", (dir / "loop1").c_str()), 0);
  ASSERT_EQ(::symlink("loop1", (dir / "loop2").c_str()), 0);
  ASSERT_EQ(::symlink(".", (dir / "sub/self").c_str()), 0);  // a directory loop if followed
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string sock_path = dir / "sock";
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);

  const WalkResult result = collect_files({dir.path()}, WalkOptions{.recursive = true});
  ::close(sock);
  const std::vector<std::string> expected = {dir / "a", dir / "sub/new\nline", dir / "sub/with space",
                                             dir / "sub/deeper/z"};
  EXPECT_EQ(result.paths(), expected);
  EXPECT_TRUE(has_issue(result, dir / "fifo", WalkIssue::Kind::skipped, "FIFO"));
  EXPECT_TRUE(has_issue(result, dir / "sock", WalkIssue::Kind::skipped, "socket"));
  EXPECT_TRUE(has_issue(result, dir / "link", WalkIssue::Kind::skipped, "symlink"));
  EXPECT_TRUE(has_issue(result, dir / "loop1", WalkIssue::Kind::skipped, "symlink"));
  EXPECT_TRUE(has_issue(result, dir / "sub/self", WalkIssue::Kind::skipped, "symlink"));
}

TEST(TreeWalk, DirectoryNeedsRecursiveAndMissingPathFails) {
  test::TempDir dir;
  test::write_text(dir / "a", "1");
  auto result = collect_files({dir.path(), dir / "missing", dir / "a"}, WalkOptions{});
  EXPECT_EQ(result.paths(), std::vector<std::string>{dir / "a"});
  EXPECT_TRUE(has_issue(result, dir.path(), WalkIssue::Kind::skipped, "use -r"));
  EXPECT_TRUE(has_issue(result, dir / "missing", WalkIssue::Kind::failed, "No such file"));
}

TEST(TreeWalk, ExplicitSymlinkRootIsFollowed) {
  test::TempDir dir;
  test::write_text(dir / "a", "1");
  ASSERT_EQ(::symlink("a", (dir / "link").c_str()), 0);
  auto result = collect_files({dir / "link"}, WalkOptions{});
  EXPECT_EQ(result.paths(), std::vector<std::string>{dir / "link"});
}

TEST(TreeWalk, SigSidecarsLeftOutOnlyWhenAsked) {
  test::TempDir dir;
  test::write_text(dir / "a", "1");
  test::write_text(dir / "a.sig", "s");
  test::write_text(dir / "lonely.sig", "s");
  auto with = collect_files({dir.path()}, WalkOptions{.recursive = true, .skip_sig_sidecars = true});
  EXPECT_EQ(with.paths(), (std::vector<std::string>{dir / "a", dir / "lonely.sig"}));
  auto without = collect_files({dir.path()}, WalkOptions{.recursive = true});
  EXPECT_EQ(without.files.size(), 3u);
}

TEST(TreeWalk, UnreadableDirectoryIsReportedAndWalkGoesOn) {
  test::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  ::mkdir((dir / "closed").c_str(), 0000);
  test::write_text(dir / "b", "1");
  // Root reads any directory, so the walk runs in a child that is not root.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) ::_exit(2);
    const auto result = collect_files({dir.path()}, WalkOptions{.recursive = true});
    std::string summary;
    for (const auto& file : result.files) summary += "file " + file.path + "\n";
    for (const auto& issue : result.issues) {
      summary += (issue.kind == WalkIssue::Kind::failed ? "failed " : "skipped ") + issue.path + ": " + issue.reason + "\n";
    }
    (void)!::write(pipe_fds[1], summary.data(), summary.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string summary;
  char buffer[4096];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) summary.append(buffer, static_cast<size_t>(got));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(summary, "file " + (dir / "b") + "\nfailed " + (dir / "closed") + ": cannot open directory: Permission denied\n");
}

// Finding 7 of issue 16: a directory swapped for a symlink between its listing and the walk
// entering it. The walker opens it through its parent with O_NOFOLLOW and checks its inode:
// nothing outside the tree is ever listed.
TEST(TreeWalk, DirectorySwappedForASymlinkAfterListingIsNotEntered) {
  test::TempDir dir;
  test::TempDir outside;
  test::write_text(outside / "target", "outside the tree");
  ::mkdir((dir / "sub").c_str(), 0755);
  test::write_text(dir / "sub/inside", "inside");
  test::write_text(dir / "z", "after");
  WalkOptions options{.recursive = true};
  int swaps = 0;
  options.before_descend = [&](const std::string& path) {
    if (path != dir / "sub") return;
    ASSERT_EQ(::rename(path.c_str(), (dir / "sub.moved").c_str()), 0);
    ASSERT_EQ(::symlink(outside.path().c_str(), path.c_str()), 0);
    ++swaps;
  };
  const WalkResult result = collect_files({dir.path()}, options);
  EXPECT_EQ(swaps, 1);
  EXPECT_EQ(result.paths(), std::vector<std::string>{dir / "z"});
  EXPECT_TRUE(has_issue(result, dir / "sub", WalkIssue::Kind::failed, "changed while walking"));
}

// A directory replaced by another real directory (a rename within the tree) is not entered
// either: it is not the one that was listed.
TEST(TreeWalk, DirectoryReplacedByAnotherDirectoryIsNotEntered) {
  test::TempDir dir;
  ::mkdir((dir / "sub").c_str(), 0755);
  ::mkdir((dir / "other").c_str(), 0755);
  test::write_text(dir / "other/f", "x");
  WalkOptions options{.recursive = true};
  options.before_descend = [&](const std::string& path) {
    if (path != dir / "sub") return;
    // Made first and renamed over the old one, so it cannot get the old one's inode number.
    ASSERT_EQ(::mkdir((path + ".new").c_str(), 0755), 0);
    test::write_text(path + ".new/new", "appeared after the listing");
    ASSERT_EQ(::rename((path + ".new").c_str(), path.c_str()), 0);
  };
  const WalkResult result = collect_files({dir.path()}, options);
  EXPECT_EQ(result.paths(), std::vector<std::string>{dir / "other/f"});
  EXPECT_TRUE(has_issue(result, dir / "sub", WalkIssue::Kind::failed, "changed while walking"));
}

// Files are opened long after the walk (by the workers). A directory on the way swapped for a
// symlink by then, or the file itself swapped, is refused; the file outside is never opened.
TEST(TreeWalk, OpeningAfterTheWalkStaysBeneathTheRootAndOnTheListedFile) {
  test::TempDir dir;
  test::TempDir outside;
  ::mkdir((outside / "sub").c_str(), 0755);
  test::write_text(outside / "sub/f", "outside");
  ::mkdir((dir / "sub").c_str(), 0755);
  test::write_text(dir / "sub/f", "inside");
  test::write_text(dir / "g", "inside");
  test::write_text(dir / "h", "inside");
  const WalkResult result = collect_files({dir.path()}, WalkOptions{.recursive = true});
  ASSERT_EQ(result.paths(), (std::vector<std::string>{dir / "g", dir / "h", dir / "sub/f"}));
  const WalkedFile& g = result.files[0];
  const WalkedFile& h = result.files[1];
  const WalkedFile& f = result.files[2];
  {
    auto opened = open_walked_file(f);
    ASSERT_TRUE(opened) << opened.error().message;
  }
  // The directory on the way becomes a symlink to a directory with the same layout outside.
  ASSERT_EQ(::rename((dir / "sub").c_str(), (dir / "sub.moved").c_str()), 0);
  ASSERT_EQ(::symlink((outside / "sub").c_str(), (dir / "sub").c_str()), 0);
  auto through_link = open_walked_file(f);
  ASSERT_FALSE(through_link);
  EXPECT_NE(through_link.error().message.find("changed while walking"), std::string::npos) << through_link.error().message;
  std::string name;
  auto parent = open_walked_parent(f, name);
  EXPECT_FALSE(parent) << "the sidecar's directory is reached through the symlink";
  // The root's own path swapped: the walk holds the root open, so files still come from it.
  // The file itself swapped for a symlink: refused.
  ASSERT_EQ(::unlink((dir / "g").c_str()), 0);
  ASSERT_EQ(::symlink((outside / "sub/f").c_str(), (dir / "g").c_str()), 0);
  auto link_file = open_walked_file(g);
  ASSERT_FALSE(link_file);
  EXPECT_NE(link_file.error().message.find("changed while walking"), std::string::npos) << link_file.error().message;
  // The file replaced by another regular file: not the file that was listed.
  test::write_text(dir / "h.new", "a new file under the old name");
  ASSERT_EQ(::rename((dir / "h.new").c_str(), (dir / "h").c_str()), 0);
  auto replaced = open_walked_file(h);
  ASSERT_FALSE(replaced);
  EXPECT_NE(replaced.error().message.find("not the file that was listed"), std::string::npos) << replaced.error().message;
}

TEST(TreeWalk, RootIsHeldOpenWhileItsPathChanges) {
  test::TempDir dir;
  test::TempDir outside;
  ::mkdir((dir / "root").c_str(), 0755);
  test::write_text(dir / "root/f", "inside");
  test::write_text(outside / "f", "outside");
  const WalkResult result = collect_files({dir / "root"}, WalkOptions{.recursive = true});
  ASSERT_EQ(result.files.size(), 1u);
  // The root's path now names another directory; the walk's files are still the walked ones.
  ASSERT_EQ(::rename((dir / "root").c_str(), (dir / "root.moved").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), (dir / "root").c_str()), 0);
  auto opened = open_walked_file(result.files[0]);
  ASSERT_TRUE(opened) << opened.error().message;
  char buffer[16] = {};
  ASSERT_EQ(::read(opened->get(), buffer, sizeof buffer), 6);
  EXPECT_EQ(std::string(buffer), "inside");
}

// The fallback for kernels without openat2: one openat per component, never through a symlink
// and never above the root.
TEST(TreeWalk, ComponentFallbackRefusesSymlinksAndDotDot) {
  test::TempDir dir;
  test::TempDir outside;
  test::write_text(outside / "f", "outside");
  ::mkdir((dir / "a").c_str(), 0755);
  ::mkdir((dir / "a/b").c_str(), 0755);
  test::write_text(dir / "a/b/f", "inside");
  ASSERT_EQ(::symlink(outside.path().c_str(), (dir / "a/link").c_str()), 0);
  ASSERT_EQ(::symlink((outside / "f").c_str(), (dir / "a/b/flink").c_str()), 0);
  UniqueFd root(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_GE(root.get(), 0);
  UniqueFd good(detail::open_beneath_by_components(root.get(), "a/b/f", O_RDONLY | O_CLOEXEC));
  EXPECT_GE(good.get(), 0) << std::strerror(errno);
  for (const char* bad : {"a/link/f", "a/b/flink", "a/../a/b/f", "../x", "/etc/passwd", "a//b/f", ""}) {
    errno = 0;
    UniqueFd fd(detail::open_beneath_by_components(root.get(), bad, O_RDONLY | O_CLOEXEC));
    EXPECT_LT(fd.get(), 0) << bad;
    EXPECT_TRUE(errno == ENOTDIR || errno == ELOOP || errno == EXDEV) << bad << ": " << std::strerror(errno);
  }
}
