#include "agent/integrity_engine.h"

#include <cerrno>
#include <cstring>

#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/content_hasher.h"
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

// The word a listener slot carries for an event that owes a measurement: bit 63, then the
// template (bits 8-15) and PCR (bits 0-7); 0 owes nothing.
constexpr uint64_t kOwesMeasurement = uint64_t{1} << 63;

uint64_t owed_measurement(const ima::PolicyDecision& decision) {
  if (!decision.measure) return 0;
  return kOwesMeasurement | static_cast<uint64_t>(decision.template_name) << 8 | (decision.pcr & 0xff);
}

std::string unfinished_reason(std::string_view why) {
  if (why == "deadline") return "allowed when the deadline passed, before it was measured";
  if (why == "queue-full") return "allowed unmeasured: every decision slot was busy";
  if (why == "uid-share") return "allowed unmeasured: its user already held its share of decision slots";
  if (why == "stopping") return "allowed unmeasured while the agent stopped";
  return "allowed before it was measured (" + std::string(why) + ")";
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

crypto::HashAlgo IntegrityEngine::measurement_algo(ima::TemplateName template_name) const {
  return template_name == ima::TemplateName::ima ? crypto::HashAlgo::sha1 : config_.hash;
}

void IntegrityEngine::measure(const crypto::Digest& digest, const FileVersion& version,
                              const ima::PolicyDecision& decision, const std::string& path,
                              std::vector<uint8_t> signature, pid_t pid, std::string_view verdict) {
  ima::MeasurementEntry entry;
  entry.pcr = decision.pcr;
  entry.template_name = decision.template_name;
  entry.path = path;
  entry.file_digest = digest;
  if (decision.template_name == ima::TemplateName::ima_sig) entry.signature = std::move(signature);
  std::string extend_error;
  const Result<void> recorded = sink_.record(std::move(entry), &extend_error, verdict);
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

void IntegrityEngine::record_violation(const std::string& path, ima::TemplateName template_name, uint32_t pcr,
                                       pid_t pid, std::string_view reason) {
  // As the kernel's ima_add_violation(): the template's fields with a zero digest, a zero
  // template hash in the list, and 0xff..ff extended into every bank (MeasurementSink).
  ima::MeasurementEntry entry;
  entry.pcr = pcr;
  entry.template_name = template_name;
  entry.path = path;
  entry.violation = true;
  entry.file_digest.algo = measurement_algo(template_name);
  entry.file_digest.size = static_cast<uint8_t>(crypto::hash_size(entry.file_digest.algo));
  std::string extend_error;
  const Result<void> recorded = sink_.record(std::move(entry), &extend_error, "");
  if (!recorded) {
    stats_.measurement_failures.fetch_add(1, std::memory_order_relaxed);
    audit_.record({{"event", "measurement-failure"}, {"path", path}, {"pid", pid},
                   {"reason", "violation not recorded: " + recorded.error().message}});
    return;
  }
  stats_.violations.fetch_add(1, std::memory_order_relaxed);
  if (!extend_error.empty()) {
    stats_.measurement_failures.fetch_add(1, std::memory_order_relaxed);
    audit_.record({{"event", "pcr-extend-failure"}, {"path", path}, {"pid", pid}, {"pcr", pcr},
                   {"reason", extend_error}});
  }
  audit_.record({{"event", "measurement-violation"}, {"path", path}, {"pid", pid}, {"pcr", pcr},
                 {"reason", std::string(reason)}});
}

void IntegrityEngine::record_unfinished_allow(int fd, pid_t pid, uint64_t owed, std::string_view why) {
  if ((owed & kOwesMeasurement) == 0) return;
  const auto template_name = static_cast<ima::TemplateName>((owed >> 8) & 0xff);
  const auto pcr = static_cast<uint32_t>(owed & 0xff);
  record_violation(fd_path(fd), template_name, pcr, pid, unfinished_reason(why));
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

FanotifyListener::FastDecision IntegrityEngine::decide_from_cache(int fd, pid_t pid, uint64_t fanotify_mask) {
  auto answered = [this]() -> FanotifyListener::FastDecision {
    stats_.decisions.fetch_add(1, std::memory_order_relaxed);
    stats_.fast_decisions.fetch_add(1, std::memory_order_relaxed);
    return {Verdict::allow, 0};
  };
  EventView view;
  if (!classify(fd, pid, fanotify_mask, /*may_read_content=*/false, view)) return answered();
  if (!view.classified) {
    // An open that MMAP_CHECK covers if the file is an ELF object, which only a worker reads.
    // Until it knows, the event owes what either check would measure.
    ima::AccessContext access = view.access;
    access.func = ima::PolicyFunc::mmap_check;
    access.mask = ima::kMayExec;
    ima::PolicyDecision decision = ima::evaluate_policy(view.rules->policy, access);
    if (!decision.measure && view.rules->has_file_rules) {
      access.func = ima::PolicyFunc::file_check;
      access.mask = ima::kMayRead;
      decision = ima::evaluate_policy(view.rules->policy, access);
    }
    return {std::nullopt, owed_measurement(decision)};
  }
  arm_exec_guard(fd, pid, view);
  const ima::PolicyDecision& decision = view.decision;
  if (!decision.measure && !decision.appraise && !decision.audit) {
    offer_to_kernel_cache(fd, view, Verdict::allow, false);
    return answered();
  }
  const FileVersion version = FileVersion::of(view.st);
  const bool measured = !decision.measure || cache_.is_measured(version, decision.template_name, decision.pcr);
  const uint64_t owed = measured ? 0 : owed_measurement(decision);
  if (decision.audit || !measured) return {std::nullopt, owed};
  if (decision.appraise) {
    // Only passes are answered here; a failure is recorded (I/O) by a worker every time.
    const std::optional<Appraisal> cached = cache_.find(version, appraisal_profile(decision));
    if (!cached || !cached->passed) return {std::nullopt, owed};
    stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
  }
  if (exec_observer_ && view.access.func == ima::PolicyFunc::bprm_check) {
    const std::string keyring = decision.keyring.empty() ? "default" : decision.keyring;
    exec_observer_({pid, view.st.st_dev, view.st.st_ino, view.path, decision.appraise, decision.appraise, keyring});
  }
  offer_to_kernel_cache(fd, view, Verdict::allow, true);
  return answered();
}

std::optional<Verdict> IntegrityEngine::decide(int fd, pid_t pid, uint64_t fanotify_mask, EventTicket& ticket) {
  stats_.decisions.fetch_add(1, std::memory_order_relaxed);
  EventView view;
  if (!classify(fd, pid, fanotify_mask, /*may_read_content=*/true, view)) {
    ticket.owe(0);
    return Verdict::allow;
  }
  arm_exec_guard(fd, pid, view);
  const Ruleset& rules = *view.rules;
  const struct stat& st = view.st;
  Subject& subject = view.subject;
  std::string& path = view.path;
  const ima::AccessContext& access = view.access;
  const ima::PolicyDecision& decision = view.decision;
  if (!decision.measure && !decision.appraise && !decision.audit) {
    ticket.owe(0);
    offer_to_kernel_cache(fd, view, Verdict::allow, false);
    return Verdict::allow;
  }

  const FileVersion version = FileVersion::of(st);
  // The path costs a readlink; only records and new measurements need it.
  auto ensure_path = [&]() -> const std::string& {
    if (path.empty()) path = fd_path(fd);
    return path;
  };

  // What this decision must record: claimed now, so no other worker records it too, and
  // owed to the listener until recorded (an allow without this decision records a violation).
  // While another decision measures this version, wait for its entry: this access may not be
  // allowed before the list has it either.
  bool measuring = false;
  ticket.owe(owed_measurement(decision));
  if (decision.measure) {
    switch (cache_.claim_or_wait(version, decision.template_name, decision.pcr, [&ticket] { return ticket.abandoned(); })) {
      case DecisionCache::Claim::claimed: measuring = true; break;
      case DecisionCache::Claim::recorded: break;
      case DecisionCache::Claim::abandoned: return std::nullopt;
    }
  }
  if (!measuring) ticket.owe(0);
  const bool auditing = decision.audit && cache_.claim_measurement(version, decision.template_name, 0xff);
  const crypto::HashAlgo measured_algo = measurement_algo(decision.template_name);

  // Appraisal's inputs: a cached verdict, or security.ima and the algorithm its check needs.
  // Verdicts that need no content (no value, a digest where a signature is required, a value
  // that does not parse, an empty new file) are settled here.
  const uint32_t profile = appraisal_profile(decision);
  const uint64_t epoch = cache_.epoch();
  std::optional<Appraisal> cached;
  if (decision.appraise) cached = cache_.find(version, profile);
  std::optional<std::vector<uint8_t>> ima_value;
  if ((decision.appraise && !cached) || (measuring && decision.template_name == ima::TemplateName::ima_sig)) {
    ima_value = read_ima_xattr(fd);
  }
  std::optional<Appraisal> settled;
  bool settled_cacheable = true;
  std::string reason;
  std::optional<crypto::HashAlgo> appraisal_algo;
  if (decision.appraise && !cached) {
    if (access.func == ima::PolicyFunc::file_check && st.st_size == 0) {
      // A new (or emptied) file has no content to protect; the kernel lets IMA_NEW_FILE through too.
      settled = Appraisal{true, Cause::none, ima::VerifyStatus::ok, 0};
      settled_cacheable = false;
    } else if (!ima_value) {
      settled = Appraisal{false, decision.require_signature ? Cause::signature_required : Cause::missing_hash,
                          ima::VerifyStatus::no_signature, 0};
      reason = "no security.ima";
    } else if (auto parsed = ima::parse_ima_xattr(*ima_value); !parsed) {
      settled = Appraisal{false, Cause::invalid_xattr, ima::VerifyStatus::malformed, 0};
      reason = parsed.error().message;
    } else if (std::holds_alternative<ima::DigestValue>(*parsed) && decision.require_signature) {
      settled = Appraisal{false, Cause::signature_required, ima::VerifyStatus::no_signature, 0};
      reason = "security.ima holds a digest, the policy requires a signature (appraise_type=imasig)";
    } else {
      const crypto::HashAlgo algo = std::visit([](const auto& value) { return value.algo; }, *parsed);
      // An algorithm OpenSSL lacks is reported by the verifier below ("not supported").
      if (crypto::hash_md(algo) != nullptr) appraisal_algo = algo;
    }
  }
  const bool fixing = settled && !settled->passed && config_.mode == Mode::fix && settled->cause == Cause::missing_hash;

  // One read of the file for every digest the decision needs, up to the size seen at the event.
  std::vector<crypto::HashAlgo> algorithms;
  if (appraisal_algo) algorithms.push_back(*appraisal_algo);
  if (fixing || auditing) algorithms.push_back(config_.hash);
  if (measuring) algorithms.push_back(measured_algo);
  ContentHasher::Digests digests;
  bool changed = false;
  if (!algorithms.empty()) {
    thread_local ContentHasher hasher;
    digests = hasher.hash(fd, static_cast<uint64_t>(st.st_size), algorithms, [&ticket] { return ticket.abandoned(); });
    if (digests.outcome == ContentHasher::Outcome::abandoned) {
      // Answered without this decision (and what it owed recorded then), or the agent stops.
      if (measuring) cache_.release_measurement(version, decision.template_name, decision.pcr);
      if (auditing) cache_.release_measurement(version, decision.template_name, 0xff);
      stats_.abandoned_hashes.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    // What was hashed must be the version that was opened: a writer that slipped in during
    // hashing changed ctime or size, and then no digest of this read stands for anything.
    struct stat after {};
    changed = digests.outcome == ContentHasher::Outcome::shrank || ::fstat(fd, &after) != 0 ||
              !(FileVersion::of(after) == version);
  }

  Verdict verdict = Verdict::allow;
  bool appraisal_passed = false;
  if (decision.appraise) {
    Appraisal appraisal;
    bool cacheable = true;
    if (cached) {
      appraisal = *cached;
      stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
    } else if (settled) {
      appraisal = *settled;
      cacheable = settled_cacheable;
    } else if (changed) {
      appraisal = Appraisal{false, Cause::invalid_hash, ima::VerifyStatus::hash_mismatch, 0};
      reason = "file changed while it was being appraised";
      cacheable = false;
    } else if (appraisal_algo && !digests.of(*appraisal_algo)) {
      appraisal = Appraisal{false, Cause::read_error, ima::VerifyStatus::error, 0};
      reason = digests.error.empty() ? "the file could not be read" : digests.error;
      cacheable = false;
    } else {
      static const ima::Keyring kEmpty;
      const std::string keyring_name = decision.keyring.empty() ? "default" : decision.keyring;
      auto ring = rules.keyrings.find(keyring_name);
      const ima::Keyring& keyring = ring == rules.keyrings.end() ? kEmpty : ring->second;
      // No digest only for an algorithm OpenSSL lacks: the verifier says so.
      const ima::VerifyResult result =
          appraisal_algo ? ima::verify_value_digest(*ima_value, *digests.of(*appraisal_algo), keyring)
                         : ima::verify_value(fd, *ima_value, keyring);
      const bool digest_form = std::holds_alternative<ima::DigestValue>(*ima::parse_ima_xattr(*ima_value));
      appraisal.status = result.status;
      appraisal.passed = result.status == ima::VerifyStatus::ok;
      appraisal.cause = cause_of(result.status, digest_form);
      appraisal.keyid = result.keyid.value_or(0);
      reason = result.reason;
    }
    bool fixed = false;
    if (fixing && !changed) {
      if (const auto digest = digests.of(config_.hash)) {
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
  if (measuring) {
    // Measured from the very bytes that were appraised. Once the event has been answered
    // without this decision, its violation is in the list: record nothing after the fact.
    if (ticket.abandoned()) {
      cache_.release_measurement(version, decision.template_name, decision.pcr);
      if (auditing) cache_.release_measurement(version, decision.template_name, 0xff);
      stats_.abandoned_hashes.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    const std::optional<crypto::Digest> digest = changed ? std::nullopt : digests.of(measured_algo);
    if (digest) {
      // The verdict travels with the entry to the console; unappraised files have none.
      measure(*digest, version, decision, ensure_path(), ima_value.value_or(std::vector<uint8_t>{}), pid,
              decision.appraise ? (verdict == Verdict::allow ? "allow" : "deny") : "");
    } else {
      cache_.release_measurement(version, decision.template_name, decision.pcr);
      // A program that runs without a digest in the list leaves a violation there instead.
      if (verdict == Verdict::allow) {
        record_violation(ensure_path(), decision.template_name, decision.pcr, pid,
                         changed ? "file changed while it was measured"
                                 : "file could not be read: " + (digests.error.empty() ? "unknown error" : digests.error));
      }
    }
    ticket.owe(0);
  }
  if (auditing) {
    const std::optional<crypto::Digest> digest = changed ? std::nullopt : digests.of(config_.hash);
    if (!subject.known) subject = read_subject(pid);
    audit_.record({{"event", "audit"}, {"func", func_text(access.func)}, {"path", ensure_path()}, {"pid", pid},
                   {"uid", subject.uid}, {"comm", subject.comm},
                   {"hash", digest ? std::string(crypto::hash_name(config_.hash)) + ":" + digest->hex() : ""}});
    // Done: from now on the claim may be forgotten at the bound like any measured version.
    cache_.mark_measured(version, decision.template_name, 0xff);
  }
  offer_to_kernel_cache(fd, view, verdict, appraisal_passed);
  return verdict;
}

}  // namespace vigil::agent
