#pragma once
// The runtime policy an agent's measurement list is checked against (docs/attestation.md):
// allowed digests per path (any hash vigil knows, SM3 and SHA-256 included), trusted keys for
// ima-sig entries (RSA, ECDSA, SM2), and excluded paths. Keylime's runtime policy JSON imports.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "ima/ima.h"
#include "ima/measurement_list.h"

namespace vigil::attest {

struct ExcludeMatchers;  // exclude_regexes compiled once (runtime_policy.cpp)

struct RuntimePolicy {
  std::map<std::string, std::vector<crypto::Digest>> digests;  // path -> allowed file digests
  std::vector<std::string> exclude_globs;    // fnmatch(3) patterns, FNM_PATHNAME off
  std::vector<std::string> exclude_regexes;  // from Keylime's "excludes" (ECMAScript syntax)
  std::vector<std::string> key_pems;         // PEM public keys or certificates, as given
  ima::Keyring keyring;                      // built from key_pems by parse/import
  // Boot PCRs (0-7, sha256 bank, as quoted) -> the values allowed for each, as Keylime's
  // tpm_policy. A PCR not listed is not checked; the round result says which were.
  std::map<uint32_t, std::vector<crypto::Digest>> boot_pcrs;
  std::string source;                        // file it came from, for messages
  // Built from exclude_regexes by parse/import/compile_runtime_policy; shared by copies.
  std::shared_ptr<const ExcludeMatchers> exclude_matchers;
};

// Builds keyring and exclude_matchers from key_pems and exclude_regexes (parse, import and
// generate call it; call it again after changing those fields). Errors name the bad key or
// regex. Until it is called, check_entry trusts no key and excludes nothing by regex.
Result<void> compile_runtime_policy(RuntimePolicy& policy);

// vigil's format (JSON, docs/attestation.md). Untrusted input: fuzzed. Errors name the field
// and, for JSON syntax errors, the byte offset.
Result<RuntimePolicy> parse_runtime_policy(std::string_view json_text, const std::string& source = {});
std::string runtime_policy_json(const RuntimePolicy& policy);  // parse(json(p)) == p

// Keylime's runtime policy (allowlist) JSON: "digests" (path -> hex list; the algorithm is
// taken from the length, 64 hex = SHA-256), "excludes" (regexes), "verification-keys" (a
// string holding a JSON list of PEM keys, or a PEM), "meta"/"release"/"ima" accepted and ignored.
Result<RuntimePolicy> import_keylime_policy(std::string_view json_text, const std::string& source = {});

struct GenerateOptions {
  std::vector<crypto::HashAlgo> algos = {crypto::HashAlgo::sha256};
  std::string path_prefix;  // prepended to paths relative to the tree root ("" keeps absolute paths)
};
// Hashes every regular file under root (not following symlinks out of it).
Result<RuntimePolicy> generate_from_tree(const std::string& root, const GenerateOptions& options);
// Takes every (path, digest) of a trusted measurement list; boot_aggregate and violations skipped.
RuntimePolicy generate_from_measurements(std::span<const ima::MeasurementEntry> entries);

// One entry against the policy. Order: excluded -> ok; a signature (ima-sig) by a trusted key
// over the entry's digest -> ok; a bad signature -> fail; digest allowed for the path -> ok.
// boot_aggregate is ok unless the policy lists digests for "boot_aggregate". Violations fail.
struct EntryVerdict {
  bool allowed = false;
  std::string reason;  // "excluded", "signed by key 1a2b3c4d", "digest allowed" or why it failed
};
EntryVerdict check_entry(const RuntimePolicy& policy, const ima::MeasurementEntry& entry);

}  // namespace vigil::attest
