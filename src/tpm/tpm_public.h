#pragma once
// TPM 2.0 public areas (TPM2B_PUBLIC) and their names, read in software: the verifier has no
// TPM, and every byte it gets from an agent is untrusted (fuzzed: tests/fuzz/fuzz_tpm_public.cpp).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::tpm {

enum class TpmKeyKind { rsa, ecc };

struct TpmPublic {
  std::vector<uint8_t> marshalled;  // the TPM2B_PUBLIC bytes as given (size prefix included)
  TpmKeyKind kind = TpmKeyKind::rsa;
  crypto::HashAlgo name_alg = crypto::HashAlgo::sha256;
  uint32_t object_attributes = 0;   // TPMA_OBJECT bits
  crypto::Key key;                  // the public key as OpenSSL sees it
  std::vector<uint8_t> name;        // nameAlg (2 bytes, big endian) || H_nameAlg(TPMT_PUBLIC)
  // Properties the verifier insists on, from object_attributes:
  bool fixed_tpm() const;
  bool fixed_parent() const;
  bool restricted() const;
  bool sign() const;
  bool decrypt() const;
  std::string describe() const;     // "RSA 2048 restricted decrypt (EK)", "ECC P-256 restricted sign (AK)"
};

// Parses a marshalled TPM2B_PUBLIC (RSA or ECC; ECC curves P-256 and P-384). Errors say what is
// malformed or unsupported. Never aborts on any input.
Result<TpmPublic> parse_tpm_public(std::span<const uint8_t> tpm2b_public);

// Attestation key rules: restricted signing key, fixedTPM, fixedParent, sensitiveDataOrigin,
// not a decryption key. The error names the first missing property.
Result<void> check_attestation_key(const TpmPublic& ak);
// Endorsement key rules: restricted decryption key, fixedTPM, fixedParent, RSA 2048 (the
// only EK kind make_credential supports today; ECC EKs are refused with that reason).
Result<void> check_endorsement_key(const TpmPublic& ek);

// Credential protection (TPM 2.0 Part 1, "Credential Protection"; TPM2_MakeCredential done in
// software): wraps `secret` (at most 64 bytes) so that only the TPM holding `ek`'s private key
// and an object named `object_name` can recover it with TPM2_ActivateCredential.
struct Credential {
  std::vector<uint8_t> credential_blob;   // TPM2B_ID_OBJECT, marshalled
  std::vector<uint8_t> encrypted_secret;  // TPM2B_ENCRYPTED_SECRET, marshalled
};
Result<Credential> make_credential(const TpmPublic& ek, std::span<const uint8_t> object_name,
                                   std::span<const uint8_t> secret);

}  // namespace vigil::tpm
