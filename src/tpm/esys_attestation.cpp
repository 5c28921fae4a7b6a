// The agent's side of attestation in a TPM 2.0 through tss2-esys (attestation.h). Every call is
// one connection (esys_connection.h); keys the TPM makes for a call are flushed before it ends.
// The AK is a primary key: the owner seed and a fixed template make it the same key every
// time, so nothing is stored in the TPM or on disk.
#include <algorithm>
#include <array>
#include <cstring>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "tpm/attestation.h"
#include "tpm/esys_connection.h"
#include "tpm/tpm_bytes.h"

namespace vigil::tpm {

namespace {

constexpr TPM2_HANDLE kEkPersistentHandle = 0x81010001;  // TCG: RSA 2048 EK
constexpr TPM2_HANDLE kEkCertificateIndex = 0x01c00002;  // TCG: RSA 2048 EK certificate
constexpr size_t kMaxNonceSize = 64;
constexpr uint16_t kDefaultNvBufferMax = 512;

// PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG default EK (EK Credential
// Profile, template L-1).
constexpr uint8_t kEkPolicy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                   0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                   0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

// TCG EK Credential Profile, default RSA 2048 EK template (L-1).
TPM2B_PUBLIC ek_template() {
  TPM2B_PUBLIC in{};
  TPMT_PUBLIC& area = in.publicArea;
  area.type = TPM2_ALG_RSA;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  area.authPolicy.size = sizeof kEkPolicy;
  std::memcpy(area.authPolicy.buffer, kEkPolicy, sizeof kEkPolicy);
  area.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
  area.parameters.rsaDetail.symmetric.keyBits.aes = 128;
  area.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  area.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  area.parameters.rsaDetail.keyBits = 2048;
  area.parameters.rsaDetail.exponent = 0;
  area.unique.rsa.size = 256;  // zeros
  return in;
}

// The AK: ECC P-256, ECDSA-SHA256, restricted signing, fixedTPM/fixedParent, made in the TPM.
TPM2B_PUBLIC ak_template() {
  TPM2B_PUBLIC in{};
  TPMT_PUBLIC& area = in.publicArea;
  area.type = TPM2_ALG_ECC;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  area.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  area.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return in;
}

// An ESYS object handle for the length of one call: transient keys are flushed from the TPM,
// other handles (persistent keys, NV indexes, sessions) only released from ESYS.
class TpmObject {
 public:
  enum class Release { flush, close };
  TpmObject(ESYS_CONTEXT* esys, ESYS_TR handle, Release release) : esys_(esys), handle_(handle), release_(release) {}
  ~TpmObject() {
    if (handle_ == ESYS_TR_NONE) return;
    if (release_ == Release::flush) {
      (void)Esys_FlushContext(esys_, handle_);  // nothing to do on failure: the context is closing
    } else {
      (void)Esys_TR_Close(esys_, &handle_);
    }
  }
  TpmObject(const TpmObject&) = delete;
  TpmObject& operator=(const TpmObject&) = delete;
  ESYS_TR get() const { return handle_; }

 private:
  ESYS_CONTEXT* esys_;
  ESYS_TR handle_;
  Release release_;
};

Result<std::vector<uint8_t>> marshal_public(const std::string& spec, const TPM2B_PUBLIC& public_area) {
  std::vector<uint8_t> out(sizeof(TPM2B_PUBLIC));
  size_t offset = 0;
  if (const TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&public_area, out.data(), out.size(), &offset);
      rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, "Tss2_MU_TPM2B_PUBLIC_Marshal", rc);
  }
  out.resize(offset);
  return out;
}

// True when the TPM has a persistent object or NV index at `handle`.
Result<bool> handle_exists(const EsysConnection& connection, TPM2_HANDLE handle) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc = Esys_GetCapability(connection.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        TPM2_CAP_HANDLES, handle, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owner(data);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_GetCapability(TPM2_CAP_HANDLES)", rc);
  return data != nullptr && data->capability == TPM2_CAP_HANDLES && data->data.handles.count > 0 &&
         data->data.handles.handle[0] == handle;
}

struct LoadedKey {
  std::unique_ptr<TpmObject> object;
  std::vector<uint8_t> public_area;  // TPM2B_PUBLIC, marshalled
};

Result<LoadedKey> create_primary(const EsysConnection& connection, ESYS_TR hierarchy, const TPM2B_PUBLIC& in_public,
                                 const char* what) {
  const TPM2B_SENSITIVE_CREATE in_sensitive{};
  const TPM2B_DATA outside_info{};
  const TPML_PCR_SELECTION creation_pcrs{};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  const TSS2_RC rc = Esys_CreatePrimary(connection.esys(), hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                        &in_sensitive, &in_public, &outside_info, &creation_pcrs, &handle, &out_public,
                                        &creation_data, &creation_hash, &creation_ticket);
  EsysPtr<TPM2B_PUBLIC> public_owner(out_public);
  EsysPtr<TPM2B_CREATION_DATA> data_owner(creation_data);
  EsysPtr<TPM2B_DIGEST> hash_owner(creation_hash);
  EsysPtr<TPMT_TK_CREATION> ticket_owner(creation_ticket);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), std::string("Esys_CreatePrimary(") + what + ")", rc);
  LoadedKey key{std::make_unique<TpmObject>(connection.esys(), handle, TpmObject::Release::flush), {}};
  if (out_public == nullptr) return fail("TPM " + connection.spec() + ": Esys_CreatePrimary returned no public area");
  auto marshalled = marshal_public(connection.spec(), *out_public);
  if (!marshalled) return std::unexpected(marshalled.error());
  key.public_area = std::move(*marshalled);
  return key;
}

// The EK: the persistent one at 0x81010001, else the default template as a primary.
Result<LoadedKey> load_endorsement_key(const EsysConnection& connection) {
  auto persistent = handle_exists(connection, kEkPersistentHandle);
  if (!persistent) return std::unexpected(persistent.error());
  if (!*persistent) return create_primary(connection, ESYS_TR_RH_ENDORSEMENT, ek_template(), "EK");

  ESYS_TR handle = ESYS_TR_NONE;
  if (const TSS2_RC rc = Esys_TR_FromTPMPublic(connection.esys(), kEkPersistentHandle, ESYS_TR_NONE, ESYS_TR_NONE,
                                               ESYS_TR_NONE, &handle);
      rc != TSS2_RC_SUCCESS) {
    return tss_fail(connection.spec(), "Esys_TR_FromTPMPublic(0x81010001)", rc);
  }
  LoadedKey key{std::make_unique<TpmObject>(connection.esys(), handle, TpmObject::Release::close), {}};
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_NAME* name = nullptr;
  TPM2B_NAME* qualified_name = nullptr;
  const TSS2_RC rc = Esys_ReadPublic(connection.esys(), handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out_public,
                                     &name, &qualified_name);
  EsysPtr<TPM2B_PUBLIC> public_owner(out_public);
  EsysPtr<TPM2B_NAME> name_owner(name);
  EsysPtr<TPM2B_NAME> qualified_owner(qualified_name);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_ReadPublic(0x81010001)", rc);
  if (out_public == nullptr) return fail("TPM " + connection.spec() + ": Esys_ReadPublic returned no public area");
  auto marshalled = marshal_public(connection.spec(), *out_public);
  if (!marshalled) return std::unexpected(marshalled.error());
  key.public_area = std::move(*marshalled);
  return key;
}

Result<LoadedKey> load_attestation_key(const EsysConnection& connection) {
  return create_primary(connection, ESYS_TR_RH_OWNER, ak_template(), "AK");
}

uint16_t nv_buffer_max(const EsysConnection& connection) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc = Esys_GetCapability(connection.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owner(data);
  if (rc != TSS2_RC_SUCCESS || data == nullptr || data->data.tpmProperties.count == 0 ||
      data->data.tpmProperties.tpmProperty[0].property != TPM2_PT_NV_BUFFER_MAX) {
    return kDefaultNvBufferMax;
  }
  const uint32_t value = data->data.tpmProperties.tpmProperty[0].value;
  return value == 0 || value > TPM2_MAX_NV_BUFFER_SIZE ? kDefaultNvBufferMax : static_cast<uint16_t>(value);
}

// Reads the whole NV index, authorised by the index itself (EK certificate indexes are
// AUTHREAD with an empty auth) or, failing that, by the owner.
Result<std::vector<uint8_t>> read_nv(const EsysConnection& connection, TPM2_HANDLE index) {
  ESYS_TR handle = ESYS_TR_NONE;
  if (const TSS2_RC rc =
          Esys_TR_FromTPMPublic(connection.esys(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
      rc != TSS2_RC_SUCCESS) {
    return tss_fail(connection.spec(), "Esys_TR_FromTPMPublic(NV index)", rc);
  }
  TpmObject nv(connection.esys(), handle, TpmObject::Release::close);
  TPM2B_NV_PUBLIC* nv_public = nullptr;
  TPM2B_NAME* nv_name = nullptr;
  const TSS2_RC rc =
      Esys_NV_ReadPublic(connection.esys(), handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public, &nv_name);
  EsysPtr<TPM2B_NV_PUBLIC> public_owner(nv_public);
  EsysPtr<TPM2B_NAME> name_owner(nv_name);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_NV_ReadPublic", rc);
  const uint16_t size = nv_public->nvPublic.dataSize;
  const uint16_t chunk = nv_buffer_max(connection);

  std::vector<uint8_t> out;
  out.reserve(size);
  ESYS_TR auth = (nv_public->nvPublic.attributes & TPMA_NV_AUTHREAD) ? handle : ESYS_TR_RH_OWNER;
  while (out.size() < size) {
    const uint16_t want = static_cast<uint16_t>(std::min<size_t>(chunk, size - out.size()));
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    const TSS2_RC read_rc = Esys_NV_Read(connection.esys(), auth, handle, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                         ESYS_TR_NONE, want, static_cast<uint16_t>(out.size()), &data);
    EsysPtr<TPM2B_MAX_NV_BUFFER> data_owner(data);
    if (read_rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_NV_Read", read_rc);
    if (data == nullptr || data->size == 0 || data->size > want) {
      return fail("TPM " + connection.spec() + ": Esys_NV_Read returned " + std::to_string(data ? data->size : 0) +
                  " bytes, asked for " + std::to_string(want));
    }
    out.insert(out.end(), data->buffer, data->buffer + data->size);
  }
  return out;
}

struct BankPcrs {
  TPMI_ALG_HASH tpm_alg = TPM2_ALG_NULL;
  uint8_t select_size = 0;
  std::array<uint8_t, TPM2_PCR_SELECT_MAX> allocated{};
};

// Which PCRs the TPM has allocated in `bank`.
Result<BankPcrs> allocated_pcrs(const EsysConnection& connection, crypto::HashAlgo bank) {
  const auto tpm_alg = tpm_alg_from_hash(bank);
  if (!tpm_alg) return fail("TPM " + connection.spec() + ": no TPM algorithm for " + std::string(crypto::hash_name(bank)));
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc = Esys_GetCapability(connection.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS,
                                        0, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owner(data);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_GetCapability(TPM2_CAP_PCRS)", rc);
  if (data != nullptr && data->capability == TPM2_CAP_PCRS) {
    const TPML_PCR_SELECTION& assigned = data->data.assignedPCR;
    for (uint32_t i = 0; i < std::min<uint32_t>(assigned.count, TPM2_NUM_PCR_BANKS); ++i) {
      const TPMS_PCR_SELECTION& selection = assigned.pcrSelections[i];
      if (selection.hash != *tpm_alg) continue;
      BankPcrs pcrs;
      pcrs.tpm_alg = selection.hash;
      pcrs.select_size = std::min<uint8_t>(selection.sizeofSelect, TPM2_PCR_SELECT_MAX);
      std::copy(selection.pcrSelect, selection.pcrSelect + pcrs.select_size, pcrs.allocated.begin());
      if (std::any_of(pcrs.allocated.begin(), pcrs.allocated.end(), [](uint8_t b) { return b != 0; })) return pcrs;
    }
  }
  return fail("TPM " + connection.spec() + ": no active " + std::string(crypto::hash_name(bank)) + " PCR bank");
}

bool selected(const TPMS_PCR_SELECTION& selection, uint32_t pcr) {
  return pcr / 8 < selection.sizeofSelect && (selection.pcrSelect[pcr / 8] & (1u << (pcr % 8))) != 0;
}

// Reads every PCR in `wanted` (one bank). A TPM returns at most 8 values per TPM2_PCR_Read, and
// says which it returned; the rest are asked for again.
Result<std::vector<crypto::Digest>> read_pcrs(const EsysConnection& connection, crypto::HashAlgo bank,
                                              const TPMS_PCR_SELECTION& wanted, const std::vector<uint32_t>& pcrs) {
  TPML_PCR_SELECTION remaining{};
  remaining.count = 1;
  remaining.pcrSelections[0] = wanted;
  std::vector<std::optional<crypto::Digest>> values(pcrs.size());
  const size_t digest_size = crypto::hash_size(bank);
  for (;;) {
    const auto& left = remaining.pcrSelections[0];
    if (std::all_of(left.pcrSelect, left.pcrSelect + left.sizeofSelect, [](BYTE b) { return b == 0; })) break;
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION* selection_out = nullptr;
    TPML_DIGEST* digests = nullptr;
    const TSS2_RC rc = Esys_PCR_Read(connection.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining,
                                     &update_counter, &selection_out, &digests);
    EsysPtr<TPML_PCR_SELECTION> selection_owner(selection_out);
    EsysPtr<TPML_DIGEST> digests_owner(digests);
    if (rc != TSS2_RC_SUCCESS) return tss_fail(connection.spec(), "Esys_PCR_Read", rc);
    if (selection_out == nullptr || digests == nullptr || selection_out->count != 1 || digests->count == 0) {
      return fail("TPM " + connection.spec() + ": Esys_PCR_Read returned no values");
    }
    uint32_t next = 0;
    for (size_t i = 0; i < pcrs.size(); ++i) {
      if (!selected(selection_out->pcrSelections[0], pcrs[i])) continue;
      if (next >= digests->count || digests->digests[next].size != digest_size) {
        return fail("TPM " + connection.spec() + ": Esys_PCR_Read returned fewer or shorter values than it selected");
      }
      crypto::Digest value;
      value.algo = bank;
      value.size = static_cast<uint8_t>(digest_size);
      std::memcpy(value.bytes.data(), digests->digests[next].buffer, digest_size);
      values[i] = value;
      ++next;
      remaining.pcrSelections[0].pcrSelect[pcrs[i] / 8] &= static_cast<BYTE>(~(1u << (pcrs[i] % 8)));
    }
    if (next == 0) return fail("TPM " + connection.spec() + ": Esys_PCR_Read returned none of the PCRs asked for");
  }
  std::vector<crypto::Digest> out;
  for (auto& value : values) out.push_back(*value);  // every one was read, or the loop would not end
  return out;
}

template <class T>
Result<T> unmarshal(const std::string& spec, std::span<const uint8_t> bytes, const char* what,
                    TSS2_RC (*function)(const uint8_t*, size_t, size_t*, T*)) {
  T out{};
  size_t offset = 0;
  if (const TSS2_RC rc = function(bytes.data(), bytes.size(), &offset, &out); rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, std::string("malformed ") + what, rc);
  }
  if (offset != bytes.size()) {
    return fail("TPM " + spec + ": " + what + " has " + std::to_string(bytes.size() - offset) + " trailing bytes");
  }
  return out;
}

class EsysAttestation final : public AttestationTpm {
 public:
  explicit EsysAttestation(std::string spec) : spec_(std::move(spec)) {}

  Result<std::vector<uint8_t>> endorsement_key() override {
    auto connection = EsysConnection::open(spec_);
    if (!connection) return std::unexpected(connection.error());
    auto ek = load_endorsement_key(*connection);
    if (!ek) return std::unexpected(ek.error());
    return std::move(ek->public_area);
  }

  Result<std::optional<std::vector<uint8_t>>> endorsement_certificate() override {
    auto connection = EsysConnection::open(spec_);
    if (!connection) return std::unexpected(connection.error());
    auto present = handle_exists(*connection, kEkCertificateIndex);
    if (!present) return std::unexpected(present.error());
    if (!*present) return std::optional<std::vector<uint8_t>>{};
    auto certificate = read_nv(*connection, kEkCertificateIndex);
    if (!certificate) return fail(certificate.error().message + " (EK certificate, NV index 0x01c00002)");
    return std::optional<std::vector<uint8_t>>(std::move(*certificate));
  }

  Result<std::vector<uint8_t>> attestation_key() override {
    auto connection = EsysConnection::open(spec_);
    if (!connection) return std::unexpected(connection.error());
    auto ak = load_attestation_key(*connection);
    if (!ak) return std::unexpected(ak.error());
    return std::move(ak->public_area);
  }

  Result<std::vector<uint8_t>> activate_credential(std::span<const uint8_t> credential_blob,
                                                   std::span<const uint8_t> encrypted_secret) override {
    auto blob = unmarshal<TPM2B_ID_OBJECT>(spec_, credential_blob, "credential blob (TPM2B_ID_OBJECT)",
                                           &Tss2_MU_TPM2B_ID_OBJECT_Unmarshal);
    if (!blob) return std::unexpected(blob.error());
    auto secret = unmarshal<TPM2B_ENCRYPTED_SECRET>(spec_, encrypted_secret,
                                                    "encrypted secret (TPM2B_ENCRYPTED_SECRET)",
                                                    &Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal);
    if (!secret) return std::unexpected(secret.error());

    auto connection = EsysConnection::open(spec_);
    if (!connection) return std::unexpected(connection.error());
    auto ek = load_endorsement_key(*connection);
    if (!ek) return std::unexpected(ek.error());
    auto ak = load_attestation_key(*connection);
    if (!ak) return std::unexpected(ak.error());

    // The EK's authPolicy is PolicySecret(TPM_RH_ENDORSEMENT): a policy session that has
    // proven knowledge of the (empty) endorsement hierarchy auth.
    const TPMT_SYM_DEF no_symmetric{.algorithm = TPM2_ALG_NULL, .keyBits = {}, .mode = {}};
    ESYS_TR session_handle = ESYS_TR_NONE;
    if (const TSS2_RC rc = Esys_StartAuthSession(connection->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                                 ESYS_TR_NONE, ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &no_symmetric,
                                                 TPM2_ALG_SHA256, &session_handle);
        rc != TSS2_RC_SUCCESS) {
      return tss_fail(spec_, "Esys_StartAuthSession(policy)", rc);
    }
    TpmObject session(connection->esys(), session_handle, TpmObject::Release::flush);
    TPM2B_TIMEOUT* timeout = nullptr;
    TPMT_TK_AUTH* ticket = nullptr;
    const TSS2_RC policy_rc =
        Esys_PolicySecret(connection->esys(), ESYS_TR_RH_ENDORSEMENT, session.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                          ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, &timeout, &ticket);
    EsysPtr<TPM2B_TIMEOUT> timeout_owner(timeout);
    EsysPtr<TPMT_TK_AUTH> ticket_owner(ticket);
    if (policy_rc != TSS2_RC_SUCCESS) return tss_fail(spec_, "Esys_PolicySecret(TPM_RH_ENDORSEMENT)", policy_rc);

    TPM2B_DIGEST* recovered = nullptr;
    const TSS2_RC rc = Esys_ActivateCredential(connection->esys(), ak->object->get(), ek->object->get(),
                                               ESYS_TR_PASSWORD, session.get(), ESYS_TR_NONE, &*blob, &*secret,
                                               &recovered);
    EsysPtr<TPM2B_DIGEST> recovered_owner(recovered);
    if (rc != TSS2_RC_SUCCESS) return tss_fail(spec_, "Esys_ActivateCredential", rc);
    if (recovered == nullptr) return fail("TPM " + spec_ + ": Esys_ActivateCredential returned no secret");
    return std::vector<uint8_t>(recovered->buffer, recovered->buffer + recovered->size);
  }

  Result<QuoteEvidence> quote(std::span<const uint8_t> nonce, const PcrSelection& selection) override {
    if (nonce.size() > kMaxNonceSize) {
      return fail("TPM " + spec_ + ": quote nonce of " + std::to_string(nonce.size()) + " bytes (at most " +
                  std::to_string(kMaxNonceSize) + ")");
    }
    if (!std::is_sorted(selection.pcrs.begin(), selection.pcrs.end()) ||
        std::adjacent_find(selection.pcrs.begin(), selection.pcrs.end()) != selection.pcrs.end()) {
      return fail("TPM " + spec_ + ": quote: PCR numbers must be ascending and distinct");
    }
    auto connection = EsysConnection::open(spec_);
    if (!connection) return std::unexpected(connection.error());
    auto bank = allocated_pcrs(*connection, selection.bank);
    if (!bank) return std::unexpected(bank.error());

    QuoteEvidence evidence;
    evidence.selection.bank = selection.bank;
    TPMS_PCR_SELECTION wanted{};
    wanted.hash = bank->tpm_alg;
    wanted.sizeofSelect = bank->select_size;
    for (uint32_t pcr : selection.pcrs) {
      if (pcr / 8 >= bank->select_size || (bank->allocated[pcr / 8] & (1u << (pcr % 8))) == 0) continue;
      wanted.pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
      evidence.selection.pcrs.push_back(pcr);
    }
    if (evidence.selection.pcrs.empty()) {
      return fail("TPM " + spec_ + ": quote: none of the PCRs asked for exists in the " +
                  std::string(crypto::hash_name(selection.bank)) + " bank");
    }

    auto ak = load_attestation_key(*connection);
    if (!ak) return std::unexpected(ak.error());
    TPM2B_DATA qualifying{};
    qualifying.size = static_cast<UINT16>(nonce.size());
    std::copy(nonce.begin(), nonce.end(), qualifying.buffer);
    const TPMT_SIG_SCHEME key_scheme{.scheme = TPM2_ALG_NULL, .details = {}};  // the AK's own: ECDSA-SHA256
    TPML_PCR_SELECTION pcr_select{};
    pcr_select.count = 1;
    pcr_select.pcrSelections[0] = wanted;
    TPM2B_ATTEST* quoted = nullptr;
    TPMT_SIGNATURE* signature = nullptr;
    const TSS2_RC rc = Esys_Quote(connection->esys(), ak->object->get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &qualifying, &key_scheme, &pcr_select, &quoted, &signature);
    EsysPtr<TPM2B_ATTEST> quoted_owner(quoted);
    EsysPtr<TPMT_SIGNATURE> signature_owner(signature);
    if (rc != TSS2_RC_SUCCESS) return tss_fail(spec_, "Esys_Quote", rc);
    if (quoted == nullptr || signature == nullptr) return fail("TPM " + spec_ + ": Esys_Quote returned nothing");
    evidence.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
    evidence.signature.resize(sizeof(TPMT_SIGNATURE));
    size_t offset = 0;
    if (const TSS2_RC marshal_rc =
            Tss2_MU_TPMT_SIGNATURE_Marshal(signature, evidence.signature.data(), evidence.signature.size(), &offset);
        marshal_rc != TSS2_RC_SUCCESS) {
      return tss_fail(spec_, "Tss2_MU_TPMT_SIGNATURE_Marshal", marshal_rc);
    }
    evidence.signature.resize(offset);

    // Same connection: a one-client TCP TPM cannot be extended by anyone in between.
    auto values = read_pcrs(*connection, selection.bank, wanted, evidence.selection.pcrs);
    if (!values) return std::unexpected(values.error());
    evidence.pcr_values = std::move(*values);
    return evidence;
  }

  std::string describe() const override { return "TPM 2.0 via " + spec_; }

 private:
  const std::string spec_;
};

}  // namespace

Result<std::unique_ptr<AttestationTpm>> open_attestation_tpm(const std::string& spec) {
  if (spec == "none") return fail("TPM 'none' (software PCRs) cannot attest: attestation needs a TPM 2.0");
  if (spec.empty()) return fail("TPM spec is empty (expected device:PATH or swtpm:host=H,port=P)");
  // One contact now, so a wrong spec is reported at start rather than at the first round.
  auto connection = EsysConnection::open(spec);
  if (!connection) return std::unexpected(connection.error());
  return std::unique_ptr<AttestationTpm>(std::make_unique<EsysAttestation>(spec));
}

}  // namespace vigil::tpm
