// Software PCR banks: what `tpm: none` extends into. Same arithmetic as a TPM
// (new = H(old || digest) per bank), 24 PCRs per bank, all zero at start.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <mutex>

#include "tpm/tpm.h"

namespace vigil::tpm {

namespace detail {

// Puts the caller's digests in bank order: result[i] is the digest for banks[i]. Shared with
// the TPM backend (esys_tpm.cpp), so both accept and refuse exactly the same input.
Result<std::vector<const crypto::Digest*>> match_bank_digests(std::span<const crypto::HashAlgo> banks,
                                                              std::span<const crypto::Digest> digests) {
  std::vector<const crypto::Digest*> matched(banks.size(), nullptr);
  for (const auto& digest : digests) {
    const size_t expected = crypto::hash_size(digest.algo);
    if (expected == 0 || digest.size != expected) {
      return fail("PCR extend: " + std::string(crypto::hash_name(digest.algo)) + " digest has " +
                  std::to_string(digest.size) + " bytes, expected " + std::to_string(expected));
    }
    const auto bank = std::find(banks.begin(), banks.end(), digest.algo);
    if (bank == banks.end()) {
      return fail("PCR extend: no active " + std::string(crypto::hash_name(digest.algo)) + " bank");
    }
    auto& slot = matched[static_cast<size_t>(bank - banks.begin())];
    if (slot != nullptr) {
      return fail("PCR extend: two " + std::string(crypto::hash_name(digest.algo)) + " digests");
    }
    slot = &digest;
  }
  for (size_t i = 0; i < banks.size(); ++i) {
    if (matched[i] == nullptr) {
      return fail("PCR extend: missing the " + std::string(crypto::hash_name(banks[i])) +
                  " digest (one per active bank)");
    }
  }
  return matched;
}

}  // namespace detail

namespace {

constexpr uint32_t kPcrCount = 24;

class SoftwarePcrs final : public PcrBackend {
 public:
  explicit SoftwarePcrs(const std::vector<crypto::HashAlgo>& banks) {
    for (const auto algo : banks) {
      // Only banks this build can hash; each once.
      if (crypto::hash_size(algo) == 0 || crypto::hash_md(algo) == nullptr) continue;
      if (std::find(banks_.begin(), banks_.end(), algo) != banks_.end()) continue;
      banks_.push_back(algo);
      Bank bank;
      for (auto& pcr : bank) {
        pcr.algo = algo;
        pcr.size = static_cast<uint8_t>(crypto::hash_size(algo));
      }
      values_.push_back(bank);
    }
  }

  std::vector<crypto::HashAlgo> banks() const override { return banks_; }  // fixed after construction

  Result<void> extend(uint32_t pcr, std::span<const crypto::Digest> digests) override {
    if (pcr >= kPcrCount) return fail("PCR extend: no PCR " + std::to_string(pcr) + " (software PCRs are 0..23)");
    auto matched = detail::match_bank_digests(banks_, digests);
    if (!matched) return std::unexpected(matched.error());

    std::lock_guard lock(mutex_);
    // Compute every bank first, then commit, so a failure leaves all banks unchanged.
    std::vector<crypto::Digest> updated;
    updated.reserve(banks_.size());
    for (size_t i = 0; i < banks_.size(); ++i) {
      const crypto::Digest& old_value = values_[i][pcr];
      const crypto::Digest& digest = *(*matched)[i];
      std::array<uint8_t, 2 * crypto::kMaxDigestSize> joined{};
      std::memcpy(joined.data(), old_value.bytes.data(), old_value.size);
      std::memcpy(joined.data() + old_value.size, digest.bytes.data(), digest.size);
      auto next = hasher_.of_bytes(banks_[i], std::span<const uint8_t>(joined.data(), old_value.size + digest.size));
      if (!next) return fail("PCR extend " + std::to_string(pcr) + " " + std::string(crypto::hash_name(banks_[i])) + ": " +
                              next.error().message);
      updated.push_back(*next);
    }
    for (size_t i = 0; i < banks_.size(); ++i) values_[i][pcr] = updated[i];
    return {};
  }

  Result<crypto::Digest> read(uint32_t pcr, crypto::HashAlgo bank) override {
    if (pcr >= kPcrCount) return fail("PCR read: no PCR " + std::to_string(pcr) + " (software PCRs are 0..23)");
    const auto found = std::find(banks_.begin(), banks_.end(), bank);
    if (found == banks_.end()) return fail("PCR read: no active " + std::string(crypto::hash_name(bank)) + " bank");
    std::lock_guard lock(mutex_);
    return values_[static_cast<size_t>(found - banks_.begin())][pcr];
  }

  std::string describe() const override {
    std::string names;
    for (const auto algo : banks_) {
      if (!names.empty()) names += ", ";
      names += crypto::hash_name(algo);
    }
    return "software PCRs (" + names + ")";
  }

 private:
  using Bank = std::array<crypto::Digest, kPcrCount>;
  std::vector<crypto::HashAlgo> banks_;
  std::mutex mutex_;             // guards values_ and hasher_
  std::vector<Bank> values_;     // parallel to banks_
  crypto::Hasher hasher_;
};

}  // namespace

std::unique_ptr<PcrBackend> make_software_pcrs(std::vector<crypto::HashAlgo> banks) {
  return std::make_unique<SoftwarePcrs>(banks);
}

}  // namespace vigil::tpm
