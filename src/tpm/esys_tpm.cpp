// PCRs of a TPM 2.0 through tss2-esys: a device (/dev/tpmrm0), swtpm or the Microsoft
// simulator, reached through the TCTI loader. Each extend or read is its own connection
// (esys_connection.h), so other clients of a one-client TCP TPM get their turn in between.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include <tss2/tss2_esys.h>

#include "tpm/esys_connection.h"
#include "tpm/tpm.h"

namespace vigil::tpm {

namespace detail {
// Defined in software_pcrs.cpp: orders the caller's digests by bank and rejects wrong sizes,
// unknown banks, duplicates and missing banks.
Result<std::vector<const crypto::Digest*>> match_bank_digests(std::span<const crypto::HashAlgo> banks,
                                                              std::span<const crypto::Digest> digests);
}  // namespace detail

namespace {

struct AlgoMapping {
  TPM2_ALG_ID tpm;
  crypto::HashAlgo algo;
};
constexpr AlgoMapping kAlgos[] = {
    {TPM2_ALG_SHA1, crypto::HashAlgo::sha1},     {TPM2_ALG_SHA256, crypto::HashAlgo::sha256},
    {TPM2_ALG_SHA384, crypto::HashAlgo::sha384}, {TPM2_ALG_SHA512, crypto::HashAlgo::sha512},
    {TPM2_ALG_SM3_256, crypto::HashAlgo::sm3},
};

struct TpmBank {
  crypto::HashAlgo algo;
  TPM2_ALG_ID tpm_alg;
  uint8_t select_size;  // sizeofSelect the TPM reported for this bank
  bool operator==(const TpmBank&) const = default;
};

struct BankLayout {
  std::vector<TpmBank> banks;
  uint32_t pcr_count = 0;
};

// Active banks: those with any PCR allocated, among the algorithms vigil can hash.
Result<BankLayout> query_banks(const std::string& spec, ESYS_CONTEXT* esys) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc =
      Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owner(data);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(spec, "Esys_GetCapability(TPM2_CAP_PCRS)", rc);
  if (data == nullptr || data->capability != TPM2_CAP_PCRS) {
    return fail("TPM " + spec + ": Esys_GetCapability(TPM2_CAP_PCRS) returned no PCR selection");
  }
  const TPML_PCR_SELECTION& assigned = data->data.assignedPCR;
  const uint32_t count = std::min<uint32_t>(assigned.count, TPM2_NUM_PCR_BANKS);
  BankLayout layout;
  layout.pcr_count = 32;  // ESYS_TR_PCR0..ESYS_TR_PCR31
  for (uint32_t i = 0; i < count; ++i) {
    const TPMS_PCR_SELECTION& selection = assigned.pcrSelections[i];
    const uint8_t select_size = std::min<uint8_t>(selection.sizeofSelect, TPM2_PCR_SELECT_MAX);
    const bool any = std::any_of(selection.pcrSelect, selection.pcrSelect + select_size, [](BYTE b) { return b != 0; });
    const auto known = std::find_if(std::begin(kAlgos), std::end(kAlgos),
                                    [&](const AlgoMapping& m) { return m.tpm == selection.hash; });
    if (!any || known == std::end(kAlgos)) continue;
    if (std::any_of(layout.banks.begin(), layout.banks.end(), [&](const TpmBank& b) { return b.algo == known->algo; })) {
      continue;
    }
    layout.banks.push_back({known->algo, selection.hash, select_size});
    layout.pcr_count = std::min<uint32_t>(layout.pcr_count, select_size * 8u);
  }
  if (layout.banks.empty()) return fail("TPM " + spec + ": no active PCR bank in sha1/sha256/sha384/sha512/sm3");
  return layout;
}

class EsysPcrs final : public PcrBackend {
 public:
  static Result<std::unique_ptr<PcrBackend>> open(const std::string& spec) {
    auto connection = EsysConnection::open(spec);
    if (!connection) return std::unexpected(connection.error());
    auto layout = query_banks(spec, connection->esys());
    if (!layout) return std::unexpected(layout.error());
    auto backend = std::unique_ptr<EsysPcrs>(new EsysPcrs(spec));
    backend->layout_ = std::move(*layout);
    for (const auto& bank : backend->layout_.banks) backend->algos_.push_back(bank.algo);
    return std::unique_ptr<PcrBackend>(std::move(backend));
  }

  std::vector<crypto::HashAlgo> banks() const override { return algos_; }  // fixed after open

  Result<void> extend(uint32_t pcr, std::span<const crypto::Digest> digests) override {
    if (pcr >= layout_.pcr_count) return no_such_pcr("PCR extend", pcr);
    auto matched = detail::match_bank_digests(algos_, digests);
    if (!matched) return fail("TPM " + spec_ + ": " + matched.error().message);
    TPML_DIGEST_VALUES values{};
    values.count = static_cast<UINT32>(layout_.banks.size());
    for (size_t i = 0; i < layout_.banks.size(); ++i) {
      const crypto::Digest& digest = *(*matched)[i];
      values.digests[i].hashAlg = layout_.banks[i].tpm_alg;
      static_assert(sizeof(values.digests[i].digest) >= crypto::kMaxDigestSize);
      std::memcpy(&values.digests[i].digest, digest.bytes.data(), digest.size);
    }
    auto connection = connect();
    if (!connection) return std::unexpected(connection.error());
    const TSS2_RC rc =
        Esys_PCR_Extend(connection->esys(), ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) return failed("Esys_PCR_Extend(PCR " + std::to_string(pcr) + ")", rc);
    return {};
  }

  Result<crypto::Digest> read(uint32_t pcr, crypto::HashAlgo bank) override {
    if (pcr >= layout_.pcr_count) return no_such_pcr("PCR read", pcr);
    const auto found =
        std::find_if(layout_.banks.begin(), layout_.banks.end(), [&](const TpmBank& b) { return b.algo == bank; });
    if (found == layout_.banks.end()) {
      return fail("TPM " + spec_ + ": PCR read: no active " + std::string(crypto::hash_name(bank)) + " bank");
    }
    TPML_PCR_SELECTION selection{};
    selection.count = 1;
    selection.pcrSelections[0].hash = found->tpm_alg;
    selection.pcrSelections[0].sizeofSelect = found->select_size;
    selection.pcrSelections[0].pcrSelect[pcr / 8] = static_cast<BYTE>(1u << (pcr % 8));

    const std::string what =
        "Esys_PCR_Read(PCR " + std::to_string(pcr) + ", " + std::string(crypto::hash_name(bank)) + ")";
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION* selection_out = nullptr;
    TPML_DIGEST* values_out = nullptr;
    {
      auto connection = connect();
      if (!connection) return std::unexpected(connection.error());
      const TSS2_RC rc = Esys_PCR_Read(connection->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &selection,
                                       &update_counter, &selection_out, &values_out);
      if (rc != TSS2_RC_SUCCESS) {
        Esys_Free(selection_out);
        Esys_Free(values_out);
        return failed(what, rc);
      }
    }
    EsysPtr<TPML_PCR_SELECTION> selection_owner(selection_out);
    EsysPtr<TPML_DIGEST> values_owner(values_out);

    const size_t expected = crypto::hash_size(bank);
    if (values_out == nullptr || values_out->count != 1 || values_out->digests[0].size != expected) {
      return fail("TPM " + spec_ + ": " + what + ": the TPM returned no " + std::to_string(expected) +
                  "-byte value (PCR not allocated in this bank?)");
    }
    crypto::Digest value;
    value.algo = bank;
    value.size = static_cast<uint8_t>(expected);
    std::memcpy(value.bytes.data(), values_out->digests[0].buffer, expected);
    return value;
  }

  std::string describe() const override { return "TPM 2.0 via " + spec_; }

 private:
  explicit EsysPcrs(std::string spec) : spec_(std::move(spec)) {}

  std::unexpected<Error> no_such_pcr(const std::string& what, uint32_t pcr) const {
    return fail("TPM " + spec_ + ": " + what + ": no PCR " + std::to_string(pcr) + " (this TPM has 0.." +
                std::to_string(layout_.pcr_count - 1) + ")");
  }

  // A connection for one operation. After a failure below the TPM (it died, restarted, or
  // the transport broke) the TPM on the other end may not be the one opened with: its banks
  // are checked again before it is used.
  Result<EsysConnection> connect() {
    auto connection = EsysConnection::open(spec_);
    if (!connection) {
      recheck_banks_ = true;
      return std::unexpected(connection.error());
    }
    if (recheck_banks_) {
      auto layout = query_banks(spec_, connection->esys());
      if (!layout) return fail("reconnecting: " + layout.error().message);
      if (layout->banks != layout_.banks || layout->pcr_count != layout_.pcr_count) {
        return fail("TPM " + spec_ + ": reconnected, but the PCR banks are not the ones opened with");
      }
      recheck_banks_ = false;
    }
    return connection;
  }

  std::unexpected<Error> failed(const std::string& what, TSS2_RC rc) {
    if (!is_tpm_response_code(rc)) recheck_banks_ = true;
    return tss_fail(spec_, what, rc);
  }

  const std::string spec_;
  BankLayout layout_;                    // fixed after open
  std::vector<crypto::HashAlgo> algos_;  // layout_.banks[i].algo, for banks()
  std::atomic<bool> recheck_banks_ = false;  // extends and reads may come from several threads
};

}  // namespace

Result<std::unique_ptr<PcrBackend>> open_pcr_backend(const std::string& spec) {
  if (spec == "none") return make_software_pcrs();
  if (spec.empty()) return fail("TPM spec is empty (expected none, device:PATH or swtpm:host=H,port=P)");
  return EsysPcrs::open(spec);
}

}  // namespace vigil::tpm
