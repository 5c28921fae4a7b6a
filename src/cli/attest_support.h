#pragma once
// Shared by `vigil verifier`, `vigil attest` and `vigil secret`: results to exit codes, the
// verifier's state directory, key files.
#include <memory>
#include <string>
#include <vector>

#include "attest/net/registry.h"
#include "cli/commands.h"
#include "common/error.h"

namespace vigil::cli::attest_support {

template <class T>
T unwrap(Result<T> result) {
  if (!result) throw UsageError(result.error().message);
  return std::move(*result);
}

inline void unwrap(Result<void> result) {
  if (!result) throw UsageError(result.error().message);
}

// <state>/verifier.db, the state directory created (0700) if missing.
// The verifier's registry: PostgreSQL when `database` is a postgresql:// URL (one connection:
// the CLI's commands are one or two statements), else SQLite in state_dir/verifier.db.
std::unique_ptr<attest::Registry> open_registry(const std::string& state_dir, const std::string& database = "");
// The public key in a file as a DER SubjectPublicKeyInfo (PEM or DER SPKI, or a TPM2B_PUBLIC
// as tpm2_readpublic -o writes it, which is then kept as it is).
std::vector<uint8_t> read_endorsement_key(const std::string& path);
// SubjectPublicKeyInfo PEM of a TPM2B_PUBLIC's key (`vigil attest ek`).
std::string tpm_public_pem(const std::vector<uint8_t>& tpm2b_public);

}  // namespace vigil::cli::attest_support
