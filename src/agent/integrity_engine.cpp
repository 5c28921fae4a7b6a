#include "agent/integrity_engine.h"

#include <cerrno>
#include <cstring>

#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/subject.h"

namespace vigil::agent {
namespace {

std::string fd_path(int fd) {
  char link[32];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t length = ::readlink(link, target, sizeof target);
  return length > 0 ? std::string(target, static_cast<size_t>(length)) : std::string();
}

bool is_elf_object(int fd) {
  unsigned char header[18];
  if (::pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) return false;
  if (std::memcmp(header, "\x7f" "ELF", 4) != 0) return false;
  const unsigned type = header[5] == 2 ? (header[16] << 8 | header[17]) : (header[17] << 8 | header[16]);
  return type == 2 /*ET_EXEC*/ || type == 3 /*ET_DYN*/;
}

const char* func_text(ima::PolicyFunc func) {
  switch (func) {
    case ima::PolicyFunc::bprm_check: return "BPRM_CHECK";
    case ima::PolicyFunc::mmap_check: return "MMAP_CHECK";
    case ima::PolicyFunc::file_check: return "FILE_CHECK";
    case ima::PolicyFunc::other: return "OTHER";
  }
  return "OTHER";
}

uint32_t appraisal_profile(const ima::PolicyDecision& decision) {
  return static_cast<uint32_t>(std::hash<std::string>{}(decision.keyring)) * 2 + (decision.require_signature ? 1 : 0);
}

Cause cause_of(ima::VerifyStatus status, bool digest_form) {
  switch (status) {
    case ima::VerifyStatus::ok: return Cause::none;
    case ima::VerifyStatus::no_signature: return Cause::missing_hash;
    case ima::VerifyStatus::hash_mismatch: return digest_form ? Cause::invalid_hash : Cause::invalid_signature;
    case ima::VerifyStatus::bad_signature: return Cause::invalid_signature;
    case ima::VerifyStatus::unknown_key: return Cause::unknown_key;
    case ima::VerifyStatus::malformed: return Cause::invalid_xattr;
    case ima::VerifyStatus::error: return Cause::read_error;
  }
  return Cause::read_error;
}

std::optional<std::vector<uint8_t>> read_ima_xattr(int fd) {
  std::vector<uint8_t> value(ima::kMaxXattrSize);
  const ssize_t length = ::fgetxattr(fd, ima::kImaXattrName, value.data(), value.size());
  if (length < 0) return std::nullopt;
  value.resize(static_cast<size_t>(length));
  return value;
}

}  // namespace

Result<std::shared_ptr<const Ruleset>> load_ruleset(const AgentConfig& config) {
  auto rules = std::make_shared<Ruleset>();
  if (!config.policy_text.empty()) {
    rules->policy_source = config.source + ":policy_text";
    rules->policy_text = config.policy_text;
  } else if (!config.policy_path.empty()) {
    rules->policy_source = config.policy_path;
    auto text = ima::read_policy_file(config.policy_path);
    if (!text) return std::unexpected(text.error());
    rules->policy_text = std::move(*text);
  } else {
    rules->policy_source = "built-in policy";
    rules->policy_text = kDefaultPolicy;
  }
  ima::PolicyParse parsed = ima::parse_policy(rules->policy_text, rules->policy_source);
  if (!parsed.ok()) {
    std::string text;
    for (const auto& error : parsed.errors) text += (text.empty() ? "" : "\n") + error.text();
    return fail(text);
  }
  for (const auto& warning : parsed.warnings) rules->warnings.push_back(warning.text());
  rules->policy = std::move(parsed.policy);
  // A measure rule without pcr= extends measurement.pcr (the kernel's is its build's 10).
  for (auto& rule : rules->policy.rules) {
    if (rule.action == ima::PolicyAction::measure && !rule.pcr) rule.pcr = config.measurement.pcr;
  }

  for (const auto& [name, dir] : config.keyrings) {
    ima::Keyring keyring;
    auto warnings = keyring.load_directory(dir);
    if (!warnings) return fail(config.source + ": keyring '" + name + "': " + warnings.error().message);
    for (const auto& warning : *warnings) rules->warnings.push_back("keyring '" + name + "': " + warning);
    rules->keyrings.emplace(name, std::move(keyring));
  }
  bool owner_conditions = false;
  for (const auto& rule : rules->policy.rules) {
    if (rule.inert) continue;
    owner_conditions |= rule.fowner || rule.fgroup;
    rules->needs_subject |= rule.uid || rule.euid || rule.gid || rule.egid;
    rules->needs_path |= rule.path_glob.has_value();
    rules->needs_fs |= rule.fsmagic || rule.fsuuid || rule.fsname;
    const bool any_func = !rule.func;
    rules->has_exec_rules |= any_func || rule.func == ima::PolicyFunc::bprm_check;
    rules->has_mmap_rules |= any_func || rule.func == ima::PolicyFunc::mmap_check;
    rules->has_file_rules |= any_func || rule.func == ima::PolicyFunc::file_check;
    const bool appraises = rule.action == ima::PolicyAction::appraise;
    const std::string keyring = rule.keyring.value_or("default");
    if (appraises && !rules->keyrings.contains(keyring)) {
      return fail(rule.keyring ? "policy line " + std::to_string(rule.line) + ": keyring '" + keyring +
                                     "' is not in the config's keyrings"
                               : "policy line " + std::to_string(rule.line) +
                                     ": appraise rule without keyring= needs a 'default' keyring in the config");
    }
  }
  rules->verdicts_are_per_content = !rules->needs_subject && !rules->needs_path && !owner_conditions;
  if (rules->has_exec_rules) rules->fanotify_mask |= FAN_OPEN_EXEC_PERM;
  if (rules->has_mmap_rules || rules->has_file_rules) rules->fanotify_mask |= FAN_OPEN_PERM;
  // A file can only be executed once every writer has closed it (ETXTBSY), so the close of a
  // writer is the moment to forget verdicts; the ctime in the cache key covers the rest.
  if (rules->fanotify_mask != 0) rules->fanotify_mask |= FAN_CLOSE_WRITE;
  return std::shared_ptr<const Ruleset>(std::move(rules));
}

IntegrityEngine::IntegrityEngine(const AgentConfig& config, DecisionCache& cache, AuditLog& audit,
                                 MeasurementSink& sink, std::shared_ptr<const Ruleset> ruleset)
    : config_(config), cache_(cache), audit_(audit), sink_(sink), ruleset_(std::move(ruleset)) {}

void IntegrityEngine::reset_kernel_cache() {
  if (!kernel_cache_) return;
  std::unique_lock lock(kernel_cache_mutex_);
  kernel_cache_->clear();
}

void IntegrityEngine::invalidate(int fd) {
  if (fd < 0) {
    reset_kernel_cache();
    cache_.clear();
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;
  if (kernel_cache_) kernel_cache_->invalidate(fd, st);
  cache_.invalidate(st.st_dev, st.st_ino);
}

void IntegrityEngine::arm_exec_guard(int fd, pid_t pid, EventView& view) {
  if (!kernel_cache_ || !view.classified || view.access.func != ima::PolicyFunc::bprm_check) return;
  const ima::PolicyDecision& decision = view.decision;
  // Nothing to protect: no rule looks at this exec and the kernel may not cache it.
  if (!decision.measure && !decision.appraise && !decision.audit && !kernel_cache_->marks_enabled()) return;
  // The guard checks execs at sched_process_exec, where a script's inode is its interpreter's
  // (and an interpreter reads its script long after the exec anyway).
  view.exec_of_elf = is_elf_object(fd);
  if (!view.exec_of_elf) return;
  view.pid = pid;
  view.exec_guard = kernel_cache_->arm(fd);
}

void IntegrityEngine::offer_to_kernel_cache(int fd, EventView& view, Verdict verdict, bool appraisal_passed) {
  if (!kernel_cache_ || !view.exec_guard.armed()) return;
  const ima::PolicyDecision& decision = view.decision;
  bool settled = verdict == Verdict::allow && view.rules->verdicts_are_per_content && !decision.audit &&
                 config_.mode != Mode::fix && (!decision.appraise || appraisal_passed);
  if (settled && decision.measure) {
    settled = cache_.is_measured(FileVersion::of(view.st), decision.template_name, decision.pcr);
  }
  std::shared_lock lock(kernel_cache_mutex_);
  // Decided under a ruleset that has since been replaced: its marks are being flushed.
  if (settled && ruleset_.load() != view.rules) settled = false;
  kernel_cache_->exec_decided(fd, view.pid, verdict, settled, view.exec_guard);
}

Appraisal IntegrityEngine::appraise(int fd, const Ruleset& rules, const ima::PolicyDecision& decision,
                                    std::string& reason) const {
  Appraisal appraisal;
  auto value = read_ima_xattr(fd);
  if (!value) {
    appraisal.status = ima::VerifyStatus::no_signature;
    appraisal.cause = decision.require_signature ? Cause::signature_required : Cause::missing_hash;
    reason = "no security.ima";
    return appraisal;
  }
  auto parsed = ima::parse_ima_xattr(*value);
  const bool digest_form = parsed && std::holds_alternative<ima::DigestValue>(*parsed);
  if (parsed && digest_form && decision.require_signature) {
    appraisal.status = ima::VerifyStatus::no_signature;
    appraisal.cause = Cause::signature_required;
    reason = "security.ima holds a digest, the policy requires a signature (appraise_type=imasig)";
    return appraisal;
  }
  const std::string keyring_name = decision.keyring.empty() ? "default" : decision.keyring;
  static const ima::Keyring kEmpty;
  auto ring = rules.keyrings.find(keyring_name);
  const ima::VerifyResult result = ima::verify_value(fd, *value, ring == rules.keyrings.end() ? kEmpty : ring->second);
  appraisal.status = result.status;
  appraisal.passed = result.status == ima::VerifyStatus::ok;
  appraisal.cause = cause_of(result.status, digest_form);
  appraisal.keyid = result.keyid.value_or(0);
  reason = result.reason;
  return appraisal;
}

void IntegrityEngine::measure(int fd, const FileVersion& version, const ima::PolicyDecision& decision,
                              const std::string& path, pid_t pid, std::string_view verdict) {
  ima::MeasurementEntry entry;
  entry.pcr = decision.pcr;
  entry.template_name = decision.template_name;
  entry.path = path;
  thread_local crypto::Hasher hasher;
  const crypto::HashAlgo algo = decision.template_name == ima::TemplateName::ima ? crypto::HashAlgo::sha1 : config_.hash;
  auto digest = hasher.of_fd(algo, fd);
  Result<void> recorded = digest ? Result<void>{} : Result<void>(std::unexpected(digest.error()));
  std::string extend_error;
  if (digest) {
    entry.file_digest = *digest;
    if (decision.template_name == ima::TemplateName::ima_sig) {
      if (auto value = read_ima_xattr(fd)) entry.signature = std::move(*value);
    }
    recorded = sink_.record(std::move(entry), &extend_error, verdict);
  }
  if (!recorded) {
    // Not in the list: a later access measures again.
    cache_.release_measurement(version, decision.template_name, decision.pcr);
    stats_.measurement_failures.fetch_add(1, std::memory_order_relaxed);
    audit_.record({{"event", "measurement-failure"}, {"path", path}, {"pid", pid}, {"device", version.device},
                   {"inode", version.inode}, {"reason", recorded.error().message}});
    return;
  }
  cache_.mark_measured(version, decision.template_name, decision.pcr);
  stats_.measurements.fetch_add(1, std::memory_order_relaxed);
  if (!extend_error.empty()) {
    stats_.measurement_failures.fetch_add(1, std::memory_order_relaxed);
    audit_.record({{"event", "pcr-extend-failure"}, {"path", path}, {"pid", pid}, {"pcr", decision.pcr},
                   {"reason", extend_error}});
  }
}

bool IntegrityEngine::classify(int fd, pid_t pid, uint64_t fanotify_mask, bool may_read_content, EventView& view) const {
  if (::fstat(fd, &view.st) != 0 || !S_ISREG(view.st.st_mode)) return false;
  view.rules = ruleset_.load();
  const Ruleset& rules = *view.rules;
  if (rules.needs_subject) view.subject = read_subject(pid);
  if (rules.needs_path) {
    view.path = fd_path(fd);
    view.access.path_unknown = view.path.empty();
  }
  ima::AccessContext& access = view.access;
  access.uid = view.subject.uid;
  access.euid = view.subject.euid;
  access.gid = view.subject.gid;
  access.egid = view.subject.egid;
  access.fowner = view.st.st_uid;
  access.fgroup = view.st.st_gid;
  access.path = view.path;
  if (rules.needs_fs) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) == 0) access.fsmagic = static_cast<uint64_t>(fs.f_type);
  }
  ima::PolicyDecision& decision = view.decision;
  if (fanotify_mask & FAN_OPEN_EXEC_PERM) {
    access.func = ima::PolicyFunc::bprm_check;
    access.mask = ima::kMayExec;
    decision = ima::evaluate_policy(rules.policy, access);
  } else {
    // An ELF object opened by a loader is about to be mapped executable: MMAP_CHECK applies
    // before any of its code can run. Other opens are FILE_CHECK.
    if (rules.has_mmap_rules) {
      if (!may_read_content) return true;  // reading the ELF header is I/O: leave it to a worker
      if (is_elf_object(fd)) {
        access.func = ima::PolicyFunc::mmap_check;
        access.mask = ima::kMayExec;
        decision = ima::evaluate_policy(rules.policy, access);
      }
    }
    if (!decision.measure && !decision.appraise && !decision.audit && rules.has_file_rules) {
      access.func = ima::PolicyFunc::file_check;
      access.mask = ima::kMayRead;
      decision = ima::evaluate_policy(rules.policy, access);
    }
  }
  view.classified = true;
  return true;
}

std::optional<Verdict> IntegrityEngine::decide_from_cache(int fd, pid_t pid, uint64_t fanotify_mask) {
  auto answered = [this] {
    stats_.decisions.fetch_add(1, std::memory_order_relaxed);
    stats_.fast_decisions.fetch_add(1, std::memory_order_relaxed);
    return Verdict::allow;
  };
  EventView view;
  if (!classify(fd, pid, fanotify_mask, /*may_read_content=*/false, view)) return answered();
  if (!view.classified) return std::nullopt;
  arm_exec_guard(fd, pid, view);
  const ima::PolicyDecision& decision = view.decision;
  if (!decision.measure && !decision.appraise && !decision.audit) {
    offer_to_kernel_cache(fd, view, Verdict::allow, false);
    return answered();
  }
  if (decision.audit) return std::nullopt;
  const FileVersion version = FileVersion::of(view.st);
  if (decision.measure && !cache_.is_measured(version, decision.template_name, decision.pcr)) return std::nullopt;
  if (decision.appraise) {
    // Only passes are answered here; a failure is recorded (I/O) by a worker every time.
    const std::optional<Appraisal> cached = cache_.find(version, appraisal_profile(decision));
    if (!cached || !cached->passed) return std::nullopt;
    stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
  }
  if (exec_observer_ && view.access.func == ima::PolicyFunc::bprm_check) {
    const std::string keyring = decision.keyring.empty() ? "default" : decision.keyring;
    exec_observer_({pid, view.st.st_dev, view.st.st_ino, view.path, decision.appraise, decision.appraise, keyring});
  }
  offer_to_kernel_cache(fd, view, Verdict::allow, true);
  return answered();
}

Verdict IntegrityEngine::decide(int fd, pid_t pid, uint64_t fanotify_mask) {
  stats_.decisions.fetch_add(1, std::memory_order_relaxed);
  EventView view;
  if (!classify(fd, pid, fanotify_mask, /*may_read_content=*/true, view)) return Verdict::allow;
  arm_exec_guard(fd, pid, view);
  const Ruleset& rules_ref = *view.rules;
  const auto* rules = &rules_ref;
  const struct stat& st = view.st;
  Subject& subject = view.subject;
  std::string& path = view.path;
  const ima::AccessContext& access = view.access;
  const ima::PolicyDecision& decision = view.decision;
  if (!decision.measure && !decision.appraise && !decision.audit) {
    offer_to_kernel_cache(fd, view, Verdict::allow, false);
    return Verdict::allow;
  }

  const FileVersion version = FileVersion::of(st);
  // The path costs a readlink; only records and new measurements need it.
  auto ensure_path = [&]() -> const std::string& {
    if (path.empty()) path = fd_path(fd);
    return path;
  };
  Verdict verdict = Verdict::allow;
  bool appraisal_passed = false;
  if (decision.appraise) {
    const uint32_t profile = appraisal_profile(decision);
    const uint64_t epoch = cache_.epoch();
    std::optional<Appraisal> cached = cache_.find(version, profile);
    std::string reason;
    Appraisal appraisal;
    bool cacheable = true;
    if (cached) {
      appraisal = *cached;
      stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
    } else if (access.func == ima::PolicyFunc::file_check && st.st_size == 0) {
      // A new (or emptied) file has no content to protect; the kernel lets IMA_NEW_FILE through too.
      appraisal.passed = true;
      appraisal.status = ima::VerifyStatus::ok;
      cacheable = false;
    } else {
      appraisal = appraise(fd, *rules, decision, reason);
      // What was hashed must be what runs: a writer that slipped in during hashing changed
      // ctime or size, and then the verdict is void.
      struct stat after {};
      if (::fstat(fd, &after) != 0 || !(FileVersion::of(after) == version)) {
        appraisal.passed = false;
        appraisal.cause = Cause::invalid_hash;
        appraisal.status = ima::VerifyStatus::hash_mismatch;
        reason = "file changed while it was being appraised";
        cacheable = false;
      }
    }
    bool fixed = false;
    if (!appraisal.passed && config_.mode == Mode::fix && appraisal.cause == Cause::missing_hash) {
      thread_local crypto::Hasher hasher;
      if (auto digest = hasher.of_fd(config_.hash, fd)) {
        const auto value = ima::encode_digest(*digest);
        fixed = ::fsetxattr(fd, ima::kImaXattrName, value.data(), value.size(), 0) == 0;
        if (fixed) stats_.fixed.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (!cached && !fixed && cacheable) cache_.store(version, profile, appraisal, epoch);
    appraisal_passed = appraisal.passed && cacheable;
    if (!appraisal.passed) {
      stats_.appraisal_failures.fetch_add(1, std::memory_order_relaxed);
      if (config_.mode == Mode::enforce) verdict = Verdict::deny;
    }
    // Every failure is recorded, every time; a pass once per file version.
    if (!appraisal.passed || !cached) {
      if (!subject.known) subject = read_subject(pid);
      nlohmann::json record = {
          {"event", "appraisal"},
          {"verdict", verdict == Verdict::allow ? "allow" : "deny"},
          {"mode", mode_name(config_.mode)},
          {"result", appraisal.passed ? "pass" : fixed ? "fixed" : "fail"},
          {"func", func_text(access.func)},
          {"rule_line", decision.appraise_line},
          {"pid", pid},
          {"uid", subject.uid},
          {"euid", subject.euid},
          {"comm", subject.comm},
          {"path", ensure_path()},
          {"device", version.device},
          {"inode", version.inode},
          {"status", ima::status_name(appraisal.status)},
          {"cached", cached.has_value()},
      };
      if (!appraisal.passed) record["cause"] = cause_name(appraisal.cause);
      if (!reason.empty()) record["reason"] = reason;
      if (appraisal.keyid != 0) record["keyid"] = ima::keyid_hex(appraisal.keyid);
      if (!decision.keyring.empty()) record["keyring"] = decision.keyring;
      audit_.record(std::move(record));
    }
  }
  if (exec_observer_ && access.func == ima::PolicyFunc::bprm_check) {
    const std::string keyring = decision.keyring.empty() ? "default" : decision.keyring;
    exec_observer_({pid, st.st_dev, st.st_ino, ensure_path(), decision.appraise, appraisal_passed, keyring});
  }
  if (decision.measure && cache_.claim_measurement(version, decision.template_name, decision.pcr)) {
    // The verdict travels with the entry to the console; unappraised files have none.
    measure(fd, version, decision, ensure_path(), pid,
            decision.appraise ? (verdict == Verdict::allow ? "allow" : "deny") : "");
  }
  if (decision.audit && cache_.claim_measurement(version, decision.template_name, 0xff)) {
    thread_local crypto::Hasher hasher;
    auto digest = hasher.of_fd(config_.hash, fd);
    if (!subject.known) subject = read_subject(pid);
    audit_.record({{"event", "audit"}, {"func", func_text(access.func)}, {"path", ensure_path()}, {"pid", pid},
                   {"uid", subject.uid}, {"comm", subject.comm},
                   {"hash", digest ? std::string(crypto::hash_name(config_.hash)) + ":" + digest->hex() : ""}});
  }
  offer_to_kernel_cache(fd, view, verdict, appraisal_passed);
  return verdict;
}

}  // namespace vigil::agent
