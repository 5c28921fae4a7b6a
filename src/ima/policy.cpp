// Parser of the kernel's IMA policy language (Documentation/ABI/testing/ima_policy) with
// vigil's path= and keyring= extensions. Untrusted text: every problem becomes a diagnostic
// naming its line; nothing throws, nothing aborts, work is bounded by the size limits below.
#include "ima/policy.h"

#include <bitset>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/path_text.h"

namespace vigil::ima {
namespace {

constexpr size_t kMaxLineBytes = 4096;
constexpr size_t kMaxPolicyBytes = 1024 * 1024;
constexpr size_t kMaxDiagnostics = 1000;  // of each kind per file; then one "too many" note
constexpr size_t kMaxShownToken = 80;
constexpr uint32_t kMaxId = 4294967294u;  // (uid_t)-1 is the kernel's INVALID_UID
constexpr uint32_t kMaxPcr = 23;

// A token as it may appear in a message: printable (no forged lines), and not too long.
std::string shown(std::string_view token) {
  if (token.size() > kMaxShownToken) return printable_path(token.substr(0, kMaxShownToken)) + "...";
  return printable_path(token);
}

std::string quoted(std::string_view token) { return "'" + shown(token) + "'"; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ActionInfo {
  std::string_view name;
  PolicyAction action;
};
constexpr ActionInfo kActions[] = {
    {"measure", PolicyAction::measure},   {"dont_measure", PolicyAction::dont_measure},
    {"appraise", PolicyAction::appraise}, {"dont_appraise", PolicyAction::dont_appraise},
    {"audit", PolicyAction::audit},       {"hash", PolicyAction::hash},
    {"dont_hash", PolicyAction::dont_hash},
};

std::optional<PolicyAction> action_from_name(std::string_view name) {
  for (const auto& info : kActions) {
    if (info.name == name) return info.action;
  }
  return std::nullopt;
}

struct FuncInfo {
  std::string_view name;
  PolicyFunc func;
};
// FILE_MMAP and PATH_CHECK are the kernel's older spellings of MMAP_CHECK and FILE_CHECK.
constexpr FuncInfo kFuncs[] = {
    {"BPRM_CHECK", PolicyFunc::bprm_check},
    {"FILE_CHECK", PolicyFunc::file_check},
    {"PATH_CHECK", PolicyFunc::file_check},
    {"MMAP_CHECK", PolicyFunc::mmap_check},
    {"FILE_MMAP", PolicyFunc::mmap_check},
    {"MMAP_CHECK_REQPROT", PolicyFunc::other},
    {"CREDS_CHECK", PolicyFunc::other},
    {"MODULE_CHECK", PolicyFunc::other},
    {"FIRMWARE_CHECK", PolicyFunc::other},
    {"KEXEC_KERNEL_CHECK", PolicyFunc::other},
    {"KEXEC_INITRAMFS_CHECK", PolicyFunc::other},
    {"KEXEC_CMDLINE", PolicyFunc::other},
    {"POLICY_CHECK", PolicyFunc::other},
    {"KEY_CHECK", PolicyFunc::other},
    {"CRITICAL_DATA", PolicyFunc::other},
    {"SETXATTR_CHECK", PolicyFunc::other},
};

struct MaskInfo {
  std::string_view name;
  uint32_t bit;
};
constexpr MaskInfo kMasks[] = {
    {"MAY_EXEC", kMayExec}, {"MAY_WRITE", kMayWrite}, {"MAY_READ", kMayRead}, {"MAY_APPEND", kMayAppend}};

// Every condition and option a rule may carry, each at most once.
enum class Key : uint8_t {
  func, mask, uid, euid, gid, egid, fowner, fgroup, fsmagic, fsuuid, fsname, fs_subtype,
  subj_user, subj_role, subj_type, obj_user, obj_role, obj_type,
  path, keyring,
  appraise_type, appraise_flag, appraise_algos, template_name, pcr, keyrings, label, digest_type,
  permit_directio,
  count
};

struct KeyInfo {
  std::string_view name;
  Key key;
};
constexpr KeyInfo kKeys[] = {
    {"func", Key::func},
    {"mask", Key::mask},
    {"uid", Key::uid},
    {"euid", Key::euid},
    {"gid", Key::gid},
    {"egid", Key::egid},
    {"fowner", Key::fowner},
    {"fgroup", Key::fgroup},
    {"fsmagic", Key::fsmagic},
    {"fsuuid", Key::fsuuid},
    {"fsname", Key::fsname},
    {"fs_subtype", Key::fs_subtype},
    {"subj_user", Key::subj_user},
    {"subj_role", Key::subj_role},
    {"subj_type", Key::subj_type},
    {"obj_user", Key::obj_user},
    {"obj_role", Key::obj_role},
    {"obj_type", Key::obj_type},
    {"path", Key::path},
    {"keyring", Key::keyring},
    {"appraise_type", Key::appraise_type},
    {"appraise_flag", Key::appraise_flag},
    {"appraise_algos", Key::appraise_algos},
    {"template", Key::template_name},
    {"pcr", Key::pcr},
    {"keyrings", Key::keyrings},
    {"label", Key::label},
    {"digest_type", Key::digest_type},
    {"permit_directio", Key::permit_directio},
};

std::optional<Key> key_from_name(std::string_view name) {
  for (const auto& info : kKeys) {
    if (info.name == name) return info.key;
  }
  return std::nullopt;
}

bool is_id_key(Key key) {
  return key == Key::uid || key == Key::euid || key == Key::gid || key == Key::egid || key == Key::fowner ||
         key == Key::fgroup;
}

bool is_lsm_key(Key key) {
  return key == Key::subj_user || key == Key::subj_role || key == Key::subj_type || key == Key::obj_user ||
         key == Key::obj_role || key == Key::obj_type;
}

std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return std::nullopt;
  return static_cast<uint32_t>(value);
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// The kernel reads fsmagic with kstrtoul(..., 16): hex digits, an optional 0x prefix.
std::optional<uint64_t> parse_hex64(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    const int digit = hex_value(c);
    if (digit < 0) return std::nullopt;
    if (value > (UINT64_MAX >> 4)) return std::nullopt;  // would overflow
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

// 8-4-4-4-12 hex digits, as the kernel's uuid_parse.
std::optional<std::array<uint8_t, 16>> parse_uuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::array<uint8_t, 16> uuid{};
  size_t out = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int high = hex_value(text[i]);
    const int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    uuid[out++] = static_cast<uint8_t>(high << 4 | low);
    i += 2;
  }
  return uuid;
}

bool valid_keyring_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Every '[' must open a class closed by ']' (a ']' right after "[", "[!" or "[^" is literal).
bool brackets_closed(std::string_view glob) {
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] != '[') continue;
    size_t j = i + 1;
    if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
    if (j < glob.size() && glob[j] == ']') ++j;
    while (j < glob.size() && glob[j] != ']') ++j;
    if (j >= glob.size()) return false;
    i = j;
  }
  return true;
}

class Parser {
 public:
  Parser(PolicyParse& out, const std::string& file) : out_(out), file_(file) {}

  void error(int line, std::string message) {
    ++line_errors_;
    add(out_.errors, line, std::move(message), "too many errors; the rest are not reported");
  }

  void warning(int line, std::string message) {
    add(out_.warnings, line, std::move(message), "too many warnings; the rest are not reported");
  }

  void parse_line(std::string_view text, int line) {
    size_t start = 0;
    while (start < text.size() && is_space(text[start])) ++start;
    if (start == text.size() || text[start] == '#') return;
    if (text.size() > kMaxLineBytes) {
      error(line, "line is longer than " + std::to_string(kMaxLineBytes) + " bytes");
      return;
    }
    line_errors_ = 0;
    line_ = line;
    seen_.reset();
    has_keyrings_ = false;
    has_label_ = false;

    std::string_view rest = text.substr(start);
    const std::string_view first = next_token(rest);
    const auto action = action_from_name(first);
    if (!action) {
      error(line, "unknown action " + quoted(first) +
                      " (measure, dont_measure, appraise, dont_appraise, audit, hash, dont_hash)");
      return;
    }
    PolicyRule rule;
    rule.action = *action;
    rule.line = line;
    for (std::string_view token = next_token(rest); !token.empty(); token = next_token(rest)) {
      if (token[0] == '#') {
        error(line, "'#' starts a comment only at the start of a line");
        break;
      }
      parse_token(rule, token);
    }
    if (has_keyrings_ && rule.func_name != "KEY_CHECK") {
      error(line, "keyrings= is only valid with func=KEY_CHECK");
    }
    if (has_label_ && rule.func_name != "CRITICAL_DATA") {
      error(line, "label= is only valid with func=CRITICAL_DATA");
    }
    if (line_errors_ == 0) out_.policy.rules.push_back(std::move(rule));
  }

 private:
  static std::string_view next_token(std::string_view& rest) {
    size_t begin = 0;
    while (begin < rest.size() && is_space(rest[begin])) ++begin;
    size_t end = begin;
    while (end < rest.size() && !is_space(rest[end])) ++end;
    const std::string_view token = rest.substr(begin, end - begin);
    rest.remove_prefix(end);
    return token;
  }

  void add(std::vector<PolicyDiagnostic>& list, int line, std::string message, const char* overflow) {
    if (list.size() < kMaxDiagnostics) {
      list.push_back(PolicyDiagnostic{file_, line, std::move(message)});
    } else if (list.size() == kMaxDiagnostics) {
      list.push_back(PolicyDiagnostic{file_, line, overflow});
    }
  }

  void make_inert(PolicyRule& rule, std::string message) {
    rule.inert = true;
    warning(line_, std::move(message));
  }

  // Options that only make sense on some actions; the kernel rejects them elsewhere.
  bool allowed_on(Key key, PolicyAction action) {
    switch (key) {
      case Key::appraise_type:
      case Key::appraise_flag:
      case Key::appraise_algos:
      case Key::keyring:
        return action == PolicyAction::appraise;
      case Key::template_name:
      case Key::pcr:
      case Key::keyrings:
      case Key::label:
        return action == PolicyAction::measure;
      case Key::digest_type:
        return action == PolicyAction::measure || action == PolicyAction::appraise;
      default:
        return true;
    }
  }

  static std::string_view allowed_text(Key key) {
    switch (key) {
      case Key::appraise_type:
      case Key::appraise_flag:
      case Key::appraise_algos:
      case Key::keyring:
        return "appraise rules";
      case Key::digest_type:
        return "measure and appraise rules";
      default:
        return "measure rules";
    }
  }

  void parse_token(PolicyRule& rule, std::string_view token) {
    const int line = line_;
    const size_t op_at = token.find_first_of("=<>");
    if (op_at == std::string_view::npos) {
      if (token == "permit_directio") {
        if (seen_[static_cast<size_t>(Key::permit_directio)]) {
          error(line, "duplicate 'permit_directio' in rule");
          return;
        }
        seen_.set(static_cast<size_t>(Key::permit_directio));
        warning(line, "permit_directio does not apply to user space; ignored");
      } else if (action_from_name(token)) {
        error(line, "more than one action in a rule (" + quoted(token) + ")");
      } else if (key_from_name(token)) {
        error(line, quoted(token) + " needs a value (" + shown(token) + "=...)");
      } else {
        error(line, "unknown condition or option " + quoted(token));
      }
      return;
    }
    const std::string_view name = token.substr(0, op_at);
    const char op = token[op_at];
    const std::string_view value = token.substr(op_at + 1);
    const auto key = key_from_name(name);
    if (!key) {
      error(line, "unknown condition or option " + quoted(name));
      return;
    }
    if (*key == Key::permit_directio) {
      error(line, "permit_directio takes no value");
      return;
    }
    if (op != '=' && !is_id_key(*key)) {
      error(line, quoted(name) + " takes '=', not '" + std::string(1, op) +
                      "' (only uid, euid, gid, egid, fowner and fgroup take < and >)");
      return;
    }
    const auto index = static_cast<size_t>(*key);
    if (seen_[index]) {
      error(line, "duplicate " + quoted(name) + " in rule");
      return;
    }
    seen_.set(index);
    if (value.empty()) {
      error(line, "empty value for " + quoted(name));
      return;
    }
    if (!allowed_on(*key, rule.action)) {
      error(line, shown(name) + "= is only valid on " + std::string(allowed_text(*key)));
      return;
    }
    if (is_id_key(*key)) {
      parse_id(rule, *key, name, op, value);
    } else if (is_lsm_key(*key)) {
      make_inert(rule, shown(name) + "= needs LSM labels, which vigil does not evaluate; rule never matches");
    } else {
      parse_value(rule, *key, name, value);
    }
  }

  void parse_id(PolicyRule& rule, Key key, std::string_view name, char op, std::string_view value) {
    const auto number = parse_decimal(value, kMaxId);
    if (!number) {
      if (all_digits(value)) {
        error(line_, shown(name) + std::string(1, op) + shown(value) + " is out of range (0.." + std::to_string(kMaxId) +
                         ")");
      } else {
        error(line_, shown(name) + std::string(1, op) + " needs a decimal number, got " + quoted(value));
      }
      return;
    }
    IdCondition condition;
    condition.op = op == '<' ? IdOp::less : op == '>' ? IdOp::greater : IdOp::equal;
    condition.value = *number;
    switch (key) {
      case Key::uid: rule.uid = condition; break;
      case Key::euid: rule.euid = condition; break;
      case Key::gid: rule.gid = condition; break;
      case Key::egid: rule.egid = condition; break;
      case Key::fowner: rule.fowner = condition; break;
      default: rule.fgroup = condition; break;
    }
  }

  void parse_value(PolicyRule& rule, Key key, std::string_view name, std::string_view value) {
    const int line = line_;
    switch (key) {
      case Key::func: {
        for (const auto& info : kFuncs) {
          if (info.name != value) continue;
          rule.func = info.func;
          rule.func_name = std::string(value);
          if (info.func == PolicyFunc::other) {
            make_inert(rule, "func=" + shown(value) + " has no user-space hook; rule never matches");
          }
          return;
        }
        error(line, "unknown func " + quoted(value));
        return;
      }
      case Key::mask: {
        std::string_view bits = value;
        const bool any = bits[0] == '^';
        if (any) bits.remove_prefix(1);
        for (const auto& info : kMasks) {
          if (info.name != bits) continue;
          rule.mask = info.bit;
          rule.mask_any = any;
          return;
        }
        error(line, "unknown mask " + quoted(value) + " (one of MAY_EXEC, MAY_WRITE, MAY_READ, MAY_APPEND, " +
                        "optionally with a ^ prefix)");
        return;
      }
      case Key::fsmagic: {
        if (auto magic = parse_hex64(value)) {
          rule.fsmagic = *magic;
        } else {
          error(line, "fsmagic= needs a hexadecimal number (64 bits at most), got " + quoted(value));
        }
        return;
      }
      case Key::fsuuid: {
        if (auto uuid = parse_uuid(value)) {
          rule.fsuuid = *uuid;
        } else {
          error(line, "fsuuid= needs a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got " + quoted(value));
        }
        return;
      }
      case Key::fsname:
        rule.fsname = std::string(value);
        return;
      case Key::fs_subtype:
        make_inert(rule, "fs_subtype= is not evaluated by vigil; rule never matches");
        return;
      case Key::path: {
        if (value[0] != '/') {
          error(line, "path= must be an absolute glob starting with '/', got " + quoted(value));
        } else if (!brackets_closed(value)) {
          error(line, "path= has a '[' without its closing ']': " + quoted(value));
        } else {
          rule.path_glob = std::string(value);
        }
        return;
      }
      case Key::keyring: {
        if (valid_keyring_name(value)) {
          rule.keyring = std::string(value);
        } else {
          error(line, "keyring= needs a name of letters, digits, '_', '.' and '-', got " + quoted(value));
        }
        return;
      }
      case Key::appraise_type: {
        if (value == "imasig") {
          rule.appraise_imasig = true;
        } else if (value == "imasig|modsig") {
          rule.appraise_imasig = true;
          warning(line, "modsig (appended signatures) does not apply to the files vigil appraises; "
                        "treated as appraise_type=imasig");
        } else if (value == "sigv3") {
          make_inert(rule, "appraise_type=sigv3 (signature format v3) is not supported; rule never matches");
        } else {
          error(line, "unknown appraise_type " + quoted(value) + " (imasig, imasig|modsig, sigv3)");
        }
        return;
      }
      case Key::appraise_flag: {
        if (value == "check_blacklist") {
          warning(line, "appraise_flag=check_blacklist is deprecated and ignored");
        } else {
          error(line, "unknown appraise_flag " + quoted(value) + " (check_blacklist)");
        }
        return;
      }
      case Key::appraise_algos: {
        std::string_view rest = value;
        while (true) {
          const size_t comma = rest.find(',');
          const std::string_view algo = rest.substr(0, comma);
          if (!crypto::hash_from_name(algo)) {
            error(line, "appraise_algos= names an unknown hash algorithm " + quoted(algo));
            return;
          }
          if (comma == std::string_view::npos) break;
          rest.remove_prefix(comma + 1);
        }
        warning(line, "appraise_algos= is not enforced by vigil; ignored");
        return;
      }
      case Key::template_name: {
        if (auto name_value = template_name_from_text(value)) {
          rule.template_name = *name_value;
        } else {
          error(line, "unknown template " + quoted(value) + " (ima, ima-ng, ima-sig)");
        }
        return;
      }
      case Key::pcr: {
        if (auto pcr = parse_decimal(value, kMaxPcr)) {
          rule.pcr = *pcr;
        } else {
          error(line, "pcr= needs a PCR index 0.." + std::to_string(kMaxPcr) + ", got " + quoted(value));
        }
        return;
      }
      case Key::keyrings:  // checked against func= once the whole rule is read; the rule is inert by its func
        has_keyrings_ = true;
        return;
      case Key::label:
        has_label_ = true;
        return;
      case Key::digest_type: {
        if (value == "verity") {
          make_inert(rule, "digest_type=verity (fs-verity digests) is not supported; rule never matches");
        } else {
          error(line, "unknown digest_type " + quoted(value) + " (verity)");
        }
        return;
      }
      default:
        error(line, "unknown condition or option " + quoted(name));
        return;
    }
  }

  PolicyParse& out_;
  const std::string& file_;
  int line_ = 0;
  size_t line_errors_ = 0;
  std::bitset<static_cast<size_t>(Key::count)> seen_;
  bool has_keyrings_ = false;  // a well-placed keyrings= (measure rule) waiting for its func check
  bool has_label_ = false;
};

std::unexpected<Error> fail_with_errno() {
  const int saved = errno;
  return fail(std::strerror(saved), saved);
}

// The text of a regular file, at most kMaxPolicyBytes + 1 bytes; errors name no path.
Result<std::string> read_text(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail_with_errno();
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto failure = fail_with_errno();
    ::close(fd);
    return failure;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
  }
  std::string text;
  char buffer[16384];
  while (text.size() <= kMaxPolicyBytes) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      auto failure = fail_with_errno();
      ::close(fd);
      return failure;
    }
    if (got == 0) break;
    text.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  if (text.size() > kMaxPolicyBytes + 1) text.resize(kMaxPolicyBytes + 1);
  return text;
}

}  // namespace

std::string PolicyDiagnostic::text() const {
  if (line <= 0) return printable_path(file) + ": " + message;
  return printable_path(file) + ":" + std::to_string(line) + ": " + message;
}

PolicyParse parse_policy(std::string_view text, const std::string& filename) {
  PolicyParse out;
  Parser parser(out, filename);
  int line = 0;
  size_t start = 0;
  while (start < text.size()) {
    ++line;
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > kMaxPolicyBytes) {
      parser.error(line, "policy is larger than " + std::to_string(kMaxPolicyBytes) + " bytes; the rest is not read");
      break;
    }
    parser.parse_line(text.substr(start, end - start), line);
    start = end + 1;
  }
  return out;
}

Result<std::string> read_policy_file(const std::string& path) {
  auto text = read_text(path);
  if (!text) return fail(printable_path(path) + ": " + text.error().message, text.error().sys_errno);
  return text;
}

PolicyParse load_policy_file(const std::string& path) {
  auto text = read_text(path);
  if (!text) {
    PolicyParse out;
    out.errors.push_back(PolicyDiagnostic{path, 0, "cannot read: " + text.error().message});
    return out;
  }
  return parse_policy(*text, path);
}

}  // namespace vigil::ima
