#pragma once
// Pieces shared by the runtime policy's readers, writer, generator and entry check
// (runtime_policy.cpp, keylime_import.cpp, policy_generate.cpp, entry_check.cpp). Internal.
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/runtime_policy.h"

namespace vigil::attest {

struct ExcludeMatchers {
  struct Matcher {
    std::string literal_prefix;  // every match starts with it: paths without it skip the regex
    std::regex regex;
  };
  std::vector<Matcher> matchers;
};

namespace policy_parts {

// Hex of exactly the algorithm's digest size (either case).
std::optional<crypto::Digest> digest_from_hex(crypto::HashAlgo algo, std::string_view text);
std::string digest_text(const crypto::Digest& digest);  // "sha256:<hex>"
void add_unique(std::vector<crypto::Digest>& digests, const crypto::Digest& digest);

// Adds every PEM block (CERTIFICATE or PUBLIC KEY) of text to the keyring.
Result<void> add_pem_keys(ima::Keyring& keyring, std::string_view text, const std::string& source);
// A DER SubjectPublicKeyInfo as PEM, so vigil's format can keep it as text.
Result<std::string> der_public_key_to_pem(std::span<const uint8_t> der);

// The literal text every match of an (anchored) ECMAScript pattern starts with.
std::string literal_prefix(std::string_view pattern);
Result<std::regex> compile_regex(const std::string& pattern);

// An optional list of strings; null or missing is empty.
Result<std::vector<std::string>> string_list(const nlohmann::json& document, std::string_view name,
                                             std::string_view what);
std::string name_of(const std::string& source, std::string_view fallback);

}  // namespace policy_parts
}  // namespace vigil::attest
