// Runtime policies: vigil's JSON format, Keylime's import, generation, and the per-entry check
// (the hot path of every round: no allocation when an entry is allowed by its digest).
#include "attest/runtime_policy.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/evidence_json.h"
#include "attest/json_text.h"

namespace vigil::attest {

struct ExcludeMatchers {
  std::vector<std::regex> regexes;
};

namespace {

using nlohmann::json;

constexpr int kPolicyVersion = 1;
constexpr size_t kMaxRegexSize = 1024;  // std::regex compiles recursively: keep patterns sane
constexpr size_t kMaxShownAllowed = 3;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<crypto::Digest> digest_from_hex(crypto::HashAlgo algo, std::string_view text) {
  const size_t size = crypto::hash_size(algo);
  if (size == 0 || size > crypto::kMaxDigestSize || text.size() != size * 2) return std::nullopt;
  crypto::Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(size);
  for (size_t i = 0; i < size; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return digest;
}

std::string digest_text(const crypto::Digest& digest) {
  return std::string(crypto::hash_name(digest.algo)) + ":" + digest.hex();
}

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

void add_unique(std::vector<crypto::Digest>& digests, const crypto::Digest& digest) {
  if (std::find(digests.begin(), digests.end(), digest) == digests.end()) digests.push_back(digest);
}

// ---- keys -------------------------------------------------------------------------------

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Adds every PEM block (CERTIFICATE or PUBLIC KEY) of text to the keyring.
Result<void> add_pem_keys(ima::Keyring& keyring, std::string_view text, const std::string& source) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return fail("out of memory reading a key");
  size_t added = 0;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) break;
    const std::string block = name;
    const unsigned char* cursor = data;
    bool ok = false;
    if (block == "CERTIFICATE") {
      if (X509* cert = d2i_X509(nullptr, &cursor, length)) {
        crypto::Certificate certificate(cert);
        ok = certificate.public_key().has_value();
        if (ok) keyring.add_certificate(certificate, source);
      }
    } else if (block == "PUBLIC KEY") {
      if (EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &cursor, length)) {
        keyring.add_public_key(crypto::Key(pkey), source);
        ok = true;
      }
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    ERR_clear_error();
    if (!ok) return fail(source + ": PEM block \"" + block + "\" is not a usable certificate or public key");
    ++added;
  }
  ERR_clear_error();
  if (added == 0) return fail(source + ": no PEM certificate or public key found");
  return {};
}

// A DER SubjectPublicKeyInfo as PEM, so vigil's format can keep it as text.
Result<std::string> der_public_key_to_pem(std::span<const uint8_t> der) {
  const unsigned char* cursor = der.data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size()));
  ERR_clear_error();
  if (pkey == nullptr) return fail("not a DER public key");
  crypto::Key key(pkey);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return fail("cannot write the key as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// ---- excludes ---------------------------------------------------------------------------

bool excluded(const RuntimePolicy& policy, const std::string& path) {
  for (const auto& glob : policy.exclude_globs) {
    if (::fnmatch(glob.c_str(), path.c_str(), 0) == 0) return true;
  }
  if (policy.exclude_matchers) {
    // Keylime uses Python's re.match: anchored at the start, not at the end.
    for (const auto& regex : policy.exclude_matchers->regexes) {
      if (std::regex_search(path, regex, std::regex_constants::match_continuous)) return true;
    }
  }
  return false;
}

Result<std::regex> compile_regex(const std::string& pattern) {
  if (pattern.size() > kMaxRegexSize) {
    return fail("exclude regex is " + std::to_string(pattern.size()) + " bytes, longer than " +
                std::to_string(kMaxRegexSize));
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& error) {
    return fail("exclude regex \"" + pattern + "\" does not compile: " + error.what());
  }
}

// ---- JSON helpers -----------------------------------------------------------------------

Result<std::vector<std::string>> string_list(const json& document, std::string_view name, std::string_view what) {
  std::vector<std::string> out;
  const auto found = document.find(name);
  if (found == document.end() || found->is_null()) return out;
  if (!found->is_array()) return fail(std::string(what) + ": \"" + std::string(name) + "\" must be a list of strings");
  for (const auto& item : *found) {
    if (!item.is_string()) {
      return fail(std::string(what) + ": \"" + std::string(name) + "\" must hold strings, not " + item.type_name());
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string name_of(const std::string& source, std::string_view fallback) {
  return source.empty() ? std::string(fallback) : source;
}

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
    matchers->regexes.push_back(std::move(*regex));
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
        key != "keys") {
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
  // Paths are bytes, not always UTF-8: replace what cannot be written rather than throw.
  return document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

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
