// The eBPF exec guard on its own. Every test guards a copy of /usr/bin/true on tmpfs (where a
// write through a shared mapping changes neither ctime nor size), holds a flock on it the way
// the agent does, and changes it into /usr/bin/false (same size) through one way of writing.
// An exec must run the content its ticket (or the cached baseline) describes, or be killed.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>
#include <vector>

#include "probe/exec_guard.h"
#include "support/io_uring_raw.h"
#include "support/test_support.h"

using namespace vigil::test;
using vigil::probe::ExecBaseline;
using vigil::probe::ExecGuard;
using vigil::probe::GuardedInode;
using vigil::probe::GuardKill;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

constexpr int kExecFailedTextBusy = 3;
constexpr int kExecFailedOther = 127;

// A directory on tmpfs (/dev/shm), removed with its content.
class ShmDir {
 public:
  ShmDir() {
    char name[] = "/dev/shm/vigil-guard-XXXXXX";
    path_ = ::mkdtemp(name) ? name : "";
  }
  ~ShmDir() {
    if (!path_.empty()) (void)run({"rm", "-rf", path_});
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

// A child that execs `path` once the parent lets it go (so the parent can ticket its pid first).
class PendingExec {
 public:
  explicit PendingExec(const std::string& path) {
    if (::pipe2(gate_, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      char go = 0;
      (void)!::read(gate_[0], &go, 1);
      ::execl(path.c_str(), path.c_str(), nullptr);
      ::_exit(errno == ETXTBSY ? kExecFailedTextBusy : kExecFailedOther);
    }
    ::close(gate_[0]);
  }
  pid_t pid() const { return pid_; }
  int release_and_wait() {
    (void)!::write(gate_[1], "g", 1);
    ::close(gate_[1]);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return status;
  }

 private:
  int gate_[2] = {-1, -1};
  pid_t pid_ = -1;
};

int run_now(const std::string& path) {
  PendingExec exec(path);
  return exec.release_and_wait();
}

bool ran_true(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
bool ran_false(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 1; }
bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

class ExecGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_ROOT();
    auto opened = ExecGuard::open();
    ASSERT_TRUE(opened) << opened.error().message;
    guard_.emplace(std::move(*opened));
    ASSERT_TRUE(dir_.ok());
    false_bytes_ = read_all("/usr/bin/false");
    ASSERT_EQ(false_bytes_.size(), read_all("/usr/bin/true").size()) << "the tests need same-size true and false";
    install_true();
    // The agent's part: a lock on the inode, so every __fput of it passes the guard's hook.
    lock_fd_ = ::open(prog_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(lock_fd_, 0);
    ASSERT_EQ(::flock(lock_fd_, LOCK_SH | LOCK_NB), 0);
    inode_ = inode_of(prog_);
    ASSERT_TRUE(guard_->guard(inode_, false));
  }
  void TearDown() override {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    if (guard_) guard_->clear();
  }

  static GuardedInode inode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return GuardedInode::of(st.st_dev, st.st_ino);
  }
  // The content back to /usr/bin/true, in place (same inode).
  void install_true() {
    const std::string bytes = read_all("/usr/bin/true");
    const int fd = ::open(prog_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  ExecBaseline baseline_now() {
    struct stat st {};
    EXPECT_EQ(::stat(prog_.c_str(), &st), 0);
    auto releases = guard_->releases(inode_);
    EXPECT_TRUE(releases.has_value());
    return ExecBaseline::of(st, releases.value_or(0));
  }
  // Execs with a ticket holding `baseline`, after `between` ran (the writer).
  template <typename Between>
  int exec_with_ticket(const ExecBaseline& baseline, Between between) {
    PendingExec exec(prog_);
    EXPECT_TRUE(guard_->issue_ticket(static_cast<uint32_t>(exec.pid()), inode_, baseline));
    between();
    return exec.release_and_wait();
  }
  std::vector<GuardKill> reports(std::size_t at_least) {
    std::vector<GuardKill> seen;
    for (int i = 0; i < 20; ++i) {
      auto polled = guard_->poll_kills(std::chrono::milliseconds(at_least == 0 ? 10 : 100),
                                       [&](const GuardKill& k) { seen.push_back(k); });
      EXPECT_TRUE(polled) << polled.error().message;
      if (seen.size() >= at_least) break;
    }
    return seen;
  }
  // Runs one way of writing false into prog and checks the guard killed the exec decided before it.
  template <typename Writer>
  void expect_killed_after(Writer writer) {
    const ExecBaseline baseline = baseline_now();
    const int status = exec_with_ticket(baseline, writer);
    // The kernel counted the writable file's release, whichever way it was opened.
    EXPECT_GT(guard_->releases(inode_).value_or(0), baseline.releases);
    EXPECT_TRUE(killed(status)) << "status " << status << (ran_false(status) ? ": the changed content ran" : "");
    EXPECT_EQ(read_all(prog_), false_bytes_) << "the writer did not change the file";
    auto seen = reports(1);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_TRUE(seen[0].killed);
    EXPECT_TRUE(seen[0].from_ticket);
    EXPECT_TRUE(seen[0].changed);
    EXPECT_EQ(seen[0].inode, inode_);
  }
  void write_false_through_mapping(int fd) {
    void* map = ::mmap(nullptr, false_bytes_.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(map, MAP_FAILED) << std::strerror(errno);
    std::memcpy(map, false_bytes_.data(), false_bytes_.size());
    ::munmap(map, false_bytes_.size());
  }

  std::optional<ExecGuard> guard_;
  ShmDir dir_;
  std::string prog_ = dir_ / "prog";
  std::string false_bytes_;
  int lock_fd_ = -1;
  GuardedInode inode_;
};

}  // namespace

TEST_F(ExecGuardTest, AnExecMeetingItsTicketRunsAndConsumesIt) {
  const uint64_t consumed = guard_->counters().tickets_consumed;
  int status = 0;
  pid_t pid = 0;
  {
    PendingExec exec(prog_);
    pid = exec.pid();
    ASSERT_TRUE(guard_->issue_ticket(static_cast<uint32_t>(pid), inode_, baseline_now()));
    EXPECT_TRUE(guard_->ticket_outstanding(static_cast<uint32_t>(pid), inode_));
    status = exec.release_and_wait();
  }
  EXPECT_TRUE(ran_true(status)) << status;
  EXPECT_FALSE(guard_->ticket_outstanding(static_cast<uint32_t>(pid), inode_));
  EXPECT_EQ(guard_->counters().tickets_consumed, consumed + 1);
  EXPECT_TRUE(reports(0).empty());
}

TEST_F(ExecGuardTest, ReadersAndOtherFilesDoNotCount) {
  const std::string other = dir_ / "other";
  ASSERT_EQ(run({"cp", "/usr/bin/true", other}).exit_code, 0);
  const ExecBaseline baseline = baseline_now();
  const int status = exec_with_ticket(baseline, [&] {
    ::close(::open(prog_.c_str(), O_RDONLY));
    const int fd = ::open(other.c_str(), O_RDWR);
    write_false_through_mapping(fd);
    ::close(fd);
  });
  EXPECT_TRUE(ran_true(status)) << status;
  EXPECT_EQ(guard_->releases(inode_), baseline.releases);
}

TEST_F(ExecGuardTest, KillsExecAfterWriteThroughOpen) {
  expect_killed_after([&] {
    const int fd = ::open(prog_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, false_bytes_.data(), false_bytes_.size(), 0), static_cast<ssize_t>(false_bytes_.size()));
    ::close(fd);
  });
}

TEST_F(ExecGuardTest, KillsExecAfterSharedMappingThroughIoUringOpen) {
  expect_killed_after([&] {
    auto ring = RawRing::create();
    ASSERT_TRUE(ring);
    const int fd = ring->run(RawRing::openat(prog_.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_GE(fd, 0) << std::strerror(-fd);
    write_false_through_mapping(fd);
    ASSERT_EQ(ring->run(RawRing::close(fd)), 0);
  });
}

TEST_F(ExecGuardTest, KillsExecAfterIoUringOpenAndWrite) {
  expect_killed_after([&] {
    auto ring = RawRing::create();
    ASSERT_TRUE(ring);
    const int fd = ring->run(RawRing::openat(prog_.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_GE(fd, 0) << std::strerror(-fd);
    ASSERT_EQ(ring->run(RawRing::write(fd, false_bytes_.data(), false_bytes_.size(), 0)),
              static_cast<int>(false_bytes_.size()));
    ASSERT_EQ(ring->run(RawRing::close(fd)), 0);
  });
}

// A direct descriptor never enters the process's descriptor table.
TEST_F(ExecGuardTest, KillsExecAfterIoUringDirectDescriptorWrite) {
  expect_killed_after([&] {
    auto ring = RawRing::create();
    ASSERT_TRUE(ring);
    ASSERT_EQ(ring->register_sparse_files(4), 0) << std::strerror(errno);
    ASSERT_EQ(ring->run(RawRing::openat(prog_.c_str(), O_WRONLY, /*slot 0*/ 1)), 0);
    ASSERT_EQ(ring->run(RawRing::write(0, false_bytes_.data(), false_bytes_.size(), 0, /*fixed_file=*/true)),
              static_cast<int>(false_bytes_.size()));
    ASSERT_EQ(ring->run(RawRing::close_direct(0)), 0);
  });
}

// The descriptor was open before the guard knew the inode; its release still counts.
TEST_F(ExecGuardTest, KillsExecAfterWriterThatExistedBeforeTheDecision) {
  const int writer = ::open(prog_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  void* map = ::mmap(nullptr, false_bytes_.size(), PROT_READ | PROT_WRITE, MAP_SHARED, writer, 0);
  ASSERT_NE(map, MAP_FAILED);
  ASSERT_EQ(::madvise(map, false_bytes_.size(), MADV_DONTFORK), 0);  // not into the exec's child
  ::close(writer);  // the mapping keeps the writable file alive
  expect_killed_after([&] {
    std::memcpy(map, false_bytes_.data(), false_bytes_.size());
    ::munmap(map, false_bytes_.size());
  });
}

// truncate(2) changes a file without any file of its own; the size gives it away. (Extending
// keeps the ELF runnable: the exec would succeed.)
TEST_F(ExecGuardTest, KillsExecAfterPathTruncate) {
  const ExecBaseline baseline = baseline_now();
  const int status = exec_with_ticket(
      baseline, [&] { ASSERT_EQ(::truncate(prog_.c_str(), static_cast<off_t>(false_bytes_.size()) + 4096), 0); });
  EXPECT_TRUE(killed(status)) << status;
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].changed);
}

TEST_F(ExecGuardTest, ReportOnlyTicketReportsWithoutKilling) {
  ExecBaseline baseline = baseline_now();
  baseline.report_only = true;
  const int status = exec_with_ticket(baseline, [&] {
    const int fd = ::open(prog_.c_str(), O_RDWR);
    write_false_through_mapping(fd);
    ::close(fd);
  });
  EXPECT_TRUE(ran_false(status)) << status;
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].killed);
  EXPECT_TRUE(seen[0].changed);
  EXPECT_GE(guard_->counters().reported, 1u);
}

TEST_F(ExecGuardTest, PoisonedTicketKillsEvenUnchanged) {
  ExecBaseline baseline = baseline_now();
  baseline.poison = true;
  const int status = exec_with_ticket(baseline, [] {});
  EXPECT_TRUE(killed(status)) << status;
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].changed);
}

// Execs that skip user space (the fanotify ignore mark) meet the inode's cached baseline.
TEST_F(ExecGuardTest, CachedBaselineKillsExecsThatSkipUserSpaceOnceChanged) {
  ASSERT_TRUE(guard_->set_cached(inode_, baseline_now()));
  EXPECT_TRUE(ran_true(run_now(prog_)));
  EXPECT_TRUE(ran_true(run_now(prog_)));
  auto ring = RawRing::create();
  ASSERT_TRUE(ring);
  const int fd = ring->run(RawRing::openat(prog_.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_GE(fd, 0);
  write_false_through_mapping(fd);
  ASSERT_EQ(ring->run(RawRing::close(fd)), 0);
  const int status = run_now(prog_);
  EXPECT_TRUE(killed(status)) << status;
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].from_ticket);
  EXPECT_TRUE(seen[0].killed);
  EXPECT_EQ(seen[0].comm, "prog");
  // Without a baseline the guard has no opinion.
  guard_->remove_cached(inode_);
  EXPECT_TRUE(ran_false(run_now(prog_)));
}

// When someone else's lock kept the agent from taking its own, the lock list may go empty at any
// unlock; the guard then counts every unlock of the inode.
TEST_F(ExecGuardTest, WithoutTheAgentsLockEveryUnlockCounts) {
  const std::string other = dir_ / "other";
  ASSERT_EQ(run({"cp", "/usr/bin/true", other}).exit_code, 0);
  const GuardedInode other_inode = inode_of(other);
  const int holder = ::open(other.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::flock(holder, LOCK_EX | LOCK_NB), 0);
  const int agent = ::open(other.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_NE(::flock(agent, LOCK_SH | LOCK_NB), 0);
  ASSERT_TRUE(guard_->guard(other_inode, /*unlocked=*/true));
  const uint64_t before = guard_->releases(other_inode).value_or(0);
  ::close(holder);  // read-only, but its unlock may leave the inode without any lock
  EXPECT_GT(guard_->releases(other_inode).value_or(0), before);
  ::close(agent);
}

// A writer races execs that were decided on /usr/bin/true: every exec runs true, is refused by
// the kernel (ETXTBSY) or is killed; false (the writer's content) never runs.
TEST_F(ExecGuardTest, RacingWriterNeverRunsUndecidedContent) {
  std::mt19937 random(42);
  int ran = 0, killed_count = 0, busy = 0;
  for (int round = 0; round < 150; ++round) {
    install_true();
    const ExecBaseline baseline = baseline_now();
    PendingExec exec(prog_);
    ASSERT_TRUE(guard_->issue_ticket(static_cast<uint32_t>(exec.pid()), inode_, baseline));
    const auto delay = std::chrono::microseconds(random() % 400);
    const bool through_io_uring = round % 2 == 0;
    std::thread writer([&] {
      std::this_thread::sleep_for(delay);
      int fd = -1;
      std::optional<RawRing> ring;
      if (through_io_uring) {
        ring = RawRing::create();
        if (ring) fd = ring->run(RawRing::openat(prog_.c_str(), O_RDWR | O_CLOEXEC));
      } else {
        fd = ::open(prog_.c_str(), O_RDWR | O_CLOEXEC);
      }
      if (fd < 0) return;  // ETXTBSY: the exec got there first
      void* map = ::mmap(nullptr, false_bytes_.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map != MAP_FAILED) {
        std::memcpy(map, false_bytes_.data(), false_bytes_.size());
        ::munmap(map, false_bytes_.size());
      }
      ::close(fd);
    });
    const int status = exec.release_and_wait();
    writer.join();
    if (ran_true(status)) {
      ++ran;
    } else if (killed(status)) {
      ++killed_count;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == kExecFailedTextBusy) {
      ++busy;
    } else {
      ADD_FAILURE() << "round " << round << ": undecided content ran (status " << status << ")";
    }
    guard_->withdraw_ticket(static_cast<uint32_t>(exec.pid()), inode_);
    (void)reports(0);
  }
  std::cout << "[ racing ] ran true " << ran << ", killed " << killed_count << ", ETXTBSY " << busy << "\n";
  EXPECT_GT(killed_count, 0) << "no round raced the writer: the test proves nothing";
}

// fanotify reports an exec through overlayfs on the real file beneath (that is what the agent
// decides and marks), while the exec runs the overlay's file: the guard checks the real one too.
TEST_F(ExecGuardTest, ChecksTheRealFileBeneathAnOverlayExec) {
  const std::string lower = dir_ / "lower", upper = dir_ / "upper", work = dir_ / "work", merged = dir_ / "merged";
  for (const auto& d : {lower, upper, work, merged}) ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  const std::string real = lower + "/prog";
  ASSERT_EQ(run({"cp", "/usr/bin/true", real}).exit_code, 0);
  const std::string options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
  ASSERT_EQ(::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()), 0) << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{merged};
  const int lock = ::open(real.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::flock(lock, LOCK_SH | LOCK_NB), 0);
  const GuardedInode real_inode = inode_of(real);
  ASSERT_FALSE(real_inode == inode_of(merged + "/prog"));
  ASSERT_TRUE(guard_->guard(real_inode, false));
  struct stat st {};
  ASSERT_EQ(::stat(real.c_str(), &st), 0);
  ASSERT_TRUE(guard_->set_cached(real_inode, ExecBaseline::of(st, *guard_->releases(real_inode))));
  EXPECT_TRUE(ran_true(run_now(merged + "/prog")));

  auto ring = RawRing::create();
  ASSERT_TRUE(ring);
  const int fd = ring->run(RawRing::openat(real.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_GE(fd, 0);
  write_false_through_mapping(fd);
  ASSERT_EQ(ring->run(RawRing::close(fd)), 0);
  const int status = run_now(merged + "/prog");
  EXPECT_TRUE(killed(status)) << status << (ran_false(status) ? ": the changed content ran" : "");
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].inode, real_inode);
  ::close(lock);
}

// A withdrawn mark leaves its baseline poisoned: an exec that passed the mark just before it was
// removed dies, while an exec decided since (it has a ticket) runs.
TEST_F(ExecGuardTest, PoisonedCachedBaselineKillsExecsThatPassedAWithdrawnMark) {
  ExecBaseline poison;
  poison.poison = true;
  ASSERT_TRUE(guard_->set_cached(inode_, poison));
  EXPECT_TRUE(killed(run_now(prog_)));
  EXPECT_TRUE(ran_true(exec_with_ticket(baseline_now(), [] {})));
  auto seen = reports(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].from_ticket);
  EXPECT_FALSE(seen[0].changed);
}
