// `vigil agent` measuring and appraising real execs and dlopens on a private tmpfs.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "privileged/agent_fixture.h"

using namespace vigil::test;

namespace {

bool denied(const CommandResult& result) {
  return result.exit_code != 0 && (result.err.find("Operation not permitted") != std::string::npos ||
                                   result.err.find("Permission denied") != std::string::npos);
}

class AgentAppraisal : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    ::mkdir((dir_ / "keys").c_str(), 0755);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "keys/app"}).exit_code, 0);
    ::mkdir((dir_ / "other").c_str(), 0755);
    ASSERT_EQ(run_vigil({"keygen", "--algo", "ecdsa-p256", "-o", dir_ / "other/vendor"}).exit_code, 0);
    copy("/usr/bin/true", *mnt_ / "signed");
    copy("/usr/bin/true", *mnt_ / "unsigned");
    sign(*mnt_ / "signed");
  }

  void TearDown() override {
    agent_.reset();  // before the mount goes away
    mnt_.reset();
  }

  void copy(const std::string& from, const std::string& to) {
    ASSERT_EQ(run({"cp", from, to}).exit_code, 0);
    ::chmod(to.c_str(), 0755);
  }
  void sign(const std::string& path, const std::string& key = "keys/app") {
    auto signed_file = run_vigil({"sign", "--key", dir_ / (key + ".key"), "--cert", dir_ / (key + ".crt"), path});
    ASSERT_EQ(signed_file.exit_code, 0) << signed_file.err;
  }

  void start_agent(const std::string& policy, const std::string& mode = "enforce", const std::string& extra = "") {
    std::string yaml = "mode: " + mode + "\nstate_dir: " + (dir_ / "state") + "\nwatch:\n  - " + mnt_->path() +
                       "\nkeyrings:\n  default: " + (dir_ / "keys") + "\n  vendor: " + (dir_ / "other") +
                       "\n" + (extra.empty() ? std::string("decision:\n  deadline_ms: 2000\n") : extra) + "policy_text: |\n";
    std::string line;
    for (char c : policy + "\n") {
      if (c == '\n') {
        if (!line.empty()) yaml += "  " + line + "\n";
        line.clear();
      } else {
        line += c;
      }
    }
    write_text(dir_ / "agent.yaml", yaml);
    agent_ = std::make_unique<AgentProcess>(dir_ / "agent.yaml", dir_ / "state");
    ASSERT_TRUE(agent_->ready()) << agent_->output();
  }

  std::vector<nlohmann::json> audit_records(const std::string& event) {
    std::vector<nlohmann::json> found;
    for (auto& record : agent_->audit()) {
      if (record.is_object() && record.value("event", "") == event) found.push_back(record);
    }
    return found;
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mnt_;
  std::unique_ptr<AgentProcess> agent_;
};

CommandResult as_user(uint32_t uid, const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid),
                                   "--clear-groups"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

}  // namespace

TEST_F(AgentAppraisal, EnforceRunsSignedAndDeniesUnsigned) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig\nmeasure func=BPRM_CHECK");
  EXPECT_EXIT_CODE(run({*mnt_ / "signed"}), 0);
  const auto unsigned_run = run({*mnt_ / "unsigned"});
  EXPECT_TRUE(denied(unsigned_run)) << unsigned_run.exit_code << " " << unsigned_run.err;

  const auto records = audit_records("appraisal");
  const auto deny = std::find_if(records.begin(), records.end(), [](const auto& r) { return r["verdict"] == "deny"; });
  ASSERT_NE(deny, records.end()) << agent_->output();
  EXPECT_EQ((*deny)["cause"], "IMA-signature-required");
  EXPECT_EQ((*deny)["path"], *mnt_ / "unsigned");
  EXPECT_EQ((*deny)["func"], "BPRM_CHECK");
  EXPECT_EQ((*deny)["uid"], 0);
  EXPECT_TRUE((*deny)["inode"].is_number());
  EXPECT_TRUE((*deny)["pid"].is_number());
  EXPECT_FALSE((*deny)["comm"].get<std::string>().empty());
  const auto pass = std::find_if(records.begin(), records.end(), [](const auto& r) { return r["result"] == "pass"; });
  ASSERT_NE(pass, records.end());
  EXPECT_EQ((*pass)["path"], *mnt_ / "signed");
}

TEST_F(AgentAppraisal, LogModeRunsUnsignedAndRecordsIt) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "log");
  EXPECT_EXIT_CODE(run({*mnt_ / "unsigned"}), 0);
  const auto records = audit_records("appraisal");
  ASSERT_FALSE(records.empty()) << agent_->output();
  EXPECT_EQ(records.back()["verdict"], "allow");
  EXPECT_EQ(records.back()["result"], "fail");
  EXPECT_EQ(records.back()["cause"], "IMA-signature-required");
  EXPECT_EQ(records.back()["mode"], "log");
}

// These look at user space's own decision cache: warm execs must reach user space.
constexpr const char* kKernelCacheOff = "decision:\n  deadline_ms: 2000\n  kernel_cache: off\n";

TEST_F(AgentAppraisal, ModifiedAfterCachedAppraisalIsDeniedNextTime) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "enforce", kKernelCacheOff);
  EXPECT_EXIT_CODE(run({*mnt_ / "signed"}), 0);
  EXPECT_EXIT_CODE(run({*mnt_ / "signed"}), 0);  // from the cache
  const auto warm = agent_->status();
  EXPECT_GE(warm["cache_hits"].get<int>(), 1) << warm.dump();
  EXPECT_GE(warm["fast_answers"].get<int>(), 1) << warm.dump();  // answered on the reader thread
  ASSERT_EQ(run_shell("printf x >> '" + (*mnt_ / "signed") + "'").exit_code, 0);
  const auto after = run({*mnt_ / "signed"});
  EXPECT_TRUE(denied(after)) << after.exit_code << " " << after.err;
  const auto records = audit_records("appraisal");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["cause"], "invalid-signature");
  EXPECT_EQ(records.back()["status"], "hash-mismatch");
}

TEST_F(AgentAppraisal, UnknownKeyAndPerRuleKeyring) {
  sign(*mnt_ / "unsigned", "other/vendor");  // signed, but by the vendor key
  start_agent("appraise func=BPRM_CHECK path=" + mnt_->path() + "/vendor-* keyring=vendor appraise_type=imasig\n"
              "appraise func=BPRM_CHECK appraise_type=imasig");
  // The default keyring does not know the vendor key.
  auto result = run({*mnt_ / "unsigned"});
  EXPECT_TRUE(denied(result)) << result.err;
  auto records = audit_records("appraisal");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["cause"], "unknown-key");
  // Under a path the rule ties to the vendor keyring, the same signature passes...
  copy(*mnt_ / "unsigned", *mnt_ / "vendor-tool");
  sign(*mnt_ / "vendor-tool", "other/vendor");
  EXPECT_EXIT_CODE(run({*mnt_ / "vendor-tool"}), 0);
  // ...and our own key is not accepted there.
  copy(*mnt_ / "signed", *mnt_ / "vendor-other");
  sign(*mnt_ / "vendor-other");
  EXPECT_TRUE(denied(run({*mnt_ / "vendor-other"})));
}

TEST_F(AgentAppraisal, UidConditionSelectsWhoIsAppraised) {
  start_agent("appraise appraise_type=imasig uid=1001 func=BPRM_CHECK\nmeasure uid=1001 func=BPRM_CHECK");
  EXPECT_TRUE(denied(as_user(1001, {*mnt_ / "unsigned"})));
  EXPECT_EXIT_CODE(as_user(1000, {*mnt_ / "unsigned"}), 0);
  EXPECT_EXIT_CODE(as_user(1001, {*mnt_ / "signed"}), 0);
  const auto records = audit_records("appraisal");
  ASSERT_FALSE(records.empty());
  for (const auto& record : records) EXPECT_EQ(record["uid"], 1001) << record.dump();
}

TEST_F(AgentAppraisal, FownerConditionSelectsWhichFilesAreAppraised) {
  copy(*mnt_ / "unsigned", *mnt_ / "owned-by-1002");
  ASSERT_EQ(::chown((*mnt_ / "owned-by-1002").c_str(), 1002, 1002), 0);
  start_agent("appraise fowner=1002 func=BPRM_CHECK appraise_type=imasig");
  EXPECT_TRUE(denied(run({*mnt_ / "owned-by-1002"})));
  EXPECT_EXIT_CODE(run({*mnt_ / "unsigned"}), 0);
}

TEST_F(AgentAppraisal, DlopenedLibraryIsCoveredByMmapCheckForThePolicysUid) {
  VIGIL_REQUIRE(have_program("cc"), "no C compiler");
  write_text(dir_ / "lib.c", "int answer(void) { return 42; }\n");
  write_text(dir_ / "loader.c",
             "#include <dlfcn.h>\n#include <stdio.h>\n"
             "int main(int c, char** v) { void* h = dlopen(v[1], RTLD_NOW);\n"
             "  if (!h) { fprintf(stderr, \"dlopen: %s\\n\", dlerror()); return 3; }\n"
             "  int (*f)(void) = (int (*)(void))dlsym(h, \"answer\"); return f() == 42 ? 0 : 4; }\n");
  ASSERT_EQ(run({"cc", "-shared", "-fPIC", "-o", *mnt_ / "libunsigned.so", dir_ / "lib.c"}).exit_code, 0);
  ASSERT_EQ(run({"cc", "-shared", "-fPIC", "-o", *mnt_ / "libsigned.so", dir_ / "lib.c"}).exit_code, 0);
  ASSERT_EQ(run({"cc", "-o", dir_ / "loader", dir_ / "loader.c", "-ldl"}).exit_code, 0);
  sign(*mnt_ / "libsigned.so");
  start_agent("appraise appraise_type=imasig uid=1001 func=MMAP_CHECK\nmeasure uid=1001 func=MMAP_CHECK");
  const auto unsigned_load = as_user(1001, {dir_ / "loader", *mnt_ / "libunsigned.so"});
  EXPECT_EQ(unsigned_load.exit_code, 3) << unsigned_load.err;
  EXPECT_NE(unsigned_load.err.find("Operation not permitted"), std::string::npos) << unsigned_load.err;
  EXPECT_EXIT_CODE(as_user(1001, {dir_ / "loader", *mnt_ / "libsigned.so"}), 0);
  EXPECT_EXIT_CODE(as_user(1000, {dir_ / "loader", *mnt_ / "libunsigned.so"}), 0);
  const auto records = audit_records("appraisal");
  const auto deny = std::find_if(records.begin(), records.end(), [](const auto& r) { return r["verdict"] == "deny"; });
  ASSERT_NE(deny, records.end());
  EXPECT_EQ((*deny)["func"], "MMAP_CHECK");
  EXPECT_EQ((*deny)["path"], *mnt_ / "libunsigned.so");
}

TEST_F(AgentAppraisal, FixModeWritesMissingDigests) {
  start_agent("appraise func=BPRM_CHECK", "fix");
  EXPECT_TRUE(read_xattr(*mnt_ / "unsigned", "security.ima").empty());
  EXPECT_EXIT_CODE(run({*mnt_ / "unsigned"}), 0);
  const auto value = read_xattr(*mnt_ / "unsigned", "security.ima");
  ASSERT_EQ(value.size(), 34u);
  EXPECT_EQ(value[0], 0x04);
  EXPECT_EQ(value[1], 4);  // sha256
  // What fix wrote verifies as a digest with vigil verify.
  EXPECT_EXIT_CODE(run_vigil({"verify", "--keyring", dir_ / "keys", *mnt_ / "unsigned"}), 0);
}

TEST_F(AgentAppraisal, SighupReloadsAtomicallyAndKeepsOldPolicyOnError) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig");
  EXPECT_TRUE(denied(run({*mnt_ / "unsigned"})));
  // A broken policy is rejected; the old one stays in force.
  std::string yaml = read_text(dir_ / "agent.yaml");
  write_text(dir_ / "agent.yaml", yaml.substr(0, yaml.find("policy_text")) + "policy_text: |\n  appraise func=NOPE\n");
  agent_->signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(denied(run({*mnt_ / "unsigned"})));
  const auto failed = audit_records("reload-failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0]["reason"].get<std::string>().find(":1:"), std::string::npos) << failed[0].dump();
  // A good one takes effect.
  write_text(dir_ / "agent.yaml", yaml.substr(0, yaml.find("policy_text")) + "policy_text: |\n  measure func=BPRM_CHECK\n");
  agent_->signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EXIT_CODE(run({*mnt_ / "unsigned"}), 0);
  EXPECT_EQ(audit_records("reload").size(), 1u);
}

TEST_F(AgentAppraisal, TwoHundredConcurrentExecsNoDeadlockNoLostDecision) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig\nmeasure func=BPRM_CHECK", "enforce", kKernelCacheOff);
  const std::string signed_bin = *mnt_ / "signed";
  const std::string unsigned_bin = *mnt_ / "unsigned";
  // 4 processes x 50 execs, half of them of a file that must be denied every time.
  const std::string script =
      "ok=0; for i in $(seq 25); do '" + signed_bin + "' && ok=$((ok+1)); '" + unsigned_bin +
      "' 2>/dev/null || ok=$((ok+1)); done; [ $ok -eq 50 ]";
  const auto result = run_shell("pids=; for p in 1 2 3 4; do (" + script + ") & pids=\"$pids $!\"; done; "
                                "rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc", 120);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EXIT_CODE(result, 0);
  const auto status = agent_->status();
  EXPECT_EQ(status["timeouts"], 0) << status.dump();
  EXPECT_EQ(status["queue_full"], 0);
  EXPECT_GE(status["denied"].get<int>(), 100) << status.dump();
  EXPECT_GE(status["allowed"].get<int>(), 100) << status.dump();
}

TEST_F(AgentAppraisal, DeadlineAnswersSlowDecisionsWithTheConfiguredDefault) {
  // A signed executable with 50 MB of trailing bytes takes far longer to hash than 10 ms.
  ASSERT_EQ(run_shell("cp /usr/bin/true '" + (*mnt_ / "big") + "' && head -c 50000000 /dev/zero >> '" +
                      (*mnt_ / "big") + "'").exit_code, 0);
  sign(*mnt_ / "big");
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "enforce",
              "decision:\n  deadline_ms: 10\n  on_timeout: deny\n");
  const auto first = run({*mnt_ / "big"});
  EXPECT_TRUE(denied(first)) << "fail-closed deadline must deny: " << first.exit_code << first.err;
  EXPECT_GE(agent_->status()["timeouts"].get<int>(), 1);
  // Nobody waits for that verdict any more: the worker gives its hash up (no verdict reached
  // after the answer is cached or measured), and the next small program is decided by it.
  bool gave_up = false;
  for (int attempt = 0; attempt < 50 && !gave_up; ++attempt) {
    gave_up = agent_->status()["abandoned_hashes"].get<int>() >= 1;
    if (!gave_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gave_up);
  EXPECT_TRUE(denied(run({*mnt_ / "big"})));  // still cannot be hashed in 10 ms
  EXPECT_EXIT_CODE(run({*mnt_ / "signed"}), 0);
}

TEST_F(AgentAppraisal, FileCheckEnforceStillLetsNewFilesBeCreated) {
  write_text(*mnt_ / "data.txt", "unsigned data\n");
  start_agent("appraise func=FILE_CHECK appraise_type=imasig");
  // Reading an existing unsigned file is denied...
  const auto read_unsigned = run({"cat", *mnt_ / "data.txt"});
  EXPECT_TRUE(denied(read_unsigned)) << read_unsigned.exit_code << read_unsigned.err;
  // ...but creating a new file is not: it has no content to protect yet (IMA_NEW_FILE).
  EXPECT_EXIT_CODE(run_shell("echo new > '" + (*mnt_ / "created.txt") + "'"), 0);
  struct stat st {};
  ASSERT_EQ(::stat((*mnt_ / "created.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);
  // Once written it has content and no signature, so reading it back is appraised and denied.
  EXPECT_TRUE(denied(run({"cat", *mnt_ / "created.txt"})));
}

// --- Kernel-side verdict cache (decision.kernel_cache: on) ---------------------------------

namespace {
constexpr const char* kKernelCacheOn = "decision:\n  deadline_ms: 2000\n  kernel_cache: on\n";
// fanotify's FAN_DENY fails the exec with EPERM.
const std::string kDeniedExec = "exec-errno " + std::to_string(EPERM);

// Runs `path` in a child and reports how it ended: "exit N", "signal N" or "exec-errno N".
std::string run_and_describe(const std::string& path) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(path.c_str(), path.c_str(), nullptr);
    const int error = errno;
    (void)!::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(report[1]);
  int error = 0;
  const bool exec_failed = ::read(report[0], &error, sizeof error) == sizeof error;
  ::close(report[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (exec_failed) return "exec-errno " + std::to_string(error);
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "exit " + std::to_string(WEXITSTATUS(status));
}
}  // namespace

TEST_F(AgentAppraisal, KernelCacheSkipsUserSpaceForWarmExecs) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig\nmeasure func=BPRM_CHECK", "enforce", kKernelCacheOn);
  // 1st exec: appraised, measured, watched; it confirms the guard entry. 2nd: mark placed.
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  const auto before = agent_->status();
  ASSERT_TRUE(before["kernel_cache"]["enabled"].get<bool>()) << before.dump();
  EXPECT_EQ(before["kernel_cache"]["ignored"], 1) << before.dump();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  const auto after = agent_->status();
  // FAN_OPEN_EXEC_PERM of the 20 warm execs never reached user space.
  EXPECT_EQ(after["permission_events"], before["permission_events"]) << after.dump();
  // Unsigned files are never marked: still denied every time.
  EXPECT_EQ(run_and_describe(*mnt_ / "unsigned"), kDeniedExec);
  EXPECT_EQ(run_and_describe(*mnt_ / "unsigned"), kDeniedExec);
  // Measured once per file, as IMA does: boot_aggregate, signed, unsigned.
  const std::string list = read_text(dir_ / "state/ascii_runtime_measurements");
  EXPECT_EQ(std::count(list.begin(), list.end(), '\n'), 3) << list;
}

TEST_F(AgentAppraisal, KernelCacheMarkIsClearedByWrite) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "enforce", kKernelCacheOn);
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  ASSERT_EQ(agent_->status()["kernel_cache"]["ignored"], 1);
  ASSERT_EQ(run_shell("printf x >> '" + (*mnt_ / "signed") + "'").exit_code, 0);
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), kDeniedExec);
}

TEST_F(AgentAppraisal, KernelCacheCatchesWritesThroughASharedMapping) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "enforce", kKernelCacheOn);
  const std::string binary = *mnt_ / "signed";
  EXPECT_EQ(run_and_describe(binary), "exit 0");
  EXPECT_EQ(run_and_describe(binary), "exit 0");
  ASSERT_EQ(agent_->status()["kernel_cache"]["ignored"], 1);
  struct stat st {};
  ASSERT_EQ(::stat(binary.c_str(), &st), 0);
  // tmpfs does not even update ctime for writes through a mapping, and the kernel keeps the
  // ignore mark: only the guard stands between this change and the next exec. The last byte
  // is in the section headers, which the loader ignores: the changed program would run fine.
  const int fd = ::open(binary.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  auto* bytes = static_cast<unsigned char*>(::mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(bytes, MAP_FAILED);
  bytes[st.st_size - 1] ^= 0x01;
  ::munmap(bytes, st.st_size);
  ::close(fd);
  // Immediately: the agent may not have seen the writer's close yet. Either way it must not run.
  const std::string outcome = run_and_describe(binary);
  EXPECT_TRUE(outcome == "signal 9" || outcome == kDeniedExec) << outcome << agent_->status().dump() << "\n" << read_text(dir_ / "state/audit.jsonl");
  // Once the agent has caught up, the changed file is appraised and denied like any other.
  for (int i = 0; i < 50 && agent_->status()["kernel_cache"]["withdrawn"].get<int>() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(run_and_describe(binary), kDeniedExec);
  if (outcome == "signal 9") {
    bool reported = false;
    for (int i = 0; i < 50 && !reported; ++i) {
      reported = !audit_records("exec-guard-kill").empty();
      if (!reported) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(reported) << agent_->output();
  }
}

TEST_F(AgentAppraisal, KernelCacheStaysOffForSubjectDependentPolicies) {
  start_agent("appraise appraise_type=imasig uid=1001 func=BPRM_CHECK", "enforce", kKernelCacheOn);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  const auto status = agent_->status();
  EXPECT_EQ(status["kernel_cache"]["ignored"], 0) << status.dump();
  // Still guarded: every allowed exec carries a ticket, but none may skip user space.
  EXPECT_EQ(status["kernel_cache"]["tickets"], 3) << status.dump();
  // uid 1001 must still be appraised on every exec: the unsigned binary is denied for it.
  const auto unsigned_run = as_user(1001, {*mnt_ / "unsigned"});
  EXPECT_TRUE(denied(unsigned_run)) << unsigned_run.exit_code << unsigned_run.err;
}

TEST_F(AgentAppraisal, KernelCacheIsFlushedOnReload) {
  start_agent("appraise func=BPRM_CHECK appraise_type=imasig", "enforce", kKernelCacheOn);
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), "exit 0");
  ASSERT_EQ(agent_->status()["kernel_cache"]["ignored"], 1);
  // New policy: the signed file must now be signed by the vendor key, which it is not.
  std::string yaml = read_text(dir_ / "agent.yaml");
  const auto at = yaml.find("appraise func=BPRM_CHECK appraise_type=imasig");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, std::string("appraise func=BPRM_CHECK appraise_type=imasig").size(),
               "appraise func=BPRM_CHECK appraise_type=imasig keyring=vendor");
  write_text(dir_ / "agent.yaml", yaml);
  agent_->signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = !audit_records("reload").empty();
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(reloaded) << agent_->output();
  EXPECT_EQ(run_and_describe(*mnt_ / "signed"), kDeniedExec);
}
