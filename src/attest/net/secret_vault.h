#pragma once
// Secrets at rest: sealed with a master key kept in <state>/vault.key (32 random bytes, mode 0600,
// created at first use). Ciphers: AES-256-GCM, or SM4 (OpenSSL 3.0 has no SM4-GCM, so SM4-CTR with
// HMAC-SM3 over nonce||ciphertext, encrypt-then-MAC, keys derived from the master key by HKDF-SM3).
// The secret's name and selector are bound as associated data, so a sealed value cannot be moved
// to another name or widened to other agents.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil::attest {

enum class VaultCipher { aes_256_gcm, sm4_ctr_hmac_sm3 };
std::string_view vault_cipher_name(VaultCipher cipher);  // "aes-256-gcm", "sm4-ctr-hmac-sm3"
Result<VaultCipher> vault_cipher_from_name(std::string_view name);  // also accepts "sm4", "aes"

class SecretVault {
 public:
  static Result<SecretVault> open(const std::string& key_path);  // creates the key file if missing
  Result<std::vector<uint8_t>> seal(VaultCipher cipher, std::span<const uint8_t> plaintext,
                                    std::span<const uint8_t> associated_data) const;
  Result<std::vector<uint8_t>> unseal(VaultCipher cipher, std::span<const uint8_t> sealed,
                                      std::span<const uint8_t> associated_data) const;

 private:
  std::vector<uint8_t> master_key_;
};

}  // namespace vigil::attest
