// One measurement entry against a runtime policy: the hot path of every round, so an entry
// allowed by its digest costs no allocation (a regex exclude is only run on paths that start
// with its literal prefix; std::regex allocates when it runs).
#include <fnmatch.h>

#include <algorithm>

#include "attest/runtime_policy.h"
#include "attest/runtime_policy_parts.h"

namespace vigil::attest {
namespace {

using namespace policy_parts;

constexpr size_t kMaxShownAllowed = 3;

bool excluded(const RuntimePolicy& policy, const std::string& path) {
  for (const auto& glob : policy.exclude_globs) {
    if (::fnmatch(glob.c_str(), path.c_str(), 0) == 0) return true;
  }
  if (policy.exclude_matchers) {
    // Keylime uses Python's re.match: anchored at the start, not at the end.
    for (const auto& matcher : policy.exclude_matchers->matchers) {
      if (!path.starts_with(matcher.literal_prefix)) continue;  // std::regex allocates: avoid it
      if (std::regex_search(path, matcher.regex, std::regex_constants::match_continuous)) return true;
    }
  }
  return false;
}

std::string describe_allowed(const std::vector<crypto::Digest>& allowed) {
  std::string text;
  for (size_t i = 0; i < allowed.size() && i < kMaxShownAllowed; ++i) {
    if (i > 0) text += ", ";
    const std::string full = digest_text(allowed[i]);
    text += full.substr(0, full.find(':') + 17) + "...";
  }
  if (allowed.size() > kMaxShownAllowed) text += ", +" + std::to_string(allowed.size() - kMaxShownAllowed) + " more";
  return text;
}

}  // namespace

EntryVerdict check_entry(const RuntimePolicy& policy, const ima::MeasurementEntry& entry) {
  if (excluded(policy, entry.path)) return {true, "excluded"};
  if (entry.violation) return {false, "violation (measured while open for write, or its digest could not be read)"};

  if (entry.template_name == ima::TemplateName::ima_sig && !entry.signature.empty()) {
    auto parsed = ima::parse_ima_xattr(entry.signature);
    if (!parsed) return {false, "malformed signature: " + parsed.error().message};
    if (const auto* signature = std::get_if<ima::SignatureV2>(&*parsed)) {
      const auto candidates = policy.keyring.find(signature->keyid);
      if (!candidates.empty()) {
        const std::string key = "key " + ima::keyid_hex(signature->keyid);
        if (signature->algo != entry.file_digest.algo) {
          return {false, "signature by " + key + " is over a " + std::string(crypto::hash_name(signature->algo)) +
                             " digest, the entry records " + std::string(crypto::hash_name(entry.file_digest.algo))};
        }
        for (const auto* candidate : candidates) {
          if (crypto::verify_digest(candidate->key, entry.file_digest, signature->signature) ==
              crypto::SignatureCheck::valid) {
            return {true, "signed by " + key};
          }
        }
        return {false, "signature by " + key + " (" + candidates.front()->key.describe() +
                           ") does not verify over digest " + digest_text(entry.file_digest)};
      }
      // A key the policy does not trust: the digest may still be allowed.
    }
  }

  const auto allowed = policy.digests.find(entry.path);
  if (allowed == policy.digests.end()) {
    if (entry.path == "boot_aggregate") return {true, "boot aggregate"};
    return {false, "not in the policy (digest " + digest_text(entry.file_digest) + ")"};
  }
  for (const auto& digest : allowed->second) {
    if (digest == entry.file_digest) return {true, "digest allowed"};
  }
  return {false, "digest " + digest_text(entry.file_digest) + " not allowed (allowed: " +
                     (allowed->second.empty() ? std::string("none") : describe_allowed(allowed->second)) + ")"};
}

}  // namespace vigil::attest
