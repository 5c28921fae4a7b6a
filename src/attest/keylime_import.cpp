// Keylime's runtime policy (allowlist) JSON imported: "digests" (hex, algorithm from the
// length), "excludes" (regexes, matched as Python's re.match), "verification-keys".
#include "attest/evidence_json.h"
#include "attest/json_text.h"
#include "attest/runtime_policy.h"
#include "attest/runtime_policy_parts.h"

namespace vigil::attest {
namespace {

using namespace policy_parts;
using nlohmann::json;

// Keylime's "verification-keys": a string holding JSON (a list of PEM strings, or Keylime's
// ImaKeyrings: {keyring name: string or object {"pubkeys": [base64 DER], ...}}), or a PEM.
Result<void> collect_keylime_keys(const json& value, std::vector<std::string>& pems, int depth) {
  if (depth > 4) return fail("\"verification-keys\" is nested too deeply");
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const bool looks_like_json = text[first] == '[' || text[first] == '{' || text[first] == '"';
    if (!looks_like_json && text.find("-----BEGIN") != std::string::npos) {
      pems.push_back(text);
      return {};
    }
    auto inner = json_text::parse(text, "\"verification-keys\"");
    if (!inner) return std::unexpected(inner.error());
    return collect_keylime_keys(*inner, pems, depth + 1);
  }
  if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_string()) return fail("\"verification-keys\" list must hold PEM strings, not " + std::string(item.type_name()));
      if (auto added = collect_keylime_keys(item, pems, depth + 1); !added) return added;
    }
    return {};
  }
  if (value.is_object()) {
    if (const auto pubkeys = value.find("pubkeys"); pubkeys != value.end()) {
      if (!pubkeys->is_array()) return fail("\"verification-keys\": \"pubkeys\" must be a list");
      for (const auto& item : *pubkeys) {
        if (!item.is_string()) return fail("\"verification-keys\": \"pubkeys\" must hold base64 strings");
        auto der = base64_decode(item.get_ref<const std::string&>());
        if (!der) return fail("\"verification-keys\": pubkey: " + der.error().message);
        auto pem = der_public_key_to_pem(*der);
        if (!pem) return fail("\"verification-keys\": pubkey: " + pem.error().message);
        pems.push_back(std::move(*pem));
      }
      return {};
    }
    for (const auto& [name, keyring] : value.items()) {
      if (name == "meta") continue;
      if (auto added = collect_keylime_keys(keyring, pems, depth + 1); !added) return added;
    }
    return {};
  }
  if (value.is_null()) return {};
  return fail("\"verification-keys\" must be a string, not " + std::string(value.type_name()));
}

std::optional<crypto::HashAlgo> keylime_algo_from_length(size_t hex_digits) {
  switch (hex_digits) {
    case 40: return crypto::HashAlgo::sha1;
    case 64: return crypto::HashAlgo::sha256;  // SM3 is also 64 hex digits; Keylime has no SM3
    case 96: return crypto::HashAlgo::sha384;
    case 128: return crypto::HashAlgo::sha512;
    default: return std::nullopt;
  }
}

}  // namespace

Result<RuntimePolicy> import_keylime_policy(std::string_view json_text, const std::string& source) {
  const std::string what = name_of(source, "Keylime runtime policy");
  auto document = json_text::parse(json_text, what);
  if (!document) return std::unexpected(document.error());
  if (!document->is_object()) return fail(what + ": must be a JSON object");
  RuntimePolicy policy;
  policy.source = source;
  if (const auto digests = document->find("digests"); digests != document->end() && !digests->is_null()) {
    if (!digests->is_object()) return fail(what + ": \"digests\" must be an object (path -> list of hex digests)");
    for (const auto& [path, list] : digests->items()) {
      if (!list.is_array()) return fail(what + ": \"digests\" of " + path.substr(0, 256) + " must be a list");
      auto& allowed = policy.digests[path];
      for (const auto& item : list) {
        if (!item.is_string()) return fail(what + ": \"digests\" of " + path.substr(0, 256) + " must hold hex strings");
        const auto& text = item.get_ref<const std::string&>();
        const auto algo = keylime_algo_from_length(text.size());
        auto digest = algo ? digest_from_hex(*algo, text) : std::nullopt;
        if (!digest) {
          return fail(what + ": \"digests\" of " + path.substr(0, 256) + ": \"" + text.substr(0, 140) +
                      "\" is not a hex digest of 40, 64, 96 or 128 digits");
        }
        add_unique(allowed, *digest);
      }
    }
  }
  auto excludes = string_list(*document, "excludes", what);
  if (!excludes) return std::unexpected(excludes.error());
  policy.exclude_regexes = std::move(*excludes);
  if (const auto keys = document->find("verification-keys"); keys != document->end()) {
    if (auto collected = collect_keylime_keys(*keys, policy.key_pems, 0); !collected) {
      return fail(what + ": " + collected.error().message);
    }
  }
  if (auto compiled = compile_runtime_policy(policy); !compiled) return fail(what + ": " + compiled.error().message);
  return policy;
}

}  // namespace vigil::attest
