#pragma once
// PCRs that the measurement list is extended into: a TPM 2.0 (through tss2-esys) or a
// software bank when the config says `tpm: none`.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::tpm {

class PcrBackend {
 public:
  virtual ~PcrBackend() = default;
  // Active banks, e.g. {sha1, sha256}.
  virtual std::vector<crypto::HashAlgo> banks() const = 0;
  // Extends `pcr` in every active bank; `digests` holds one digest per bank (any order),
  // each in its bank's algorithm.
  virtual Result<void> extend(uint32_t pcr, std::span<const crypto::Digest> digests) = 0;
  virtual Result<crypto::Digest> read(uint32_t pcr, crypto::HashAlgo bank) = 0;
  virtual std::string describe() const = 0;  // "software PCRs", "TPM 2.0 via swtpm:host=...,port=..."
};

std::unique_ptr<PcrBackend> make_software_pcrs(std::vector<crypto::HashAlgo> banks = {crypto::HashAlgo::sha1,
                                                                                      crypto::HashAlgo::sha256});

// spec: "none" (software), "device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"
// (the TCTI names of tss2-tctildr). Errors name the spec and what failed.
Result<std::unique_ptr<PcrBackend>> open_pcr_backend(const std::string& spec);

}  // namespace vigil::tpm
