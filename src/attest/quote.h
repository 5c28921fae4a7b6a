#pragma once
// TPM2_Quote results checked in software by the verifier. Untrusted network input: fuzzed
// (tests/fuzz/fuzz_quote.cpp).
#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "tpm/attestation.h"
#include "tpm/tpm_public.h"

namespace vigil::attest {

// The parts of TPMS_ATTEST (type TPM_ST_ATTEST_QUOTE) the verifier uses.
struct QuoteInfo {
  std::vector<uint8_t> qualified_signer;  // TPM2B_NAME of the signing key
  std::vector<uint8_t> extra_data;        // the nonce (qualifyingData)
  uint64_t clock = 0;
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = false;
  uint64_t firmware_version = 0;
  std::vector<tpm::PcrSelection> selections;  // TPML_PCR_SELECTION, in order
  std::vector<uint8_t> pcr_digest;
};

// Checks magic (TPM_GENERATED_VALUE) and type; errors say what is wrong.
Result<QuoteInfo> parse_quote_attest(std::span<const uint8_t> attest);

enum class QuoteProblem {
  none,
  malformed,          // attest or signature bytes do not parse
  signature,          // does not verify with the enrolled AK
  different_signer,   // qualifiedSigner is not the enrolled AK's name: a quote from another TPM/key
  nonce,              // extraData is not this round's nonce: a replayed or stale quote
  selection,          // the quoted PCRs are not the reported ones
  pcr_digest,         // the reported PCR values do not hash to the quoted pcrDigest
};

struct QuoteCheck {
  QuoteProblem problem = QuoteProblem::none;
  std::string reason;  // empty when problem == none
  QuoteInfo info;      // filled when the attest parsed
};

// Full check of a quote against the enrolled AK, the expected nonce and the reported PCR values
// (evidence.selection / evidence.pcr_values). Signature schemes: ECDSA (P-256/P-384) and
// RSASSA with SHA-256/384; the pcrDigest is recomputed with the signature's hash.
QuoteCheck check_quote(const tpm::TpmPublic& ak, std::span<const uint8_t> expected_nonce,
                       const tpm::QuoteEvidence& evidence);

}  // namespace vigil::attest
