#pragma once
// The attestation protocol's JSON bodies (docs/attestation.md). Every parser here reads
// untrusted network input: fuzzed (tests/fuzz/fuzz_attest_json.cpp). Binary fields are base64
// (RFC 4648, padded), nonces hex.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "common/error.h"

namespace vigil::attest {

struct EnrollRequest {
  std::vector<uint8_t> ek_public;   // TPM2B_PUBLIC
  std::vector<uint8_t> ak_public;   // TPM2B_PUBLIC
  std::optional<std::vector<uint8_t>> ek_certificate;  // DER
};
struct EnrollChallenge {
  std::vector<uint8_t> credential_blob;
  std::vector<uint8_t> encrypted_secret;
};
struct ActivateRequest {
  std::vector<uint8_t> secret;
};
struct RoundChallenge {
  std::vector<uint8_t> nonce;       // 32 random bytes, single use
  uint64_t list_start = 0;          // send entries from this index
  tpm::PcrSelection selection;      // PCRs to quote (sha256: 0-7 and 10)
  uint32_t interval_ms = 2000;      // when to come back
};

std::string to_json(const EnrollRequest& request);
std::string to_json(const EnrollChallenge& challenge);
std::string to_json(const ActivateRequest& request);
std::string to_json(const RoundChallenge& challenge);
// Evidence carries the entries as binary_runtime_measurements records (base64).
std::string to_json(const RoundEvidence& evidence);
std::string to_json(const RoundResult& result);  // {"verdict","kind","reason","failing_entry","failing_path",...}

Result<EnrollRequest> parse_enroll_request(std::string_view json_text);
Result<EnrollChallenge> parse_enroll_challenge(std::string_view json_text);
Result<ActivateRequest> parse_activate_request(std::string_view json_text);
Result<RoundChallenge> parse_round_challenge(std::string_view json_text);
// Caps: 64 KiB attest/signature, 100,000 entries and 64 MiB of records per round.
Result<RoundEvidence> parse_round_evidence(std::string_view json_text);

std::string base64_encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace vigil::attest
