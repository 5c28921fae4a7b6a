// IMA policy files are text an administrator (or anyone who can write the agent's config)
// supplies. The parser must turn every byte string into rules and diagnostics without
// crashing, and what it reports must be self-consistent. An input holding a NUL byte also
// checks the path= glob ("glob\0path") against its plain recursive definition.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ima/policy.h"

namespace {

// The glob's definition, exponential in the worst case: only used on short inputs.
bool reference_match(std::string_view glob, std::string_view path, int& budget) {
  if (--budget < 0) return false;
  if (glob.empty()) return path.empty();
  if (glob[0] == '*') {
    size_t run = 0;
    while (run < glob.size() && glob[run] == '*') ++run;
    for (size_t i = 0; i <= path.size(); ++i) {
      if (reference_match(glob.substr(run), path.substr(i), budget)) return true;
      if (run == 1 && i < path.size() && path[i] == '/') return false;
    }
    return false;
  }
  if (path.empty()) return false;
  if (glob[0] == '?') return path[0] != '/' && reference_match(glob.substr(1), path.substr(1), budget);
  if (glob[0] == '[') {
    size_t i = 1;
    bool negate = false;
    if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) negate = true, ++i;
    const size_t first = i;
    if (i < glob.size() && glob[i] == ']') ++i;
    while (i < glob.size() && glob[i] != ']') ++i;
    if (i < glob.size()) {
      const auto c = static_cast<unsigned char>(path[0]);
      bool found = false;
      for (size_t k = first; k < i; ++k) {
        const auto low = static_cast<unsigned char>(glob[k]);
        if (k + 2 < i && glob[k + 1] == '-') {
          if (c >= low && c <= static_cast<unsigned char>(glob[k + 2])) found = true;
          k += 2;
        } else if (c == low) {
          found = true;
        }
      }
      return path[0] != '/' && found != negate && reference_match(glob.substr(i + 1), path.substr(1), budget);
    }
  }
  return glob[0] == path[0] && reference_match(glob.substr(1), path.substr(1), budget);
}

void check_glob(std::string_view input) {
  const size_t nul = input.find('\0');
  if (nul == std::string_view::npos) return;
  const std::string_view glob = input.substr(0, nul);
  const std::string_view path = input.substr(nul + 1);
  const bool fast = vigil::ima::path_glob_matches(glob, path);
  if (glob.size() > 24 || path.size() > 48) return;
  int budget = 200000;
  const bool slow = reference_match(glob, path, budget);
  if (budget >= 0 && fast != slow) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil::ima;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_glob(input);

  const PolicyParse parsed = parse_policy(input, "fuzz.policy");
  int lines = 1;
  for (char c : input) lines += c == '\n';
  int previous = 0;
  for (const auto& rule : parsed.policy.rules) {
    if (rule.line <= previous || rule.line > lines) std::abort();  // rules keep file order
    previous = rule.line;
    if (rule.func == PolicyFunc::other && !rule.inert) std::abort();
    if (rule.path_glob && (rule.path_glob->empty() || (*rule.path_glob)[0] != '/')) std::abort();
    if (rule.pcr && *rule.pcr > 23) std::abort();
    if (rule.appraise_imasig && rule.action != PolicyAction::appraise) std::abort();
    if (rule.keyring && rule.action != PolicyAction::appraise) std::abort();
    if ((rule.template_name || rule.pcr) && rule.action != PolicyAction::measure) std::abort();
  }
  for (const auto* list : {&parsed.errors, &parsed.warnings}) {
    if (list->size() > 1001) std::abort();
    for (const auto& diagnostic : *list) {
      if (diagnostic.line < 1 || diagnostic.line > lines || diagnostic.message.empty()) std::abort();
      if (diagnostic.message.find('\n') != std::string::npos) std::abort();  // cannot forge output lines
      (void)diagnostic.text();
    }
  }
  if (parsed.ok() != parsed.errors.empty()) std::abort();

  // Evaluate what was accepted against a few accesses; the decision must name real rules.
  AccessContext access;
  access.path = "/opt/app/bin/tool";
  access.fsname = "ext4";
  for (const PolicyFunc func : {PolicyFunc::bprm_check, PolicyFunc::file_check, PolicyFunc::mmap_check}) {
    access.func = func;
    access.mask = func == PolicyFunc::file_check ? kMayRead : kMayExec;
    access.uid = func == PolicyFunc::bprm_check ? 1001 : 0;
    const PolicyDecision decision = evaluate_policy(parsed.policy, access);
    if (decision.measure && decision.measure_line == 0) std::abort();
    if (decision.appraise && decision.appraise_line == 0) std::abort();
    if (decision.require_signature && !decision.appraise) std::abort();
    if (decision.pcr > 23) std::abort();
  }
  return 0;
}
