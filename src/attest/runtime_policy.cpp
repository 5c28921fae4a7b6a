// Runtime policies in vigil's JSON format (docs/attestation.md, "Runtime policy"), and the
// compiled parts (keyring, exclude regexes) every reader builds.
#include "attest/runtime_policy.h"

#include <charconv>

#include "attest/json_text.h"
#include "attest/runtime_policy_parts.h"

namespace vigil::attest {
namespace {

using namespace policy_parts;

constexpr int kPolicyVersion = 1;
constexpr uint32_t kLastBootPcr = 7;  // the verifier quotes 0-7 (and 10, the list's)

// "sha256:<hex>" (any algorithm vigil knows).
Result<crypto::Digest> parse_digest_text(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail("\"" + std::string(text.substr(0, 80)) + "\" is not ALGO:HEX");
  const auto algo = crypto::hash_from_name(text.substr(0, colon));
  if (!algo || crypto::hash_size(*algo) == 0) {
    return fail("unknown hash algorithm \"" + std::string(text.substr(0, std::min<size_t>(colon, 32))) + "\"");
  }
  auto digest = digest_from_hex(*algo, text.substr(colon + 1));
  if (!digest) {
    return fail(std::string(crypto::hash_name(*algo)) + " digest must be " + std::to_string(crypto::hash_size(*algo) * 2) +
                " hex digits");
  }
  return *digest;
}

}  // namespace

Result<void> compile_runtime_policy(RuntimePolicy& policy) {
  ima::Keyring keyring;
  for (size_t i = 0; i < policy.key_pems.size(); ++i) {
    const std::string source = (policy.source.empty() ? std::string("key ") : policy.source + ": key ") + std::to_string(i + 1);
    if (auto added = add_pem_keys(keyring, policy.key_pems[i], source); !added) return added;
  }
  auto matchers = std::make_shared<ExcludeMatchers>();
  for (const auto& pattern : policy.exclude_regexes) {
    auto regex = compile_regex(pattern);
    if (!regex) return std::unexpected(regex.error());
    matchers->matchers.push_back({literal_prefix(pattern), std::move(*regex)});
  }
  policy.keyring = std::move(keyring);
  policy.exclude_matchers = std::move(matchers);
  return {};
}

Result<RuntimePolicy> parse_runtime_policy(std::string_view json_text, const std::string& source) {
  const std::string what = name_of(source, "runtime policy");
  auto document = json_text::parse(json_text, what);
  if (!document) return std::unexpected(document.error());
  if (!document->is_object()) return fail(what + ": must be a JSON object");
  for (const auto& [key, value] : document->items()) {
    if (key != "vigil_runtime_policy" && key != "digests" && key != "excludes" && key != "exclude_regexes" &&
        key != "keys" && key != "boot_pcrs") {
      return fail(what + ": unknown field \"" + key.substr(0, 64) + "\"");
    }
  }
  auto version = json_text::unsigned_field(*document, "vigil_runtime_policy", what, 1000);
  if (!version) return std::unexpected(version.error());
  if (*version != kPolicyVersion) {
    return fail(what + ": \"vigil_runtime_policy\" is " + std::to_string(*version) + ", this vigil reads version 1");
  }
  RuntimePolicy policy;
  policy.source = source;
  if (const auto digests = document->find("digests"); digests != document->end() && !digests->is_null()) {
    if (!digests->is_object()) return fail(what + ": \"digests\" must be an object (path -> list of ALGO:HEX)");
    for (const auto& [path, list] : digests->items()) {
      if (!list.is_array()) return fail(what + ": \"digests\" of " + path.substr(0, 256) + " must be a list");
      auto& allowed = policy.digests[path];
      for (const auto& item : list) {
        if (!item.is_string()) return fail(what + ": \"digests\" of " + path.substr(0, 256) + " must hold strings");
        auto digest = parse_digest_text(item.get_ref<const std::string&>());
        if (!digest) return fail(what + ": \"digests\" of " + path.substr(0, 256) + ": " + digest.error().message);
        add_unique(allowed, *digest);
      }
    }
  }
  if (const auto boot = document->find("boot_pcrs"); boot != document->end() && !boot->is_null()) {
    if (!boot->is_object()) return fail(what + ": \"boot_pcrs\" must be an object (PCR -> list of sha256:HEX)");
    for (const auto& [index_text, list] : boot->items()) {
      const std::string where = what + ": \"boot_pcrs\" of PCR " + index_text.substr(0, 16);
      uint32_t index = 0;
      auto [end, error] = std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
      if (index_text.empty() || error != std::errc{} || end != index_text.data() + index_text.size() ||
          index > kLastBootPcr) {
        return fail(where + ": boot PCRs are 0 to 7 (the verifier quotes those and PCR 10, the list's own)");
      }
      if (!list.is_array() || list.empty()) return fail(where + " must be a non-empty list of allowed values");
      auto& allowed = policy.boot_pcrs[index];
      for (const auto& item : list) {
        if (!item.is_string()) return fail(where + " must hold strings");
        std::string text = item.get<std::string>();
        // Keylime's tpm_policy writes bare hex; the quoted bank is sha256.
        if (text.find(':') == std::string::npos) text = "sha256:" + text;
        auto digest = parse_digest_text(text);
        if (!digest) return fail(where + ": " + digest.error().message);
        if (digest->algo != crypto::HashAlgo::sha256) return fail(where + ": values are of the sha256 bank, the one quoted");
        add_unique(allowed, *digest);
      }
    }
  }
  auto excludes = string_list(*document, "excludes", what);
  if (!excludes) return std::unexpected(excludes.error());
  policy.exclude_globs = std::move(*excludes);
  auto regexes = string_list(*document, "exclude_regexes", what);
  if (!regexes) return std::unexpected(regexes.error());
  policy.exclude_regexes = std::move(*regexes);
  auto keys = string_list(*document, "keys", what);
  if (!keys) return std::unexpected(keys.error());
  policy.key_pems = std::move(*keys);
  if (auto compiled = compile_runtime_policy(policy); !compiled) return fail(what + ": " + compiled.error().message);
  return policy;
}

std::string runtime_policy_json(const RuntimePolicy& policy) {
  nlohmann::ordered_json document;
  document["vigil_runtime_policy"] = kPolicyVersion;
  nlohmann::ordered_json digests = nlohmann::ordered_json::object();
  for (const auto& [path, allowed] : policy.digests) {
    auto& list = digests[path] = nlohmann::ordered_json::array();
    for (const auto& digest : allowed) list.push_back(digest_text(digest));
  }
  document["digests"] = std::move(digests);
  document["excludes"] = policy.exclude_globs;
  document["exclude_regexes"] = policy.exclude_regexes;
  document["keys"] = policy.key_pems;
  if (!policy.boot_pcrs.empty()) {
    nlohmann::ordered_json boot = nlohmann::ordered_json::object();
    for (const auto& [index, allowed] : policy.boot_pcrs) {
      auto& list = boot[std::to_string(index)] = nlohmann::ordered_json::array();
      for (const auto& digest : allowed) list.push_back(digest_text(digest));
    }
    document["boot_pcrs"] = std::move(boot);
  }
  // Paths are bytes, not always UTF-8: replace what cannot be written rather than throw.
  return document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace vigil::attest
