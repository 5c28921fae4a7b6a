#pragma once
// Decides one fanotify permission event: policy → appraisal (cached per file version) →
// measurement (once per file version) → audit record → verdict.
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include <sys/stat.h>

#include "agent/audit_log.h"
#include "agent/config.h"
#include "agent/decision_cache.h"
#include "agent/fanotify_listener.h"
#include "agent/kernel_cache.h"
#include "agent/measurement_sink.h"
#include "agent/subject.h"
#include "ima/ima.h"
#include "ima/policy.h"

namespace vigil::agent {

// Everything SIGHUP replaces, swapped as one immutable snapshot.
struct Ruleset {
  ima::Policy policy;
  std::string policy_source;  // the policy file, "<config>:policy_text" or "built-in policy"
  std::string policy_text;    // as parsed (shown by the console)
  std::map<std::string, ima::Keyring> keyrings;
  std::vector<std::string> warnings;
  bool needs_subject = false;  // policy has uid/euid/gid/egid conditions
  bool needs_path = false;     // path= conditions
  bool needs_fs = false;       // fsmagic/fsuuid/fsname conditions
  // No condition on who runs a file, by which name, or who owns it: a verdict is a property of
  // the file's content alone, so the kernel may cache it (KernelVerdictCache).
  bool verdicts_are_per_content = false;
  bool has_exec_rules = false, has_mmap_rules = false, has_file_rules = false;
  uint64_t fanotify_mask = 0;  // events the marks must deliver
};

// The built-in policy when the config names none: measure what is executed.
inline constexpr const char* kDefaultPolicy = "measure func=BPRM_CHECK\n";

// Loads the policy and every keyring; any error (with file:line) leaves nothing half-loaded.
Result<std::shared_ptr<const Ruleset>> load_ruleset(const AgentConfig& config);

struct EngineStats {
  std::atomic<uint64_t> decisions{0};
  std::atomic<uint64_t> cache_hits{0};
  std::atomic<uint64_t> appraisal_failures{0};
  std::atomic<uint64_t> measurements{0};
  std::atomic<uint64_t> measurement_failures{0};
  std::atomic<uint64_t> fixed{0};
  std::atomic<uint64_t> fast_decisions{0};  // answered on the reader thread from the cache
  std::atomic<uint64_t> violations{0};      // violation entries: allowed, but no digest could be recorded
  std::atomic<uint64_t> abandoned_hashes{0};  // hashes given up because the event was answered without them
};

// An exec the engine decided (BPRM_CHECK), for observers such as the network policy's signer
// identities: called on the deciding thread, before the exec is answered, so what the observer
// records is in place before the program's first instruction.
struct ExecAppraisal {
  pid_t pid = 0;
  dev_t device = 0;   // stat(2)'s st_dev of the executable
  ino_t inode = 0;
  std::string_view path;
  bool appraised = false;  // an appraise rule applied
  bool passed = false;     // its appraisal passed (signature verified with a key of `keyring`)
  std::string_view keyring;
};
using ExecAppraisalObserver = std::function<void(const ExecAppraisal&)>;

class IntegrityEngine {
 public:
  IntegrityEngine(const AgentConfig& config, DecisionCache& cache, AuditLog& audit, MeasurementSink& sink,
                  std::shared_ptr<const Ruleset> ruleset);
  void set_ruleset(std::shared_ptr<const Ruleset> ruleset) { ruleset_.store(std::move(ruleset)); }
  // Set once, before the listener starts; nullptr: every exec goes through user space.
  void set_kernel_cache(KernelVerdictCache* kernel_cache) { kernel_cache_ = kernel_cache; }
  // After a ruleset swap: no mark placed under the old ruleset survives this call.
  void reset_kernel_cache();
  std::shared_ptr<const Ruleset> ruleset() const { return ruleset_.load(); }
  // Set once, before the listener starts.
  void set_exec_observer(ExecAppraisalObserver observer) { exec_observer_ = std::move(observer); }
  // Reads the file at most once, and no further than the size it had when the event arrived;
  // nullopt when the ticket was abandoned on the way (nothing recorded, claims released).
  std::optional<Verdict> decide(int fd, pid_t pid, uint64_t fanotify_mask, EventTicket& ticket);
  // The warm path, for the listener's reader thread: a verdict when the event needs no file
  // content and no record (no rule applies, or a cached pass already measured); else no
  // verdict, and what an allow without a decision would owe (owed_measurement).
  FanotifyListener::FastDecision decide_from_cache(int fd, pid_t pid, uint64_t fanotify_mask);
  // The listener allows an event before its decision finished (deadline, full queue, uid share,
  // stop) that owed a measurement: record a violation entry for it, and extend it, now. Reads
  // no file content (only the descriptor's path).
  void record_unfinished_allow(int fd, pid_t pid, uint64_t owed, std::string_view why);
  void invalidate(int fd);  // fd < 0: everything
  const EngineStats& stats() const { return stats_; }

 private:
  struct EventView {
    struct stat st {};
    std::shared_ptr<const Ruleset> rules;
    Subject subject;
    std::string path;
    ima::AccessContext access;
    ima::PolicyDecision decision;
    bool classified = false;  // false: deciding needs the file's content (ELF header)
    pid_t pid = 0;
    bool exec_of_elf = false;                // an exec permission event of an ELF file
    KernelVerdictCache::ExecArm exec_guard;  // armed before the content is read (exec guard)
  };
  // Exec events of ELF files go under the exec guard before their content is read.
  void arm_exec_guard(int fd, pid_t pid, EventView& view);
  // Stats the file and evaluates the policy; false when the event concerns no regular file.
  bool classify(int fd, pid_t pid, uint64_t fanotify_mask, bool may_read_content, EventView& view) const;
  // Records the digest of a claimed (version, template, pcr); `signature` for ima-sig.
  void measure(const crypto::Digest& digest, const FileVersion& version, const ima::PolicyDecision& decision,
               const std::string& path, std::vector<uint8_t> signature, pid_t pid, std::string_view verdict);
  // An IMA violation entry (zero digest, zero template hash, extended as 0xff): the file was
  // allowed and no digest of it could be recorded.
  void record_violation(const std::string& path, ima::TemplateName template_name, uint32_t pcr, pid_t pid,
                        std::string_view reason);
  crypto::HashAlgo measurement_algo(ima::TemplateName template_name) const;

  const AgentConfig& config_;
  DecisionCache& cache_;
  AuditLog& audit_;
  MeasurementSink& sink_;
  // An allowed exec whose verdict needs nothing more from user space, ever, for this content.
  void offer_to_kernel_cache(int fd, EventView& view, Verdict verdict, bool appraisal_passed);

  std::atomic<std::shared_ptr<const Ruleset>> ruleset_;
  ExecAppraisalObserver exec_observer_;
  KernelVerdictCache* kernel_cache_ = nullptr;
  std::shared_mutex kernel_cache_mutex_;  // offers shared; reset exclusive
  EngineStats stats_;
};

}  // namespace vigil::agent
