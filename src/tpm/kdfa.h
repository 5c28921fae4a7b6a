#pragma once
// KDFa (TPM 2.0 Part 1, "KDFa"): SP 800-108 counter-mode KDF with HMAC, as the TPM derives
// the keys that protect credentials and duplicated objects.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::tpm {

// bits/8 bytes (bits a multiple of 8) of KDFa(hash, key, label, context_u, context_v, bits).
// label is given without its terminating zero octet, which KDFa includes.
Result<std::vector<uint8_t>> kdfa(crypto::HashAlgo hash, std::span<const uint8_t> key, std::string_view label,
                                  std::span<const uint8_t> context_u, std::span<const uint8_t> context_v,
                                  uint32_t bits);

// HMAC_hash(key, data), as the TPM computes integrity values.
Result<std::vector<uint8_t>> hmac(crypto::HashAlgo hash, std::span<const uint8_t> key, std::span<const uint8_t> data);

}  // namespace vigil::tpm
