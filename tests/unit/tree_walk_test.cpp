#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

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
  EXPECT_EQ(result.files, expected);
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
  EXPECT_EQ(result.files, std::vector<std::string>{dir / "a"});
  EXPECT_TRUE(has_issue(result, dir.path(), WalkIssue::Kind::skipped, "use -r"));
  EXPECT_TRUE(has_issue(result, dir / "missing", WalkIssue::Kind::failed, "No such file"));
}

TEST(TreeWalk, ExplicitSymlinkRootIsFollowed) {
  test::TempDir dir;
  test::write_text(dir / "a", "1");
  ASSERT_EQ(::symlink("a", (dir / "link").c_str()), 0);
  auto result = collect_files({dir / "link"}, WalkOptions{});
  EXPECT_EQ(result.files, std::vector<std::string>{dir / "link"});
}

TEST(TreeWalk, SigSidecarsLeftOutOnlyWhenAsked) {
  test::TempDir dir;
  test::write_text(dir / "a", "1");
  test::write_text(dir / "a.sig", "s");
  test::write_text(dir / "lonely.sig", "s");
  auto with = collect_files({dir.path()}, WalkOptions{.recursive = true, .skip_sig_sidecars = true});
  EXPECT_EQ(with.files, (std::vector<std::string>{dir / "a", dir / "lonely.sig"}));
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
    for (const auto& file : result.files) summary += "file " + file + "\n";
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
