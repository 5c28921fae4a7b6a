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

// TPM_ALG_ID values that appear in public areas (TPM 2.0 Part 2, "TPM_ALG_ID").
inline constexpr uint16_t kTpmAlgNull = 0x0010;
inline constexpr uint16_t kTpmAlgAes = 0x0006;
inline constexpr uint16_t kTpmAlgCfb = 0x0043;

// TPMT_SYM_DEF_OBJECT: the symmetric algorithm of a storage or endorsement key (what
// make_credential encrypts with); algorithm kTpmAlgNull for signing keys.
struct TpmSymmetric {
  uint16_t algorithm = kTpmAlgNull;
  uint16_t key_bits = 0;
  uint16_t mode = kTpmAlgNull;
};

struct TpmPublic {
  std::vector<uint8_t> marshalled;  // the TPM2B_PUBLIC bytes as given (size prefix included)
  TpmKeyKind kind = TpmKeyKind::rsa;
  crypto::HashAlgo name_alg = crypto::HashAlgo::sha256;
  uint32_t object_attributes = 0;   // TPMA_OBJECT bits
  crypto::Key key;                  // the public key as OpenSSL sees it
  std::vector<uint8_t> name;        // nameAlg (2 bytes, big endian) || H_nameAlg(TPMT_PUBLIC)
  TpmSymmetric symmetric;           // parameters.symmetric
  uint16_t scheme = kTpmAlgNull;    // parameters.scheme (TPM_ALG_ID), e.g. 0x0018 ECDSA
  uint16_t scheme_hash = kTpmAlgNull;  // its hash (TPM_ALG_ID) when the scheme has one
  uint16_t curve = 0;               // ECC: TPM_ECC_CURVE (0x0003 P-256, 0x0004 P-384)
  uint16_t key_bits = 0;            // RSA modulus or ECC field size in bits
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

// The public key as PEM SubjectPublicKeyInfo (what `tpm2_readpublic -f pem` prints); empty if
// OpenSSL cannot encode it.
std::string public_key_pem(const TpmPublic& key);
// True when both hold the same public key (attributes and parameters are not compared).
bool same_key(const TpmPublic& a, const TpmPublic& b);
// The qualified name of a primary key under a hierarchy (e.g. 0x40000001, TPM_RH_OWNER):
// nameAlg (2 bytes) || H_nameAlg(hierarchy_handle as 4 bytes big endian || key.name). A quote
// signed by a primary AK names this, not the AK's name, as its qualifiedSigner. Empty if the
// hash fails.
std::vector<uint8_t> primary_qualified_name(const TpmPublic& key, uint32_t hierarchy_handle);

// Owner hierarchy handle (TPM_RH_OWNER), where the agent's AK is a primary.
inline constexpr uint32_t kTpmRhOwner = 0x40000001;

}  // namespace vigil::tpm
