#pragma once
// The agent's side of remote attestation, in its TPM 2.0: the endorsement key, an attestation
// key, proof that both live in the same TPM (ActivateCredential), and quotes over PCRs.
// docs/attestation.md has the protocol.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::tpm {

struct PcrSelection {
  crypto::HashAlgo bank = crypto::HashAlgo::sha256;
  std::vector<uint32_t> pcrs;  // ascending, e.g. {0,1,...,7,10}
};

// What TPM2_Quote returns, as bytes the verifier checks (src/attest/quote.h parses them).
struct QuoteEvidence {
  std::vector<uint8_t> attest;     // TPMS_ATTEST, marshalled (the contents of TPM2B_ATTEST)
  std::vector<uint8_t> signature;  // TPMT_SIGNATURE, marshalled
  PcrSelection selection;          // what was quoted (PCRs the TPM lacks are left out)
  std::vector<crypto::Digest> pcr_values;  // one per selection.pcrs entry, read right after the quote
};

class AttestationTpm {
 public:
  virtual ~AttestationTpm() = default;
  // The endorsement key's TPM2B_PUBLIC: the persistent RSA EK at 0x81010001 when present
  // (swtpm_setup --create-ek-cert makes it), else the TCG default RSA 2048 EK template created
  // as a primary in the endorsement hierarchy.
  virtual Result<std::vector<uint8_t>> endorsement_key() = 0;
  // The EK certificate (DER) from NV index 0x01c00002, if the TPM has one.
  virtual Result<std::optional<std::vector<uint8_t>>> endorsement_certificate() = 0;
  // The attestation key's TPM2B_PUBLIC: an ECC P-256 ECDSA-SHA256 restricted signing primary in
  // the owner hierarchy (the same key every time from the same TPM: nothing is persisted).
  virtual Result<std::vector<uint8_t>> attestation_key() = 0;
  // TPM2_ActivateCredential with the AK as the object and the EK as the key (EK authorised by
  // a PolicySecret(TPM_RH_ENDORSEMENT) session). Returns the recovered secret.
  virtual Result<std::vector<uint8_t>> activate_credential(std::span<const uint8_t> credential_blob,
                                                           std::span<const uint8_t> encrypted_secret) = 0;
  // TPM2_Quote with the AK over `selection`, qualifyingData = nonce (at most 64 bytes).
  virtual Result<QuoteEvidence> quote(std::span<const uint8_t> nonce, const PcrSelection& selection) = 0;
  virtual std::string describe() const = 0;
};

// Opens the TPM named by spec (the TCTI specs of open_pcr_backend; "none" is an error: a
// software PCR bank cannot attest). TCP TPMs (swtpm, mssim) serve one client at a time, so
// the connection is opened per call and closed after it; other clients (the agent's PCR
// extends, tpm2-tools) get their turn in between.
Result<std::unique_ptr<AttestationTpm>> open_attestation_tpm(const std::string& spec);

}  // namespace vigil::tpm
