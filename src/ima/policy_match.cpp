// Evaluating a parsed IMA policy against one access, and the path= glob.
#include "ima/policy.h"

namespace vigil::ima {
namespace {

constexpr size_t npos = std::string_view::npos;

// One past the ']' closing the class that opens at glob[open] == '[', or npos if unclosed
// (then the '[' is literal). A ']' right after "[", "[!" or "[^" is a member, not the end.
size_t class_end(std::string_view glob, size_t open) {
  size_t i = open + 1;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) ++i;
  if (i < glob.size() && glob[i] == ']') ++i;
  while (i < glob.size() && glob[i] != ']') ++i;
  return i < glob.size() ? i + 1 : npos;
}

// Whether c is in the class glob[open, end) (end is one past its ']').
bool class_contains(std::string_view glob, size_t open, size_t end, char c) {
  size_t i = open + 1;
  const size_t last = end - 1;  // the closing ']'
  bool negate = false;
  if (glob[i] == '!' || glob[i] == '^') {
    negate = true;
    ++i;
  }
  const auto value = static_cast<unsigned char>(c);
  bool found = false;
  while (i < last) {
    const auto low = static_cast<unsigned char>(glob[i]);
    if (i + 2 < last && glob[i + 1] == '-') {
      const auto high = static_cast<unsigned char>(glob[i + 2]);
      if (value >= low && value <= high) found = true;
      i += 3;
    } else {
      if (value == low) found = true;
      ++i;
    }
  }
  return found != negate;
}

bool id_matches(const std::optional<IdCondition>& condition, uint32_t id) {
  return !condition || condition->matches(id);
}

bool rule_matches(const PolicyRule& rule, const AccessContext& access) {
  if (rule.inert) return false;
  if (rule.func && *rule.func != access.func) return false;
  if (rule.mask) {
    if (rule.mask_any ? (*rule.mask & access.mask) == 0 : *rule.mask != access.mask) return false;
  }
  if (!id_matches(rule.uid, access.uid) || !id_matches(rule.euid, access.euid) ||
      !id_matches(rule.gid, access.gid) || !id_matches(rule.egid, access.egid) ||
      !id_matches(rule.fowner, access.fowner) || !id_matches(rule.fgroup, access.fgroup)) {
    return false;
  }
  if (rule.fsmagic && *rule.fsmagic != access.fsmagic) return false;
  if (rule.fsuuid && (!access.fsuuid || *rule.fsuuid != *access.fsuuid)) return false;
  if (rule.fsname && *rule.fsname != access.fsname) return false;
  if (rule.path_glob) {
    if (access.path_unknown) {
      const bool removes_checks = rule.action == PolicyAction::dont_measure ||
                                  rule.action == PolicyAction::dont_appraise || rule.action == PolicyAction::dont_hash;
      if (removes_checks) return false;
    } else if (!path_glob_matches(*rule.path_glob, access.path)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool IdCondition::matches(uint32_t id) const {
  switch (op) {
    case IdOp::equal: return id == value;
    case IdOp::less: return id < value;
    case IdOp::greater: return id > value;
  }
  return false;
}

// Two pointers with one backtrack point per star kind. Every glob element except '**' and a
// literal '/' matches only non-'/' bytes, so between two '**' the glob's '/'s line up with the
// path's: a '*' that would have to swallow a '/' can never help, and the walk falls back to
// the last '**' (whose latest choice is the only one worth revisiting). O(|glob| * |path|).
bool path_glob_matches(std::string_view glob, std::string_view path) {
  size_t g = 0;
  size_t p = 0;
  size_t star_g = npos;  // glob index just after the last '*' (npos: none since the last '**')
  size_t star_p = 0;     // path index where that '*' stops swallowing
  size_t double_g = npos;
  size_t double_p = 0;
  while (p < path.size()) {
    if (g < glob.size()) {
      const char c = glob[g];
      if (c == '*') {
        size_t run = g;
        while (run < glob.size() && glob[run] == '*') ++run;
        if (run - g >= 2) {
          double_g = run;
          double_p = p;
          star_g = npos;
        } else {
          star_g = run;
          star_p = p;
        }
        g = run;
        continue;
      }
      if (c == '?') {
        if (path[p] != '/') {
          ++g;
          ++p;
          continue;
        }
      } else if (c == '[') {
        if (const size_t end = class_end(glob, g); end != npos) {
          if (path[p] != '/' && class_contains(glob, g, end, path[p])) {
            g = end;
            ++p;
            continue;
          }
        } else if (path[p] == '[') {
          ++g;
          ++p;
          continue;
        }
      } else if (c == path[p]) {
        ++g;
        ++p;
        continue;
      }
    }
    if (star_g != npos && path[star_p] != '/') {
      p = ++star_p;
      g = star_g;
    } else if (double_g != npos) {
      p = ++double_p;
      g = double_g;
      star_g = npos;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

PolicyDecision evaluate_policy(const Policy& policy, const AccessContext& access) {
  PolicyDecision decision;
  bool measure_settled = false;
  bool appraise_settled = false;
  bool audit_settled = false;
  bool hash_settled = false;
  for (const auto& rule : policy.rules) {
    if (measure_settled && appraise_settled && audit_settled && hash_settled) break;
    switch (rule.action) {
      case PolicyAction::measure:
      case PolicyAction::dont_measure:
        if (measure_settled || !rule_matches(rule, access)) continue;
        measure_settled = true;
        decision.measure_line = rule.line;
        decision.measure = rule.action == PolicyAction::measure;
        if (decision.measure) {
          if (rule.template_name) decision.template_name = *rule.template_name;
          if (rule.pcr) decision.pcr = *rule.pcr;
        }
        break;
      case PolicyAction::appraise:
      case PolicyAction::dont_appraise:
        if (appraise_settled || !rule_matches(rule, access)) continue;
        appraise_settled = true;
        decision.appraise_line = rule.line;
        decision.appraise = rule.action == PolicyAction::appraise;
        if (decision.appraise) {
          decision.require_signature = rule.appraise_imasig;
          if (rule.keyring) decision.keyring = *rule.keyring;
        }
        break;
      case PolicyAction::audit:
        if (audit_settled || !rule_matches(rule, access)) continue;
        audit_settled = true;
        decision.audit = true;
        break;
      case PolicyAction::hash:
      case PolicyAction::dont_hash:
        if (hash_settled || !rule_matches(rule, access)) continue;
        hash_settled = true;
        break;
    }
  }
  return decision;
}

}  // namespace vigil::ima
