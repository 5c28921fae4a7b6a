#pragma once
// Software "TPM" quotes for attestation tests and benchmarks: an OpenSSL key as the AK, a
// tpm::TpmPublic filled directly, PCRs kept in memory, TPMS_ATTEST and TPMT_SIGNATURE marshalled
// as a TPM does, and IMA entries whose replay gives PCR 10. Header-only, so the verifier's tests
// and the bench can include it; every failure here is a failed gtest assertion in the caller.
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <tss2/tss2_tpm2_types.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "crypto/crypto.h"
#include "ima/ima.h"
#include "ima/measurement_list.h"
#include "tpm/attestation.h"
#include "tpm/tpm_bytes.h"
#include "tpm/tpm_public.h"

namespace vigil::test::attest {

inline std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

inline crypto::Digest hash_of(crypto::HashAlgo algo, std::span<const uint8_t> data) {
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(algo, data);
  EXPECT_TRUE(digest) << digest.error().message;
  return digest ? *digest : crypto::Digest{};
}

inline crypto::Digest zero_digest(crypto::HashAlgo algo = crypto::HashAlgo::sha256) {
  crypto::Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(crypto::hash_size(algo));
  return digest;
}

inline uint16_t tpm_alg(crypto::HashAlgo algo) { return tpm::tpm_alg_from_hash(algo).value_or(0); }

// Big-endian marshalling, as every TPM structure is.
struct Marshal {
  std::vector<uint8_t> out;
  Marshal& u8(uint8_t value) {
    out.push_back(value);
    return *this;
  }
  Marshal& u16(uint16_t value) { return u8(static_cast<uint8_t>(value >> 8)).u8(static_cast<uint8_t>(value)); }
  Marshal& u32(uint32_t value) { return u16(static_cast<uint16_t>(value >> 16)).u16(static_cast<uint16_t>(value)); }
  Marshal& u64(uint64_t value) { return u32(static_cast<uint32_t>(value >> 32)).u32(static_cast<uint32_t>(value)); }
  Marshal& raw(std::span<const uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Marshal& sized(std::span<const uint8_t> bytes) { return u16(static_cast<uint16_t>(bytes.size())).raw(bytes); }
};

// The quote's qualifiedSigner for a primary key in the owner hierarchy:
// nameAlg || H_nameAlg(TPM_RH_OWNER as 4 bytes || name).
inline std::vector<uint8_t> owner_primary_qualified_name(const tpm::TpmPublic& key) {
  Marshal input;
  input.u32(0x40000001).raw(key.name);
  const auto digest = hash_of(key.name_alg, input.out);
  Marshal name;
  name.u16(tpm_alg(key.name_alg)).raw(digest.view());
  return name.out;
}

inline tpm::PcrSelection quote_selection() {
  return {crypto::HashAlgo::sha256, {0, 1, 2, 3, 4, 5, 6, 7, 10}};
}

// Every field of TPMS_ATTEST (quote) and TPMT_SIGNATURE a test may want to get wrong.
struct QuoteParts {
  uint32_t magic = 0xff544347;
  uint16_t type = 0x8018;
  std::vector<uint8_t> qualified_signer;
  std::vector<uint8_t> extra_data;
  uint64_t clock = 1000;
  uint32_t reset_count = 1;
  uint32_t restart_count = 0;
  uint64_t firmware_version = 0x2023;
  tpm::PcrSelection quoted_selection;       // what TPMS_QUOTE_INFO names
  std::vector<uint8_t> pcr_digest;
};

inline std::vector<uint8_t> marshal_attest(const QuoteParts& parts) {
  Marshal attest;
  attest.u32(parts.magic).u16(parts.type).sized(parts.qualified_signer).sized(parts.extra_data);
  attest.u64(parts.clock).u32(parts.reset_count).u32(parts.restart_count).u8(1).u64(parts.firmware_version);
  attest.u32(1).u16(tpm_alg(parts.quoted_selection.bank)).u8(3);
  std::array<uint8_t, 3> bits{};
  for (const uint32_t pcr : parts.quoted_selection.pcrs) bits[pcr / 8] |= static_cast<uint8_t>(1u << (pcr % 8));
  attest.raw(bits).sized(parts.pcr_digest);
  return attest.out;
}

// A TPM of which only what a quote needs exists: the AK and the PCRs of the sha256 bank.
class SoftwareTpm {
 public:
  // algo: ecdsa_p256 (the agent's AK), ecdsa_p384 or rsa2048; sig_hash: the signing scheme's hash.
  explicit SoftwareTpm(crypto::KeyAlgo algo = crypto::KeyAlgo::ecdsa_p256,
                       crypto::HashAlgo sig_hash = crypto::HashAlgo::sha256)
      : SoftwareTpm(generated_key(algo), sig_hash) {}
  // With a given AK (a fixed key makes reproducible evidence, e.g. fuzzing seeds).
  explicit SoftwareTpm(crypto::Key ak_private, crypto::HashAlgo sig_hash = crypto::HashAlgo::sha256)
      : sig_hash_(sig_hash), ak_private_(std::move(ak_private)), ak_(public_area(ak_private_)) {
    reboot();
  }

  static crypto::Key generated_key(crypto::KeyAlgo algo) {
    auto key = crypto::generate_key(algo);
    if (!key) {
      ADD_FAILURE() << "cannot generate the AK: " << key.error().message;
      std::abort();
    }
    return std::move(*key);
  }
  // The AK's TPM2B_PUBLIC as a TPM would report it (restricted signing key, ECDSA or RSASSA
  // with SHA-256), parsed like the verifier parses an enrolled AK: real name, real attributes.
  static std::vector<uint8_t> marshalled_public(const crypto::Key& key) {
    const bool rsa = key.type() == crypto::KeyType::rsa;
    Marshal area;
    area.u16(rsa ? 0x0001 : 0x0023).u16(0x000B).u32(0x00050072);  // fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted sign
    area.u16(0);                                                   // authPolicy
    area.u16(0x0010);                                              // symmetric: TPM_ALG_NULL
    if (rsa) {
      BIGNUM* modulus = nullptr;
      EXPECT_EQ(EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &modulus), 1);
      std::vector<uint8_t> n(static_cast<size_t>(BN_num_bytes(modulus)));
      BN_bn2bin(modulus, n.data());
      BN_free(modulus);
      area.u16(0x0014).u16(0x000B).u16(static_cast<uint16_t>(n.size() * 8)).u32(0).sized(n);
    } else {
      auto point = key.public_key_bits();  // 0x04 || X || Y
      EXPECT_TRUE(point && !point->empty() && (*point)[0] == 0x04);
      const std::vector<uint8_t> bits = point ? *point : std::vector<uint8_t>{0x04};
      const size_t half = (bits.size() - 1) / 2;
      area.u16(0x0018).u16(0x000B).u16(half == 48 ? 0x0004 : 0x0003).u16(0x0010);
      area.sized(std::span(bits).subspan(1, half)).sized(std::span(bits).subspan(1 + half, half));
    }
    Marshal tpm2b;
    tpm2b.sized(area.out);
    return tpm2b.out;
  }
  static tpm::TpmPublic public_area(const crypto::Key& key) {
    auto parsed = tpm::parse_tpm_public(marshalled_public(key));
    if (!parsed) {
      ADD_FAILURE() << "the software AK's public area does not parse: " << parsed.error().message;
      std::abort();
    }
    return std::move(*parsed);
  }

  const tpm::TpmPublic& ak() const { return ak_; }
  uint32_t reset_count() const { return reset_count_; }
  const crypto::Digest& pcr(uint32_t index) const { return pcrs_.at(index); }

  void extend(uint32_t index, const crypto::Digest& digest) {
    std::vector<uint8_t> input(pcrs_.at(index).view().begin(), pcrs_.at(index).view().end());
    input.insert(input.end(), digest.view().begin(), digest.view().end());
    pcrs_[index] = hash_of(crypto::HashAlgo::sha256, input);
  }
  // A TPM reset: PCRs back to zero, resetCount one up, then firmware measures into PCRs 0-7.
  void reboot() {
    for (auto& value : pcrs_) value = zero_digest();
    ++reset_count_;
    for (uint32_t index = 0; index < 8; ++index) {
      extend(index, hash_of(crypto::HashAlgo::sha256, bytes_of("firmware stage " + std::to_string(index))));
    }
  }

  // The parts of a correct quote over `selection` answering `nonce`.
  QuoteParts quote_parts(std::span<const uint8_t> nonce, const tpm::PcrSelection& selection) const {
    QuoteParts parts;
    parts.qualified_signer = owner_primary_qualified_name(ak_);
    parts.extra_data.assign(nonce.begin(), nonce.end());
    parts.reset_count = reset_count_;
    parts.clock = 1000 + ++clock_ticks_;
    parts.quoted_selection = selection;
    std::vector<uint8_t> concatenated;
    for (const uint32_t index : selection.pcrs) {
      concatenated.insert(concatenated.end(), pcrs_.at(index).view().begin(), pcrs_.at(index).view().end());
    }
    const auto digest = hash_of(sig_hash_, concatenated);
    parts.pcr_digest.assign(digest.view().begin(), digest.view().end());
    return parts;
  }

  // TPMT_SIGNATURE over H(attest) with the AK.
  std::vector<uint8_t> sign(std::span<const uint8_t> attest) const {
    const auto digest = hash_of(sig_hash_, attest);
    auto signature = crypto::sign_digest(ak_private_, digest);
    EXPECT_TRUE(signature) << signature.error().message;
    if (!signature) return {};
    Marshal out;
    if (ak_.kind == tpm::TpmKeyKind::rsa) {
      out.u16(0x0014).u16(tpm_alg(sig_hash_)).sized(*signature);
      return out.out;
    }
    const unsigned char* cursor = signature->data();
    ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(signature->size()));
    EXPECT_NE(parsed, nullptr);
    const int size = ak_private_.describe().find("384") != std::string::npos ? 48 : 32;
    std::vector<uint8_t> r(static_cast<size_t>(size)), s(static_cast<size_t>(size));
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed), r.data(), size);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed), s.data(), size);
    ECDSA_SIG_free(parsed);
    out.u16(0x0018).u16(tpm_alg(sig_hash_)).sized(r).sized(s);
    return out.out;
  }

  // A quote as TPM2_Quote returns it plus the PCR values the agent reads right after.
  tpm::QuoteEvidence quote(std::span<const uint8_t> nonce,
                           const tpm::PcrSelection& selection = quote_selection()) const {
    return evidence_for(quote_parts(nonce, selection), selection);
  }
  tpm::QuoteEvidence evidence_for(const QuoteParts& parts, const tpm::PcrSelection& reported) const {
    tpm::QuoteEvidence evidence;
    evidence.attest = marshal_attest(parts);
    evidence.signature = sign(evidence.attest);
    evidence.selection = reported;
    for (const uint32_t index : reported.pcrs) evidence.pcr_values.push_back(pcrs_.at(index));
    return evidence;
  }

 private:
  crypto::HashAlgo sig_hash_;
  crypto::Key ak_private_;
  tpm::TpmPublic ak_;
  std::array<crypto::Digest, 24> pcrs_{};
  uint32_t reset_count_ = 0;
  mutable uint64_t clock_ticks_ = 0;
};

// The PCR file tpm2_quote -o writes and tpm2_checkquote -f reads (tpm2-tools 5): the
// TPML_PCR_SELECTION struct as in memory, a 32-bit count, then that many TPML_DIGEST structs of
// at most 8 values each (host byte order: raw structs).
inline std::vector<uint8_t> tpm2_tools_pcr_file(const tpm::QuoteEvidence& quote) {
  TPML_PCR_SELECTION selection{};
  selection.count = 1;
  selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
  selection.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t pcr : quote.selection.pcrs) selection.pcrSelections[0].pcrSelect[pcr / 8] |= 1u << (pcr % 8);
  std::vector<TPML_DIGEST> lists;
  for (size_t i = 0; i < quote.pcr_values.size(); ++i) {
    if (i % 8 == 0) lists.push_back(TPML_DIGEST{});
    TPML_DIGEST& list = lists.back();
    list.digests[list.count].size = quote.pcr_values[i].size;
    std::memcpy(list.digests[list.count].buffer, quote.pcr_values[i].bytes.data(), quote.pcr_values[i].size);
    ++list.count;
  }
  const uint32_t count = static_cast<uint32_t>(lists.size());
  std::vector<uint8_t> out;
  const auto append = [&](const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    out.insert(out.end(), bytes, bytes + size);
  };
  append(&selection, sizeof selection);
  append(&count, sizeof count);
  for (const auto& list : lists) append(&list, sizeof list);
  return out;
}

// ---- measurement entries ------------------------------------------------------------------

// An ima-ng entry for a file with this content (digest in `algo`), template hashes filled.
inline ima::MeasurementEntry file_entry(const std::string& path, std::string_view content,
                                        crypto::HashAlgo algo = crypto::HashAlgo::sha256) {
  ima::MeasurementEntry entry;
  entry.template_name = ima::TemplateName::ima_ng;
  entry.path = path;
  entry.file_digest = hash_of(algo, bytes_of(content));
  ima::compute_template_hashes(entry);
  return entry;
}

// An ima-sig entry whose signature is evmctl's v2 format by `key` over the content's digest
// (SM2 keys sign SM3 digests; pass algo accordingly).
inline ima::MeasurementEntry signed_entry(const std::string& path, std::string_view content, const crypto::Key& key,
                                          crypto::HashAlgo algo) {
  ima::MeasurementEntry entry;
  entry.template_name = ima::TemplateName::ima_sig;
  entry.path = path;
  entry.file_digest = hash_of(algo, bytes_of(content));
  auto signature = crypto::sign_digest(key, entry.file_digest);
  EXPECT_TRUE(signature) << signature.error().message;
  auto keyid = ima::keyid_from_public_key(key);
  EXPECT_TRUE(keyid);
  auto value = ima::encode_signature_v2(algo, keyid ? *keyid : 0, signature ? *signature : std::vector<uint8_t>{});
  EXPECT_TRUE(value);
  if (value) entry.signature = *value;
  ima::compute_template_hashes(entry);
  return entry;
}

inline ima::MeasurementEntry violation_entry(const std::string& path) {
  ima::MeasurementEntry entry;
  entry.path = path;
  entry.file_digest = zero_digest();
  entry.violation = true;
  ima::compute_template_hashes(entry);
  return entry;
}

// The agent's side of the list: entries recorded and extended into PCR 10, as IMA does.
struct MeasuredList {
  std::vector<ima::MeasurementEntry> entries;
  void record(SoftwareTpm& tpm, const ima::MeasurementEntry& entry) {
    entries.push_back(entry);
    tpm.extend(entry.pcr, ima::extend_digest(entry, crypto::HashAlgo::sha256));
  }
  // The boot_aggregate entry from the TPM's PCRs 0-9, as the first entry of a boot.
  void record_boot_aggregate(SoftwareTpm& tpm) {
    std::vector<crypto::Digest> values;
    for (uint32_t i = 0; i < 10; ++i) values.push_back(tpm.pcr(i));
    record(tpm, ima::boot_aggregate_entry(crypto::HashAlgo::sha256, values));
  }
  std::vector<ima::MeasurementEntry> from(size_t start) const {
    return {entries.begin() + static_cast<std::ptrdiff_t>(std::min(start, entries.size())), entries.end()};
  }
};

// Round evidence: a quote answering nonce, then the list from list_start (as the agent sends it).
inline vigil::attest::RoundEvidence round_evidence(const SoftwareTpm& tpm, std::span<const uint8_t> nonce,
                                                   const MeasuredList& list, uint64_t list_start) {
  vigil::attest::RoundEvidence evidence;
  evidence.quote = tpm.quote(nonce);
  evidence.list_start = list_start;
  evidence.entries = list.from(list_start);
  return evidence;
}

inline std::vector<uint8_t> nonce_of(uint8_t seed, size_t size = 32) {
  std::vector<uint8_t> nonce(size);
  for (size_t i = 0; i < size; ++i) nonce[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  return nonce;
}

}  // namespace vigil::test::attest
