// The fanotify listener against an attacker's moves, on a private tmpfs: other mount
// namespaces and bind mounts (filesystem marks), stalled workers (per-uid bound, abandoned
// hashes, violation entries), one read per decision, shutdown with a hash in progress, and the
// bound on the measured versions the agent remembers.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/xattr.h>

#include <algorithm>
#include <future>
#include <thread>

#include "privileged/agent_listener_support.h"

using namespace vigil;
using namespace vigil::test;

namespace {

constexpr uint32_t kNobody = 65534;

bool said_not_permitted(const CommandResult& result) {
  return result.exit_code != 0 && result.err.find("Operation not permitted") != std::string::npos;
}

class AgentListener : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    ::mkdir((dir_ / "keys").c_str(), 0755);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "keys/app"}).exit_code, 0);
  }

  void TearDown() override {
    agent_.reset();  // before the mounts go away
    for (const auto& mount : extra_mounts_) ::umount2(mount.c_str(), MNT_DETACH);
    mnt_.reset();
  }

  void copy_true(const std::string& to, const std::string& tail = "") {
    ASSERT_EQ(run({"cp", "/usr/bin/true", to}).exit_code, 0);
    if (!tail.empty()) {
      ASSERT_EQ(run_shell("printf %s " + shell_quote(tail) + " >> " + shell_quote(to)).exit_code, 0);
    }
    ::chmod(to.c_str(), 0755);
  }
  void sign(const std::string& path) {
    auto signed_file = run_vigil({"sign", "--key", dir_ / "keys/app.key", "--cert", dir_ / "keys/app.crt", path});
    ASSERT_EQ(signed_file.exit_code, 0) << signed_file.err;
  }

  // `extra` is YAML at the top level (e.g. "decision:\n  workers: 1\n").
  void start_agent(const std::string& mode, const std::string& policy, const std::string& extra = "") {
    std::string yaml = "mode: " + mode + "\nstate_dir: " + state_dir() + "\nwatch:\n  - " + mnt_->path() +
                       "\nkeyrings:\n  default: " + (dir_ / "keys") + "\n" + extra + "policy_text: |\n";
    for (size_t at = 0; at < policy.size();) {
      const size_t end = policy.find('\n', at);
      const std::string line = policy.substr(at, end == std::string::npos ? std::string::npos : end - at);
      if (!line.empty()) yaml += "  " + line + "\n";
      if (end == std::string::npos) break;
      at = end + 1;
    }
    write_text(dir_ / "agent.yaml", yaml);
    agent_ = std::make_unique<AgentProcess>(dir_ / "agent.yaml", state_dir());
    ASSERT_TRUE(agent_->ready()) << agent_->output();
  }

  std::string state_dir() const { return dir_ / "state"; }
  std::vector<ima::MeasurementEntry> list() const { return measurement_list(state_dir()); }

  std::vector<nlohmann::json> audit_records(const std::string& event) const {
    std::vector<nlohmann::json> found;
    for (auto& record : agent_->audit()) {
      if (record.is_object() && record.value("event", "") == event) found.push_back(record);
    }
    return found;
  }

  // Waits until the agent has read `bytes` more than `from` (it is hashing), up to 20 s.
  bool wait_until_agent_reads(uint64_t from, uint64_t bytes) const {
    for (int i = 0; i < 2000; ++i) {
      if (read_bytes_of(agent_->pid()) >= from + bytes) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mnt_;
  std::unique_ptr<AgentProcess> agent_;
  std::vector<std::string> extra_mounts_;
};

CommandResult as_user_in_new_namespaces(uint32_t uid, const std::string& path) {
  // unshare -Urm: a user namespace (uid mapped to root in it) with a private copy of the mounts.
  return run({"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid), "--clear-groups",
              "unshare", "-Urm", path});
}

bool is_measurement_of(const ima::MeasurementEntry& entry, const std::string& path) {
  return !entry.violation && entry.file_digest == file_digest(path, entry.file_digest.algo);
}

}  // namespace

// --- Finding 1: every view of a watched filesystem is covered ----------------------------------

TEST_F(AgentListener, EnforceDeniesUnsignedExecInAnotherMountNamespace) {
  copy_true(*mnt_ / "signed");
  copy_true(*mnt_ / "unsigned");
  sign(*mnt_ / "signed");
  start_agent("enforce", "appraise func=BPRM_CHECK appraise_type=imasig");
  // The namespace works (a signed program runs in it) ...
  EXPECT_EXIT_CODE(as_user_in_new_namespaces(kNobody, *mnt_ / "signed"), 0);
  // ... and an unsigned one is denied there as anywhere else.
  const auto denied = as_user_in_new_namespaces(kNobody, *mnt_ / "unsigned");
  EXPECT_TRUE(said_not_permitted(denied)) << denied.exit_code << " " << denied.err;
  const auto records = audit_records("appraisal");
  EXPECT_TRUE(std::any_of(records.begin(), records.end(), [&](const auto& r) {
    return r["verdict"] == "deny" && r["path"] == *mnt_ / "unsigned" && r["uid"] == kNobody;
  })) << agent_->output();
}

TEST_F(AgentListener, LogModeMeasuresExecsInOtherMountNamespacesAndBindMounts) {
  ::mkdir((*mnt_ / "sub").c_str(), 0755);
  copy_true(*mnt_ / "prog", "namespace");
  copy_true(*mnt_ / "sub/bound", "bind mount");
  start_agent("log", "measure func=BPRM_CHECK");
  EXPECT_EXIT_CODE(as_user_in_new_namespaces(kNobody, *mnt_ / "prog"), 0);
  // A bind mount made after the agent started is a new mount object of the same filesystem.
  const std::string bind = dir_ / "bind";
  ::mkdir(bind.c_str(), 0755);
  ASSERT_EQ(::mount((*mnt_ / "sub").c_str(), bind.c_str(), nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
  extra_mounts_.push_back(bind);
  EXPECT_EQ(run_as(kNobody, bind + "/bound").code, 0);

  const auto entries = list();
  // The other namespace is a copy of this one: the kernel prints the same path.
  const auto in_namespace = entries_for(entries, *mnt_ / "prog");
  ASSERT_EQ(in_namespace.size(), 1u) << read_text(state_dir() + "/ascii_runtime_measurements");
  EXPECT_TRUE(is_measurement_of(in_namespace[0], *mnt_ / "prog"));
  const auto through_bind = entries_for(entries, bind + "/bound");
  ASSERT_EQ(through_bind.size(), 1u) << read_text(state_dir() + "/ascii_runtime_measurements");
  EXPECT_TRUE(is_measurement_of(through_bind[0], bind + "/bound"));
}

TEST_F(AgentListener, MountMarksAreAnOptInThatMissesOtherNamespaces) {
  copy_true(*mnt_ / "here", "here");
  copy_true(*mnt_ / "elsewhere", "elsewhere");
  start_agent("log", "measure func=BPRM_CHECK", "watch_marks: mount\n");
  EXPECT_EQ(run_as(0, *mnt_ / "here").code, 0);
  EXPECT_EXIT_CODE(as_user_in_new_namespaces(kNobody, *mnt_ / "elsewhere"), 0);
  const auto entries = list();
  EXPECT_EQ(entries_for(entries, *mnt_ / "here").size(), 1u);
  // The documented cost of mount marks: the copy of the mount in another namespace is unwatched.
  EXPECT_EQ(entries_for(entries, *mnt_ / "elsewhere").size(), 0u);
}

// --- Finding 2: a stalled worker never lets a program run unmeasured ------------------------

TEST_F(AgentListener, StalledUidCannotTieUpEveryWorker) {
  // uid 65534: truncate -s 16T x; truncate -s 16T y; chmod +x x y; ./x & ./y &
  // (two files: two execs of one file version are measured once, so the second never hashes)
  ::mkdir((*mnt_ / "u").c_str(), 0755);
  ::chown((*mnt_ / "u").c_str(), kNobody, kNobody);
  make_sparse_executable(*mnt_ / "u/x", off_t{16} << 40, kNobody);
  make_sparse_executable(*mnt_ / "u/y", off_t{16} << 40, kNobody);
  for (int i = 0; i < 3; ++i) copy_true(*mnt_ / ("root" + std::to_string(i)), std::to_string(i));
  start_agent("log", "measure func=BPRM_CHECK", "decision:\n  workers: 2\n  deadline_ms: 4000\n");

  const auto started = std::chrono::steady_clock::now();
  const pid_t first = spawn_as(kNobody, *mnt_ / "u/x", Access::exec);
  const pid_t second = spawn_as(kNobody, *mnt_ / "u/y", Access::exec);
  ASSERT_TRUE(wait_until_agent_reads(0, 64 << 20)) << "the agent never started hashing x";
  // Another user's programs, each needing a worker (not yet measured), run at once.
  for (int i = 0; i < 3; ++i) {
    const auto other = run_as(0, *mnt_ / ("root" + std::to_string(i)));
    EXPECT_EQ(other.code, 0);
    EXPECT_LT(other.elapsed.count(), 2000) << "root's exec " << i << " waited for uid 65534's stalled execs";
    std::printf("root's exec %d while uid 65534 stalls: %lld ms\n", i, static_cast<long long>(other.elapsed.count()));
  }
  // uid 65534's own execs: answered at the deadline (log mode: allowed, so the zeros fail to exec).
  for (const pid_t child : {first, second}) {
    const auto stalled = wait_child(child, started);
    EXPECT_EQ(stalled.code, kChildErrnoBase + ENOEXEC);
    EXPECT_LT(stalled.elapsed.count(), 4000 + 3000);
  }
  const auto entries = list();
  for (int i = 0; i < 3; ++i) {
    const std::string path = *mnt_ / ("root" + std::to_string(i));
    const auto found = entries_for(entries, path);
    ASSERT_EQ(found.size(), 1u) << path;
    EXPECT_TRUE(is_measurement_of(found[0], path));
  }
  // Each allowed exec that could not be measured in time left a violation in the list.
  for (const char* name : {"u/x", "u/y"}) {
    const auto violations = entries_for(entries, *mnt_ / name);
    ASSERT_EQ(violations.size(), 1u) << name;
    EXPECT_TRUE(violations[0].violation);
  }
  const auto status = agent_->status();
  EXPECT_EQ(status["timeouts"], 2) << status.dump();
  EXPECT_EQ(status["violations"], 2) << status.dump();
}

TEST_F(AgentListener, WatchdogAllowRecordsViolationBeforeAnsweringAndAbandonsTheHash) {
  make_sparse_executable(*mnt_ / "huge", off_t{16} << 40);
  copy_true(*mnt_ / "after", "after");
  start_agent("log", "measure func=BPRM_CHECK", "decision:\n  workers: 1\n  deadline_ms: 1000\n");
  const auto huge = run_as(0, *mnt_ / "huge");
  EXPECT_EQ(huge.code, kChildErrnoBase + ENOEXEC);  // allowed by the watchdog, then not an ELF
  // The exec has returned, so the answer was written: the violation must be in the list already.
  auto entries = list();
  ASSERT_FALSE(entries.empty());
  const ima::MeasurementEntry& last = entries.back();
  EXPECT_EQ(last.path, *mnt_ / "huge");
  EXPECT_TRUE(last.violation);
  EXPECT_EQ(last.template_name, ima::TemplateName::ima_ng);
  EXPECT_TRUE(std::all_of(last.template_sha1.begin(), last.template_sha1.end(), [](uint8_t b) { return b == 0; }));
  const std::string ascii = read_text(state_dir() + "/ascii_runtime_measurements");
  EXPECT_NE(ascii.find("10 0000000000000000000000000000000000000000 ima-ng sha256:" + std::string(64, '0') + " " +
                       mnt_->path() + "/huge\n"),
            std::string::npos)
      << ascii;
  // The only worker gave up the 16 TiB hash once the event was answered: the next program is
  // measured by it (not allowed by the watchdog as a violation).
  const auto after = run_as(0, *mnt_ / "after");
  EXPECT_EQ(after.code, 0);
  entries = list();
  const auto measured = entries_for(entries, *mnt_ / "after");
  ASSERT_EQ(measured.size(), 1u);
  EXPECT_TRUE(is_measurement_of(measured[0], *mnt_ / "after"));
  const auto status = agent_->status();
  EXPECT_GE(status["abandoned_hashes"].get<int>(), 1) << status.dump();
  EXPECT_EQ(status["violations"], 1) << status.dump();
  EXPECT_EQ(audit_records("measurement-violation").size(), 1u);
}

TEST_F(AgentListener, EnforceDeniesOnTimeoutByDefault) {
  // A digest in security.ima makes the agent hash the file; 16 TiB cannot be hashed in 100 ms.
  make_sparse_executable(*mnt_ / "huge", off_t{16} << 40);
  std::vector<uint8_t> value = {0x04, static_cast<uint8_t>(crypto::HashAlgo::sha256)};
  value.resize(2 + 32, 0xab);
  write_xattr(*mnt_ / "huge", "security.ima", value);
  start_agent("enforce", "appraise func=BPRM_CHECK", "decision:\n  deadline_ms: 100\n");
  EXPECT_EQ(run_as(0, *mnt_ / "huge").code, kChildErrnoBase + EPERM);
  EXPECT_GE(agent_->status()["timeouts"].get<int>(), 1);
}

TEST_F(AgentListener, FileChangedWhileHashedIsRecordedAsAViolation) {
  // 256 MiB of content to hash, and a writer whose descriptor predates the agent (no open event).
  const std::string path = *mnt_ / "growing";
  make_sparse_executable(path, off_t{256} << 20);
  const int writer = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  start_agent("log", "measure func=FILE_CHECK", "decision:\n  deadline_ms: 60000\n");
  const uint64_t before = read_bytes_of(agent_->pid());
  const auto started = std::chrono::steady_clock::now();
  const pid_t reader = spawn_as(0, path, Access::open);
  ASSERT_TRUE(wait_until_agent_reads(before, 16 << 20));
  ASSERT_EQ(::write(writer, "x", 1), 1);  // in the middle of the hash
  ::close(writer);
  EXPECT_EQ(wait_child(reader, started).code, 0);
  const auto found = entries_for(list(), path);
  ASSERT_EQ(found.size(), 1u);
  // Neither the digest of the version that was opened nor of the one after: a violation.
  EXPECT_TRUE(found[0].violation);
}

// --- Finding 9 (hash once): one read of the file per decision ----------------------------------

TEST_F(AgentListener, AppraisalAndMeasurementShareOneReadOfTheFile) {
  // SM2 signs SM3 digests; the list records SHA-256: two algorithms, one pass over 32 MiB.
  const std::string path = *mnt_ / "big-signed";
  copy_true(path);
  ASSERT_EQ(run_shell("head -c 33554432 /dev/urandom >> " + shell_quote(path)).exit_code, 0);
  sign(path);
  start_agent("enforce", "appraise func=BPRM_CHECK appraise_type=imasig\nmeasure func=BPRM_CHECK",
              "decision:\n  deadline_ms: 60000\n");
  const uint64_t before = read_bytes_of(agent_->pid());
  EXPECT_EQ(run_as(0, path).code, 0);
  const uint64_t read = read_bytes_of(agent_->pid()) - before;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_GE(read, static_cast<uint64_t>(st.st_size));
  EXPECT_LT(read, static_cast<uint64_t>(st.st_size) + (4 << 20)) << "the file was read more than once";
  const auto found = entries_for(list(), path);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(is_measurement_of(found[0], path));
}

// --- Finding 8: stopping never hangs the watched filesystem --------------------------------

TEST_F(AgentListener, StopWithALargeHashInProgressNeverHangsTheWatchedFilesystem) {
  make_sparse_executable(*mnt_ / "huge", off_t{16} << 40);
  write_text(*mnt_ / "small.txt", "small\n");
  // A deadline far away: only the shutdown itself may release the stalled exec.
  start_agent("log", "measure func=BPRM_CHECK\nmeasure func=FILE_CHECK", "decision:\n  deadline_ms: 60000\n");
  const uint64_t before = read_bytes_of(agent_->pid());
  const auto stalled_since = std::chrono::steady_clock::now();
  const pid_t stalled = spawn_as(kNobody, *mnt_ / "huge", Access::exec);
  ASSERT_TRUE(wait_until_agent_reads(before, 64 << 20));

  const auto stop_sent = std::chrono::steady_clock::now();
  agent_->signal(SIGTERM);
  // Unrelated opens on the watched filesystem while the agent stops: each within 250 ms.
  std::chrono::milliseconds slowest{0};
  int opens = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() - stop_sent < std::chrono::seconds(5)) {
    const auto open = run_as(0, *mnt_ / "small.txt", Access::open);
    EXPECT_EQ(open.code, 0);
    slowest = std::max(slowest, open.elapsed);
    ++opens;
    if (agent_->wait_exit(std::chrono::milliseconds(0))) {
      exited = true;
      break;
    }
  }
  const auto stop_took = std::chrono::steady_clock::now() - stop_sent;
  EXPECT_TRUE(exited) << "the agent did not exit within 5 s of SIGTERM";
  EXPECT_LT(slowest.count(), 250) << opens << " opens during shutdown";
  const auto released = wait_child(stalled, stalled_since);
  EXPECT_EQ(released.code, kChildErrnoBase + ENOEXEC);
  std::printf("shutdown with a 16 TiB hash in progress: %lld ms; %d opens meanwhile, slowest %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(stop_took).count()), opens,
              static_cast<long long>(slowest.count()));
  // The stalled exec was allowed (log mode) without a measurement: a violation says so.
  const auto entries = entries_for(list(), *mnt_ / "huge");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].violation);
}

// --- Finding 10: the set of measured versions is bounded -----------------------------------

TEST_F(AgentListener, EvictedMeasuredVersionIsMeasuredAgain) {
  // Opens (FILE_CHECK): every one reaches the agent. (A settled exec may be cached in the
  // kernel, and then its version never comes back to user space to be forgotten or measured.)
  for (const char* name : {"a", "b", "c"}) write_text(*mnt_ / name, std::string("content of ") + name + "\n");
  start_agent("log", "measure func=FILE_CHECK", "decision:\n  measured_versions: 2\n");
  for (const char* name : {"a", "b", "c", "a"}) EXPECT_EQ(run_as(0, *mnt_ / name, Access::open).code, 0) << name;
  const auto entries = list();
  const auto a = entries_for(entries, *mnt_ / "a");
  ASSERT_EQ(a.size(), 2u) << "a was forgotten when c was measured, so it is measured again";
  EXPECT_EQ(a[0], a[1]);
  EXPECT_EQ(entries_for(entries, *mnt_ / "b").size(), 1u);
  EXPECT_EQ(entries_for(entries, *mnt_ / "c").size(), 1u);
  const auto status = agent_->status();
  EXPECT_EQ(status["measured_versions"]["capacity"], 2) << status.dump();
  EXPECT_GE(status["measured_versions"]["evicted"].get<int>(), 1) << status.dump();
}
