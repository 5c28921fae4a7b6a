#include "cli/attest_support.h"

#include <sys/stat.h>

#include <openssl/x509.h>

#include <filesystem>

#include "crypto/crypto.h"
#include "tpm/tpm_public.h"

namespace vigil::cli::attest_support {

std::unique_ptr<attest::Registry> open_registry(const std::string& state_dir, const std::string& database) {
  if (!database.empty()) return unwrap(attest::open_registry(database, "", 1));
  if (state_dir.empty()) throw UsageError("--state DIR is required");
  std::error_code error;
  if (!std::filesystem::exists(state_dir, error)) {
    std::filesystem::create_directories(state_dir, error);
    if (error) throw UsageError("cannot create " + state_dir + ": " + error.message());
    ::chmod(state_dir.c_str(), 0700);
  }
  return unwrap(attest::open_sqlite_registry(state_dir + "/verifier.db"));
}

std::vector<uint8_t> read_endorsement_key(const std::string& path) {
  auto bytes = unwrap(crypto::read_file(path));
  if (tpm::parse_tpm_public(bytes)) return bytes;
  auto key = crypto::Key::load_public(path);
  if (!key) throw UsageError(path + ": not a public key (PEM or DER) nor a TPM2B_PUBLIC: " + key.error().message);
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key->get(), &der);
  if (length <= 0) throw UsageError(path + ": cannot encode the key: " + openssl_errors());
  std::vector<uint8_t> spki(der, der + length);
  OPENSSL_free(der);
  return spki;
}

std::string tpm_public_pem(const std::vector<uint8_t>& tpm2b_public) {
  const std::string pem = tpm::public_key_pem(unwrap(tpm::parse_tpm_public(tpm2b_public)));
  if (pem.empty()) throw UsageError("cannot encode the endorsement key: " + openssl_errors());
  return pem;
}

}  // namespace vigil::cli::attest_support
