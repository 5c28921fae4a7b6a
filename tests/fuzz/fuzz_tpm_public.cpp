// TPM2B_PUBLIC comes from agents the verifier does not trust (enrolment: EK and AK). The parser
// must reject or accept every byte string without crashing; whatever it accepts must be
// internally consistent, and the rules and MakeCredential must cope with it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tpm/tpm_public.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil;
  const std::span<const uint8_t> bytes(data, size);
  auto parsed = tpm::parse_tpm_public(bytes);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return 0;
  }
  if (parsed->marshalled.size() != size || !std::equal(parsed->marshalled.begin(), parsed->marshalled.end(), data)) {
    std::abort();
  }
  if (parsed->name.size() != 2 + crypto::hash_size(parsed->name_alg)) std::abort();
  if (parsed->key.get() == nullptr) std::abort();
  if (tpm::public_key_pem(*parsed).empty()) std::abort();
  if (!tpm::same_key(*parsed, *parsed)) std::abort();
  if (tpm::primary_qualified_name(*parsed, tpm::kTpmRhOwner).size() != parsed->name.size()) std::abort();
  (void)parsed->describe();
  const bool attestation_key = static_cast<bool>(tpm::check_attestation_key(*parsed));
  const bool endorsement_key = static_cast<bool>(tpm::check_endorsement_key(*parsed));
  if (attestation_key && endorsement_key) std::abort();  // sign and decrypt exclude each other here
  if (endorsement_key) {
    const uint8_t secret[32] = {1};
    auto credential = tpm::make_credential(*parsed, parsed->name, secret);
    if (!credential) std::abort();
  }
  return 0;
}
