#pragma once
// IMA policy in the kernel's language (Documentation/ABI/testing/ima_policy), one rule per
// line, plus two vigil extensions: path=GLOB and keyring=NAME.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "ima/template.h"

namespace vigil::ima {

enum class PolicyAction { measure, dont_measure, appraise, dont_appraise, audit, hash, dont_hash };

// Hooks vigil enforces; every other kernel func= is accepted but inert (never matches).
enum class PolicyFunc { bprm_check, file_check, mmap_check, other };

// Kernel MAY_* values (include/linux/fs.h).
inline constexpr uint32_t kMayExec = 0x1;
inline constexpr uint32_t kMayWrite = 0x2;
inline constexpr uint32_t kMayRead = 0x4;
inline constexpr uint32_t kMayAppend = 0x8;

enum class IdOp { equal, less, greater };
struct IdCondition {
  IdOp op = IdOp::equal;
  uint32_t value = 0;
  bool matches(uint32_t id) const;
};

struct PolicyRule {
  PolicyAction action = PolicyAction::measure;
  int line = 0;                               // 1-based line in the policy file
  std::optional<PolicyFunc> func;
  std::string func_name;                      // as written, for messages ("MODULE_CHECK")
  std::optional<uint32_t> mask;               // MAY_* bits
  bool mask_any = false;                      // "^MAY_READ": any overlap instead of equality
  std::optional<IdCondition> uid, euid, gid, egid, fowner, fgroup;
  std::optional<uint64_t> fsmagic;
  std::optional<std::array<uint8_t, 16>> fsuuid;
  std::optional<std::string> fsname;
  std::optional<std::string> path_glob;       // vigil extension: `*` within a segment, `**` across, `?`, [...]
  std::optional<std::string> keyring;         // vigil extension: name of a keyring from the agent config
  bool appraise_imasig = false;               // appraise_type=imasig: a signature is required (a digest is not enough)
  std::optional<TemplateName> template_name;  // template=
  std::optional<uint32_t> pcr;                // pcr=
  bool inert = false;                         // names a hook or LSM condition vigil does not have: never matches
};

struct PolicyDiagnostic {
  std::string file;
  int line = 0;
  std::string message;
  std::string text() const;  // "file:line: message"
};

struct Policy {
  std::vector<PolicyRule> rules;
};

struct PolicyParse {
  Policy policy;
  std::vector<PolicyDiagnostic> errors;    // any error: the policy must not be used
  std::vector<PolicyDiagnostic> warnings;  // accepted, e.g. inert rules
  bool ok() const { return errors.empty(); }
};

// Never throws or aborts; every problem becomes a diagnostic naming its line.
PolicyParse parse_policy(std::string_view text, const std::string& filename);
PolicyParse load_policy_file(const std::string& path);

// The text of a policy file (regular files only; the kernel's securityfs policy file is one),
// read up to just past the parser's size limit so parse_policy reports an oversized policy.
// load_policy_file turns a failure into an error diagnostic; this lets a caller tell an
// unreadable file from a bad policy.
Result<std::string> read_policy_file(const std::string& path);

// What one access looks like to the policy.
struct AccessContext {
  PolicyFunc func = PolicyFunc::file_check;
  uint32_t mask = kMayRead;  // requested MAY_* bits
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
  uint32_t fowner = 0, fgroup = 0;
  uint64_t fsmagic = 0;
  std::optional<std::array<uint8_t, 16>> fsuuid;
  std::string_view fsname;
  std::string_view path;
  // The kernel could not name the file (e.g. a path longer than a page): a path= rule that
  // adds checks then applies, one that removes checks (dont_*) does not. Never a bypass.
  bool path_unknown = false;
};

struct PolicyDecision {
  bool measure = false;
  bool appraise = false;
  bool audit = false;
  bool require_signature = false;  // from the appraise rule's appraise_type=imasig
  TemplateName template_name = TemplateName::ima_ng;
  uint32_t pcr = 10;
  std::string keyring;             // empty: the default keyring
  int measure_line = 0;            // rule that settled measuring (0: none matched)
  int appraise_line = 0;           // rule that settled appraising
};

// As the kernel: rules in order; the first matching rule of each action kind (measure or
// dont_measure; appraise or dont_appraise; audit; hash or dont_hash) settles that kind.
PolicyDecision evaluate_policy(const Policy& policy, const AccessContext& access);

// The glob used by path=; exposed for tests.
bool path_glob_matches(std::string_view glob, std::string_view path);

}  // namespace vigil::ima
