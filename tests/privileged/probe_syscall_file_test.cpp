// The syscall probe's file family (VIGIL_EVENT_SYSCALL_FILE), for real: each syscall is made
// with syscall(2) (so the number is the one under test, not what libc picks) and its record is
// checked field by field against the arguments, the return value and stat(2).
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probe_syscall_fixture.h"

namespace {

using namespace vigil::test::syscall_probe;

constexpr int kCreatFlags = O_CREAT | O_WRONLY | O_TRUNC;

// Checks what every file record made by this thread says beyond its family fields.
void expect_file_record(const Self& self, const vigil_syscall_file_event& e, long nr, long ret) {
  self.expect_header(e.header, VIGIL_EVENT_SYSCALL_FILE, sizeof(e));
  EXPECT_EQ(e.sc.syscall_nr, static_cast<__u32>(nr));
  EXPECT_EQ(e.sc.ret, ret);
}

// The one record of syscall nr by this thread; fails the test when there is not exactly one.
const vigil_syscall_file_event* one(const Records& records, const Self& self, long nr,
                                    std::vector<vigil_syscall_file_event>& keep) {
  keep = Records::of(records.files, self.tid, nr);
  EXPECT_EQ(keep.size(), 1u) << "records of syscall " << nr;
  return keep.size() == 1 ? &keep[0] : nullptr;
}

std::string path_of(const vigil_syscall_file_event& e) { return text(e.path, e.path_size); }
std::string path2_of(const vigil_syscall_file_event& e) { return text(e.path2, e.path2_size); }

void expect_no_paths2(const vigil_syscall_file_event& e) {
  EXPECT_EQ(e.path2_size, 0u);
  EXPECT_EQ(e.path2[0], '\0');
  EXPECT_EQ(e.fstype[0], '\0');
}

void expect_opened(const vigil_syscall_file_event& e, int fd) {
  struct stat st{};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(e.fd, fd);
  EXPECT_EQ(e.ino, st.st_ino);
  EXPECT_EQ(e.dev, st.st_dev) << "major " << major(st.st_dev) << " minor " << minor(st.st_dev);
}

TEST(ProbeSyscallFile, OpenCreatOpenatOpenat2) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  Self self;
  auto probe = open_probe({SYS_open, SYS_creat, SYS_openat, SYS_openat2});
  ASSERT_TRUE(probe);

  const std::string created = dir / "created";
  const std::string by_creat = dir / "by-creat";
  const int open_flags = O_CREAT | O_RDWR | O_CLOEXEC | O_EXCL;
  long fd_open = sys(SYS_open, created.c_str(), open_flags, 0640);
  ASSERT_GE(fd_open, 0);
  long fd_creat = sys(SYS_creat, by_creat.c_str(), 0600);
  ASSERT_GE(fd_creat, 0);
  long dirfd = sys(SYS_open, dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  ASSERT_GE(dirfd, 0);
  long fd_openat = sys(SYS_openat, dirfd, "created", O_RDONLY | O_NOFOLLOW, 0);
  ASSERT_GE(fd_openat, 0);
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  long fd_openat2 = sys(SYS_openat2, dirfd, "by-creat", &how, sizeof(how));
  ASSERT_GE(fd_openat2, 0);
  // Failures are captured too.
  const std::string missing = dir / "missing/file";
  long enoent = sys(SYS_openat, AT_FDCWD, missing.c_str(), O_RDONLY, 0);
  ASSERT_EQ(enoent, -ENOENT);
  long efault = sys(SYS_open, nullptr, O_RDONLY, 0);
  ASSERT_EQ(efault, -EFAULT);
  // A path longer than the record's buffer: cut at 255 characters and flagged.
  const std::string long_path = dir.path() + "/" + std::string(300, 'x');
  long toolong = sys(SYS_open, long_path.c_str(), O_RDONLY, 0);
  ASSERT_EQ(toolong, -ENAMETOOLONG);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid,
                              {{SYS_open, 4}, {SYS_openat, 2}, {SYS_creat, 1}, {SYS_openat2, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  auto opens = Records::of(records.files, self.tid, SYS_open);
  ASSERT_EQ(opens.size(), 4u);
  {
    SCOPED_TRACE("open O_CREAT");
    const auto& e = opens[0];
    expect_file_record(self, e, SYS_open, fd_open);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(e.dirfd, AT_FDCWD);
    EXPECT_EQ(e.dirfd2, AT_FDCWD);
    EXPECT_EQ(e.open_flags, static_cast<__u64>(open_flags));
    EXPECT_EQ(e.mode, 0640u);
    EXPECT_EQ(e.resolve, 0u);
    EXPECT_EQ(e.at_flags, 0u);
    EXPECT_EQ(path_of(e), created);
    EXPECT_EQ(e.path_size, created.size() + 1);
    expect_no_paths2(e);
    expect_opened(e, static_cast<int>(fd_open));
  }
  {
    SCOPED_TRACE("open directory");
    const auto& e = opens[1];
    expect_file_record(self, e, SYS_open, dirfd);
    EXPECT_EQ(path_of(e), dir.path());
    EXPECT_EQ(e.open_flags, static_cast<__u64>(O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    expect_opened(e, static_cast<int>(dirfd));
  }
  {
    SCOPED_TRACE("open NULL");
    const auto& e = opens[2];
    expect_file_record(self, e, SYS_open, -EFAULT);
    EXPECT_EQ(e.sc.flags, VIGIL_SYSCALL_PATH_UNREADABLE);
    EXPECT_EQ(e.path_size, 0u);
    EXPECT_EQ(e.path[0], '\0');
    EXPECT_EQ(e.fd, -1);
    EXPECT_EQ(e.ino, 0u);
    EXPECT_EQ(e.dev, 0u);
  }
  {
    SCOPED_TRACE("open long path");
    const auto& e = opens[3];
    expect_file_record(self, e, SYS_open, -ENAMETOOLONG);
    EXPECT_EQ(e.sc.flags, VIGIL_SYSCALL_PATH_TRUNCATED);
    EXPECT_EQ(e.path_size, static_cast<__u32>(VIGIL_SYSCALL_PATH_MAX));
    EXPECT_EQ(std::string(e.path, strnlen(e.path, sizeof(e.path))), long_path.substr(0, VIGIL_SYSCALL_PATH_MAX - 1));
  }
  std::vector<vigil_syscall_file_event> keep;
  if (const auto* e = one(records, self, SYS_creat, keep)) {
    SCOPED_TRACE("creat");
    expect_file_record(self, *e, SYS_creat, fd_creat);
    EXPECT_EQ(e->open_flags, static_cast<__u64>(kCreatFlags));
    EXPECT_EQ(e->mode, 0600u);
    EXPECT_EQ(path_of(*e), by_creat);
    EXPECT_EQ(e->dirfd, AT_FDCWD);
    expect_no_paths2(*e);
    expect_opened(*e, static_cast<int>(fd_creat));
  }
  auto openats = Records::of(records.files, self.tid, SYS_openat);
  ASSERT_EQ(openats.size(), 2u);
  {
    SCOPED_TRACE("openat relative");
    const auto& e = openats[0];
    expect_file_record(self, e, SYS_openat, fd_openat);
    EXPECT_EQ(e.dirfd, dirfd);
    EXPECT_EQ(path_of(e), "created");
    EXPECT_EQ(e.open_flags, static_cast<__u64>(O_RDONLY | O_NOFOLLOW));
    EXPECT_EQ(e.mode, 0u);
    expect_opened(e, static_cast<int>(fd_openat));
  }
  {
    SCOPED_TRACE("openat missing");
    const auto& e = openats[1];
    expect_file_record(self, e, SYS_openat, -ENOENT);
    EXPECT_EQ(e.dirfd, AT_FDCWD);
    EXPECT_EQ(path_of(e), missing);
    EXPECT_EQ(e.fd, -1);
    EXPECT_EQ(e.ino, 0u);
    EXPECT_EQ(e.sc.flags, 0u);
  }
  if (const auto* e = one(records, self, SYS_openat2, keep)) {
    SCOPED_TRACE("openat2");
    expect_file_record(self, *e, SYS_openat2, fd_openat2);
    EXPECT_EQ(e->dirfd, dirfd);
    EXPECT_EQ(path_of(*e), "by-creat");
    EXPECT_EQ(e->open_flags, how.flags);
    EXPECT_EQ(e->mode, 0u);
    EXPECT_EQ(e->resolve, how.resolve);
    expect_opened(*e, static_cast<int>(fd_openat2));
  }
  for (long fd : {fd_open, fd_creat, dirfd, fd_openat, fd_openat2}) ::close(static_cast<int>(fd));
}

TEST(ProbeSyscallFile, UnlinkAndRename) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  for (const char* name : {"a", "b", "c", "d", "e"}) vigil::test::write_text(dir / name, name);
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
  int dirfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dirfd, 0);
  Self self;
  auto probe = open_probe({SYS_unlink, SYS_unlinkat, SYS_rename, SYS_renameat, SYS_renameat2});
  ASSERT_TRUE(probe);

  ASSERT_EQ(sys(SYS_rename, (dir / "a").c_str(), (dir / "a2").c_str()), 0);
  ASSERT_EQ(sys(SYS_renameat, dirfd, "b", AT_FDCWD, (dir / "b2").c_str()), 0);
  ASSERT_EQ(sys(SYS_renameat2, dirfd, "c", dirfd, "d", RENAME_NOREPLACE), -EEXIST);
  ASSERT_EQ(sys(SYS_renameat2, AT_FDCWD, (dir / "c").c_str(), dirfd, "d", RENAME_EXCHANGE), 0);
  ASSERT_EQ(sys(SYS_unlink, (dir / "e").c_str()), 0);
  ASSERT_EQ(sys(SYS_unlink, (dir / "e").c_str()), -ENOENT);
  ASSERT_EQ(sys(SYS_unlinkat, dirfd, "sub", AT_REMOVEDIR), 0);
  ASSERT_EQ(sys(SYS_unlinkat, dirfd, "a2", 0), 0);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid,
                              {{SYS_unlinkat, 2}, {SYS_unlink, 2}, {SYS_renameat2, 2}, {SYS_renameat, 1}, {SYS_rename, 1}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  std::vector<vigil_syscall_file_event> keep;
  if (const auto* e = one(records, self, SYS_rename, keep)) {
    SCOPED_TRACE("rename");
    expect_file_record(self, *e, SYS_rename, 0);
    EXPECT_EQ(e->sc.flags, 0u);
    EXPECT_EQ(e->dirfd, AT_FDCWD);
    EXPECT_EQ(e->dirfd2, AT_FDCWD);
    EXPECT_EQ(path_of(*e), dir / "a");
    EXPECT_EQ(path2_of(*e), dir / "a2");
    EXPECT_EQ(e->path2_size, (dir / "a2").size() + 1);
    EXPECT_EQ(e->at_flags, 0u);
    EXPECT_EQ(e->fd, -1);
    EXPECT_EQ(e->ino, 0u);
  }
  if (const auto* e = one(records, self, SYS_renameat, keep)) {
    SCOPED_TRACE("renameat");
    expect_file_record(self, *e, SYS_renameat, 0);
    EXPECT_EQ(e->dirfd, dirfd);
    EXPECT_EQ(e->dirfd2, AT_FDCWD);
    EXPECT_EQ(path_of(*e), "b");
    EXPECT_EQ(path2_of(*e), dir / "b2");
  }
  auto renameat2s = Records::of(records.files, self.tid, SYS_renameat2);
  ASSERT_EQ(renameat2s.size(), 2u);
  {
    SCOPED_TRACE("renameat2 NOREPLACE");
    const auto& e = renameat2s[0];
    expect_file_record(self, e, SYS_renameat2, -EEXIST);
    EXPECT_EQ(e.dirfd, dirfd);
    EXPECT_EQ(e.dirfd2, dirfd);
    EXPECT_EQ(path_of(e), "c");
    EXPECT_EQ(path2_of(e), "d");
    EXPECT_EQ(e.at_flags, static_cast<__u32>(RENAME_NOREPLACE));
  }
  {
    SCOPED_TRACE("renameat2 EXCHANGE");
    const auto& e = renameat2s[1];
    expect_file_record(self, e, SYS_renameat2, 0);
    EXPECT_EQ(e.dirfd, AT_FDCWD);
    EXPECT_EQ(e.dirfd2, dirfd);
    EXPECT_EQ(path_of(e), dir / "c");
    EXPECT_EQ(path2_of(e), "d");
    EXPECT_EQ(e.at_flags, static_cast<__u32>(RENAME_EXCHANGE));
  }
  auto unlinks = Records::of(records.files, self.tid, SYS_unlink);
  ASSERT_EQ(unlinks.size(), 2u);
  expect_file_record(self, unlinks[0], SYS_unlink, 0);
  expect_file_record(self, unlinks[1], SYS_unlink, -ENOENT);
  for (const auto& e : unlinks) {
    EXPECT_EQ(path_of(e), dir / "e");
    EXPECT_EQ(e.dirfd, AT_FDCWD);
    EXPECT_EQ(e.at_flags, 0u);
    expect_no_paths2(e);
  }
  auto unlinkats = Records::of(records.files, self.tid, SYS_unlinkat);
  ASSERT_EQ(unlinkats.size(), 2u);
  expect_file_record(self, unlinkats[0], SYS_unlinkat, 0);
  EXPECT_EQ(unlinkats[0].dirfd, dirfd);
  EXPECT_EQ(path_of(unlinkats[0]), "sub");
  EXPECT_EQ(unlinkats[0].at_flags, static_cast<__u32>(AT_REMOVEDIR));
  expect_file_record(self, unlinkats[1], SYS_unlinkat, 0);
  EXPECT_EQ(path_of(unlinkats[1]), "a2");
  EXPECT_EQ(unlinkats[1].at_flags, 0u);
  ::close(dirfd);
}

TEST(ProbeSyscallFile, ChmodAndChown) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const std::string file = dir / "file";
  vigil::test::write_text(file, "x");
  ASSERT_EQ(::symlink("file", (dir / "link").c_str()), 0);
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  int dirfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dirfd, 0);
  Self self;
  auto probe = open_probe({SYS_chmod, SYS_fchmod, SYS_fchmodat, VIGIL_NR_fchmodat2, SYS_chown, SYS_fchown,
                           SYS_fchownat, SYS_lchown});
  ASSERT_TRUE(probe);

  ASSERT_EQ(sys(SYS_chmod, file.c_str(), 0604), 0);
  ASSERT_EQ(sys(SYS_fchmod, fd, 0640), 0);
  ASSERT_EQ(sys(SYS_fchmodat, dirfd, "file", 0600), 0);
  const long fchmodat2 = sys(VIGIL_NR_fchmodat2, dirfd, "file", 0644, AT_SYMLINK_NOFOLLOW);
  ASSERT_TRUE(fchmodat2 == 0 || fchmodat2 == -ENOSYS) << fchmodat2;
  ASSERT_EQ(sys(SYS_chown, file.c_str(), 1234, 5678), 0);
  ASSERT_EQ(sys(SYS_fchown, fd, -1, 4321), 0);
  ASSERT_EQ(sys(SYS_fchownat, dirfd, "link", 99, 98, AT_SYMLINK_NOFOLLOW), 0);
  ASSERT_EQ(sys(SYS_lchown, (dir / "missing").c_str(), 1, 1), -ENOENT);
  struct stat st{}, lst{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  ASSERT_EQ(::lstat((dir / "link").c_str(), &lst), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(lst.st_uid, 99u);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid,
                              {{SYS_lchown, 1}, {SYS_chmod, 1}, {SYS_fchown, 1}, {SYS_fchownat, 1}}));
  drain(*probe, records);
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();

  std::vector<vigil_syscall_file_event> keep;
  if (const auto* e = one(records, self, SYS_chmod, keep)) {
    SCOPED_TRACE("chmod");
    expect_file_record(self, *e, SYS_chmod, 0);
    EXPECT_EQ(path_of(*e), file);
    EXPECT_EQ(e->mode, 0604u);
    EXPECT_EQ(e->dirfd, AT_FDCWD);
    EXPECT_EQ(e->fd, -1);
    EXPECT_EQ(e->open_flags, 0u);
    expect_no_paths2(*e);
  }
  if (const auto* e = one(records, self, SYS_fchmod, keep)) {
    SCOPED_TRACE("fchmod");
    expect_file_record(self, *e, SYS_fchmod, 0);
    EXPECT_EQ(e->fd, fd);
    EXPECT_EQ(e->mode, 0640u);
    EXPECT_EQ(e->path_size, 0u);
    EXPECT_EQ(e->sc.flags, 0u) << "no path argument: not flagged unreadable";
    EXPECT_EQ(e->ino, 0u);
  }
  if (const auto* e = one(records, self, SYS_fchmodat, keep)) {
    SCOPED_TRACE("fchmodat");
    expect_file_record(self, *e, SYS_fchmodat, 0);
    EXPECT_EQ(e->dirfd, dirfd);
    EXPECT_EQ(path_of(*e), "file");
    EXPECT_EQ(e->mode, 0600u);
    EXPECT_EQ(e->at_flags, 0u);
  }
  {
    SCOPED_TRACE("fchmodat2");
    auto all = Records::of(records.files, self.tid, VIGIL_NR_fchmodat2);
    ASSERT_EQ(all.size(), 1u);
    expect_file_record(self, all[0], VIGIL_NR_fchmodat2, fchmodat2);
    EXPECT_EQ(all[0].dirfd, dirfd);
    EXPECT_EQ(path_of(all[0]), "file");
    EXPECT_EQ(all[0].mode, 0644u);
    EXPECT_EQ(all[0].at_flags, static_cast<__u32>(AT_SYMLINK_NOFOLLOW));
  }
  if (const auto* e = one(records, self, SYS_chown, keep)) {
    SCOPED_TRACE("chown");
    expect_file_record(self, *e, SYS_chown, 0);
    EXPECT_EQ(path_of(*e), file);
    EXPECT_EQ(e->uid, 1234u);
    EXPECT_EQ(e->gid, 5678u);
  }
  if (const auto* e = one(records, self, SYS_fchown, keep)) {
    SCOPED_TRACE("fchown");
    expect_file_record(self, *e, SYS_fchown, 0);
    EXPECT_EQ(e->fd, fd);
    EXPECT_EQ(e->uid, 0xffffffffu);
    EXPECT_EQ(e->gid, 4321u);
    EXPECT_EQ(e->path_size, 0u);
  }
  if (const auto* e = one(records, self, SYS_fchownat, keep)) {
    SCOPED_TRACE("fchownat");
    expect_file_record(self, *e, SYS_fchownat, 0);
    EXPECT_EQ(e->dirfd, dirfd);
    EXPECT_EQ(path_of(*e), "link");
    EXPECT_EQ(e->uid, 99u);
    EXPECT_EQ(e->gid, 98u);
    EXPECT_EQ(e->at_flags, static_cast<__u32>(AT_SYMLINK_NOFOLLOW));
  }
  if (const auto* e = one(records, self, SYS_lchown, keep)) {
    SCOPED_TRACE("lchown");
    expect_file_record(self, *e, SYS_lchown, -ENOENT);
    EXPECT_EQ(path_of(*e), dir / "missing");
    EXPECT_EQ(e->uid, 1u);
    EXPECT_EQ(e->gid, 1u);
  }
  ::close(fd);
  ::close(dirfd);
}

// mount/umount2 of a private tmpfs on a directory this test creates (and unmounts).
// The calls that move the working directory (the process table anchors relative paths on it).
// The test changes its own cwd, so it puts it back.
TEST(ProbeSyscallFile, ChdirAndFchdir) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0755), 0);
  int dirfd = ::open((dir / "sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dirfd, 0);
  char previous[4096];
  ASSERT_NE(::getcwd(previous, sizeof previous), nullptr);
  Self self;
  auto probe = open_probe({SYS_chdir, SYS_fchdir});
  ASSERT_TRUE(probe);

  ASSERT_EQ(sys(SYS_chdir, dir.path().c_str()), 0);
  ASSERT_EQ(sys(SYS_chdir, "missing"), -ENOENT);
  ASSERT_EQ(sys(SYS_fchdir, dirfd), 0);
  ASSERT_EQ(sys(SYS_fchdir, 999), -EBADF);
  ASSERT_EQ(::chdir(previous), 0);

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_chdir, 3}, {SYS_fchdir, 2}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto chdirs = Records::of(records.files, self.tid, SYS_chdir);
  ASSERT_EQ(chdirs.size(), 3u);
  expect_file_record(self, chdirs[0], SYS_chdir, 0);
  EXPECT_EQ(path_of(chdirs[0]), dir.path());
  EXPECT_EQ(chdirs[0].dirfd, AT_FDCWD);
  EXPECT_EQ(chdirs[0].fd, -1);
  expect_no_paths2(chdirs[0]);
  expect_file_record(self, chdirs[1], SYS_chdir, -ENOENT);
  EXPECT_EQ(path_of(chdirs[1]), "missing");
  EXPECT_EQ(path_of(chdirs[2]), previous);
  auto fchdirs = Records::of(records.files, self.tid, SYS_fchdir);
  ASSERT_EQ(fchdirs.size(), 2u);
  expect_file_record(self, fchdirs[0], SYS_fchdir, 0);
  EXPECT_EQ(fchdirs[0].fd, dirfd);
  EXPECT_EQ(fchdirs[0].path_size, 0u);
  EXPECT_EQ(fchdirs[0].sc.flags, 0u) << "no path argument: not flagged unreadable";
  expect_file_record(self, fchdirs[1], SYS_fchdir, -EBADF);
  EXPECT_EQ(fchdirs[1].fd, 999);
  ::close(dirfd);
}

TEST(ProbeSyscallFile, MountAndUmount) {
  PROBE_SYSCALL_PRECONDITIONS();
  TempDir dir;
  const std::string target = dir / "mnt";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  Self self;
  auto probe = open_probe({SYS_mount, SYS_umount2});
  ASSERT_TRUE(probe);

  const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  ASSERT_EQ(sys(SYS_mount, "vigil-test-tmpfs", target.c_str(), "tmpfs", flags, "size=64k,mode=700"), 0);
  // Keep it out of other mount namespaces' view and make sure it goes away.
  ASSERT_EQ(::mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  ASSERT_EQ(sys(SYS_mount, "none", dir.path().c_str(), "vigil-no-such-fs", 0, nullptr), -ENODEV);
  ASSERT_EQ(sys(SYS_umount2, target.c_str(), UMOUNT_NOFOLLOW), 0);
  ASSERT_EQ(sys(SYS_umount2, target.c_str(), 0), -EINVAL) << "already unmounted";

  Records records;
  ASSERT_TRUE(poll_for_counts(*probe, records, &Records::files, self.tid, {{SYS_umount2, 2}, {SYS_mount, 2}}));
  ASSERT_TRUE(records.malformed.empty()) << records.malformed.front();
  auto mounts = Records::of(records.files, self.tid, SYS_mount);
  // The MS_PRIVATE remount above is a mount(2) too, with NULL source and type.
  ASSERT_EQ(mounts.size(), 3u);
  {
    SCOPED_TRACE("mount tmpfs");
    const auto& e = mounts[0];
    expect_file_record(self, e, SYS_mount, 0);
    EXPECT_EQ(e.sc.flags, 0u);
    EXPECT_EQ(path_of(e), "vigil-test-tmpfs");
    EXPECT_EQ(path2_of(e), target);
    EXPECT_STREQ(e.fstype, "tmpfs");
    EXPECT_EQ(e.open_flags, flags);
  }
  {
    SCOPED_TRACE("mount MS_PRIVATE");
    const auto& e = mounts[1];
    expect_file_record(self, e, SYS_mount, 0);
    EXPECT_EQ(e.sc.flags, VIGIL_SYSCALL_PATH_UNREADABLE) << "NULL source";
    EXPECT_EQ(e.path_size, 0u);
    EXPECT_EQ(path2_of(e), target);
    EXPECT_EQ(e.fstype[0], '\0');
    EXPECT_EQ(e.open_flags, static_cast<__u64>(MS_PRIVATE));
  }
  {
    SCOPED_TRACE("mount unknown fs");
    const auto& e = mounts[2];
    expect_file_record(self, e, SYS_mount, -ENODEV);
    EXPECT_EQ(path_of(e), "none");
    EXPECT_EQ(path2_of(e), dir.path());
    EXPECT_STREQ(e.fstype, "vigil-no-such-fs");
    EXPECT_EQ(e.open_flags, 0u);
  }
  auto umounts = Records::of(records.files, self.tid, SYS_umount2);
  ASSERT_EQ(umounts.size(), 2u);
  expect_file_record(self, umounts[0], SYS_umount2, 0);
  EXPECT_EQ(path_of(umounts[0]), target);
  EXPECT_EQ(umounts[0].at_flags, static_cast<__u32>(UMOUNT_NOFOLLOW));
  expect_no_paths2(umounts[0]);
  expect_file_record(self, umounts[1], SYS_umount2, -EINVAL);
  EXPECT_EQ(umounts[1].at_flags, 0u);
}

}  // namespace
