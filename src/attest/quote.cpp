// TPM2_Quote checked in software (TPM 2.0 Part 2: TPMS_ATTEST, TPMS_QUOTE_INFO, TPMT_SIGNATURE).
// Order of checks: parse, signer name, signature, nonce, selection, PCR digest — the signer
// first, so a quote from another TPM is reported as such rather than as a bad signature.
#include "attest/quote.h"

#include <algorithm>
#include <set>
#include <utility>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "attest/tpm_wire.h"
#include "common/hex_text.h"
#include "tpm/tpm_bytes.h"

namespace vigil::attest {
namespace {

constexpr uint32_t kTpmGeneratedValue = 0xff544347;
constexpr uint16_t kTpmStAttestQuote = 0x8018;
constexpr size_t kMaxNameSize = 2 + crypto::kMaxDigestSize;  // sizeof(TPMU_NAME)
constexpr size_t kMaxDataSize = crypto::kMaxDigestSize;      // sizeof(TPMT_HA) minus the alg
constexpr uint32_t kMaxSelections = 16;                      // HASH_COUNT in every TPM vigil saw
constexpr uint8_t kMaxSelectBytes = 8;                       // PCR_SELECT_MAX is 3 for 24 PCRs
constexpr size_t kMaxEccParameter = 66;                      // P-521 coordinates
constexpr size_t kMaxRsaSignature = 512;                     // RSA 4096

// Enough of a value to tell two apart in a message.
std::string hex_prefix(std::span<const uint8_t> bytes) {
  constexpr size_t kShown = 8;
  if (bytes.empty()) return "(empty)";
  std::string text = hex_text(bytes.first(std::min(bytes.size(), kShown)));
  if (bytes.size() > kShown) text += "...";
  return text;
}

bool equal_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

struct ParsedSignature {
  uint16_t scheme = 0;
  crypto::HashAlgo hash = crypto::HashAlgo::sha256;
  std::vector<uint8_t> der_or_raw;  // ECDSA: DER ECDSA-Sig-Value; RSASSA: the signature bytes
};

std::string scheme_name(uint16_t scheme) {
  switch (scheme) {
    case wire::kAlgRsassa: return "RSASSA";
    case wire::kAlgRsapss: return "RSAPSS";
    case wire::kAlgEcdsa: return "ECDSA";
    case 0x001B: return "SM2";
    case 0x001A: return "ECDAA";
    case 0x001C: return "ECSCHNORR";
    case 0x0005: return "HMAC";
    case 0x0010: return "NULL";
    default: return "0x" + hex_text(std::vector<uint8_t>{static_cast<uint8_t>(scheme >> 8), static_cast<uint8_t>(scheme)});
  }
}

// r and s as the DER ECDSA-Sig-Value OpenSSL verifies.
Result<std::vector<uint8_t>> ecdsa_der(std::span<const uint8_t> r, std::span<const uint8_t> s) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r_bn = BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr);
  BIGNUM* s_bn = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  if (sig == nullptr || r_bn == nullptr || s_bn == nullptr) {
    ECDSA_SIG_free(sig);
    BN_free(r_bn);
    BN_free(s_bn);
    return fail("out of memory encoding the ECDSA signature");
  }
  ECDSA_SIG_set0(sig, r_bn, s_bn);  // sig owns them now
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (length <= 0) return fail("cannot encode the ECDSA signature");
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

Result<ParsedSignature> parse_signature(std::span<const uint8_t> bytes) {
  wire::Reader in(bytes);
  ParsedSignature parsed;
  parsed.scheme = in.u16();
  if (in.failed()) return fail("signature is " + std::to_string(bytes.size()) + " bytes, too short for sigAlg");
  if (parsed.scheme != wire::kAlgEcdsa && parsed.scheme != wire::kAlgRsassa) {
    return fail("signature scheme " + scheme_name(parsed.scheme) + " is not supported (ECDSA, RSASSA)");
  }
  const uint16_t hash_alg = in.u16();
  if (in.failed()) return fail("signature truncated in its hash algorithm");
  const auto hash = tpm::hash_from_tpm_alg(hash_alg);
  if (!hash || *hash == crypto::HashAlgo::sha1 || *hash == crypto::HashAlgo::sm3) {
    return fail("signature hash " + scheme_name(hash_alg) + " is not supported (SHA-256, SHA-384, SHA-512)");
  }
  parsed.hash = *hash;
  if (parsed.scheme == wire::kAlgEcdsa) {
    const auto r = in.sized(kMaxEccParameter);
    const auto s = in.sized(kMaxEccParameter);
    if (in.failed()) return fail("ECDSA signature: r or s truncated or longer than " + std::to_string(kMaxEccParameter));
    if (r.empty() || s.empty()) return fail("ECDSA signature: r or s is empty");
    auto der = ecdsa_der(r, s);
    if (!der) return std::unexpected(der.error());
    parsed.der_or_raw = std::move(*der);
  } else {
    const auto sig = in.sized(kMaxRsaSignature);
    if (in.failed()) return fail("RSASSA signature truncated or longer than " + std::to_string(kMaxRsaSignature));
    parsed.der_or_raw.assign(sig.begin(), sig.end());
  }
  if (in.left() != 0) return fail(std::to_string(in.left()) + " bytes after the signature");
  return parsed;
}

// The (bank, pcr) pairs a TPML_PCR_SELECTION names.
std::set<std::pair<crypto::HashAlgo, uint32_t>> selected_pcrs(const std::vector<tpm::PcrSelection>& selections) {
  std::set<std::pair<crypto::HashAlgo, uint32_t>> out;
  for (const auto& selection : selections) {
    for (const uint32_t pcr : selection.pcrs) out.emplace(selection.bank, pcr);
  }
  return out;
}

std::string describe_selection(const tpm::PcrSelection& selection) {
  std::string text(crypto::hash_name(selection.bank));
  text += ':';
  for (size_t i = 0; i < selection.pcrs.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(selection.pcrs[i]);
  }
  return text;
}

// Takes check by reference: the reason is often built from check.info, and a by-value
// parameter could be moved from before that argument is evaluated (the order is unspecified).
QuoteCheck problem(QuoteCheck&& check, QuoteProblem what, std::string reason) {
  check.problem = what;
  check.reason = std::move(reason);
  return std::move(check);
}

}  // namespace

Result<QuoteInfo> parse_quote_attest(std::span<const uint8_t> attest) {
  wire::Reader in(attest);
  auto truncated = [&](const char* field) {
    return fail("attest is " + std::to_string(attest.size()) + " bytes, truncated in " + field);
  };
  const uint32_t magic = in.u32();
  if (in.failed()) return truncated("magic");
  if (magic != kTpmGeneratedValue) {
    return fail("attest magic is 0x" + hex_text(attest.first(4)) + ", not TPM_GENERATED_VALUE (ff544347)");
  }
  const uint16_t type = in.u16();
  if (in.failed()) return truncated("type");
  if (type != kTpmStAttestQuote) {
    return fail("attest type is 0x" + hex_text(attest.subspan(4, 2)) + ", not TPM_ST_ATTEST_QUOTE (8018)");
  }
  QuoteInfo info;
  const auto signer = in.sized(kMaxNameSize);
  if (in.failed()) return truncated("qualifiedSigner (or it is longer than 66 bytes)");
  info.qualified_signer.assign(signer.begin(), signer.end());
  const auto extra = in.sized(kMaxDataSize);
  if (in.failed()) return truncated("extraData (or it is longer than 64 bytes)");
  info.extra_data.assign(extra.begin(), extra.end());
  info.clock = in.u64();
  info.reset_count = in.u32();
  info.restart_count = in.u32();
  const uint8_t safe = in.u8();
  if (in.failed()) return truncated("clockInfo");
  if (safe > 1) return fail("clockInfo.safe is " + std::to_string(safe) + ", not YES or NO");
  info.safe = safe == 1;
  info.firmware_version = in.u64();
  if (in.failed()) return truncated("firmwareVersion");

  const uint32_t count = in.u32();
  if (in.failed()) return truncated("pcrSelect count");
  if (count > kMaxSelections) {
    return fail("pcrSelect has " + std::to_string(count) + " banks, more than " + std::to_string(kMaxSelections));
  }
  for (uint32_t i = 0; i < count; ++i) {
    const uint16_t hash_alg = in.u16();
    const uint8_t select_size = in.u8();
    if (in.failed()) return truncated("pcrSelect");
    if (select_size > kMaxSelectBytes) {
      return fail("pcrSelect bank " + std::to_string(i) + " has sizeofSelect " + std::to_string(select_size) +
                  ", more than " + std::to_string(kMaxSelectBytes));
    }
    const auto bits = in.take(select_size);
    if (in.failed()) return truncated("pcrSelect bitmap");
    const auto bank = tpm::hash_from_tpm_alg(hash_alg);
    if (!bank) return fail("pcrSelect bank " + std::to_string(i) + " has unknown hash " + scheme_name(hash_alg));
    tpm::PcrSelection selection;
    selection.bank = *bank;
    for (uint32_t pcr = 0; pcr < bits.size() * 8u; ++pcr) {
      if (bits[pcr / 8] & (1u << (pcr % 8))) selection.pcrs.push_back(pcr);
    }
    info.selections.push_back(std::move(selection));
  }
  const auto digest = in.sized(crypto::kMaxDigestSize);
  if (in.failed()) return truncated("pcrDigest (or it is longer than 64 bytes)");
  info.pcr_digest.assign(digest.begin(), digest.end());
  if (in.left() != 0) return fail(std::to_string(in.left()) + " bytes after the quote info");
  return info;
}

QuoteCheck check_quote(const tpm::TpmPublic& ak, std::span<const uint8_t> expected_nonce,
                       const tpm::QuoteEvidence& evidence) {
  QuoteCheck check;
  auto info = parse_quote_attest(evidence.attest);
  if (!info) return problem(std::move(check), QuoteProblem::malformed, "attest: " + info.error().message);
  check.info = std::move(*info);
  auto signature = parse_signature(evidence.signature);
  if (!signature) return problem(std::move(check), QuoteProblem::malformed, "signature: " + signature.error().message);

  // The agent's AK is a primary in the owner hierarchy: the TPM names it by its qualified name.
  const auto expected_signer = tpm::primary_qualified_name(ak, tpm::kTpmRhOwner);
  if (expected_signer.empty()) {
    return problem(std::move(check), QuoteProblem::different_signer,
                   "cannot compute the enrolled AK's qualified name (name algorithm " +
                       std::string(crypto::hash_name(ak.name_alg)) + ")");
  }
  if (!equal_bytes(check.info.qualified_signer, expected_signer)) {
    return problem(std::move(check), QuoteProblem::different_signer,
                   "quote signed by " + hex_prefix(check.info.qualified_signer) + ", enrolled AK is " +
                       hex_prefix(expected_signer));
  }

  const bool scheme_fits = (signature->scheme == wire::kAlgEcdsa && ak.kind == tpm::TpmKeyKind::ecc) ||
                           (signature->scheme == wire::kAlgRsassa && ak.kind == tpm::TpmKeyKind::rsa);
  if (!scheme_fits) {
    return problem(std::move(check), QuoteProblem::signature,
                   scheme_name(signature->scheme) + " signature does not fit the enrolled AK (" + ak.key.describe() + ")");
  }
  thread_local crypto::Hasher hasher;
  auto attest_digest = hasher.of_bytes(signature->hash, evidence.attest);
  if (!attest_digest) return problem(std::move(check), QuoteProblem::signature, attest_digest.error().message);
  if (crypto::verify_digest(ak.key, *attest_digest, signature->der_or_raw) != crypto::SignatureCheck::valid) {
    return problem(std::move(check), QuoteProblem::signature,
                   "quote signature does not verify with the enrolled AK (" + ak.key.describe() + ", " +
                       std::string(crypto::hash_name(signature->hash)) + ")");
  }

  if (!equal_bytes(check.info.extra_data, expected_nonce)) {
    return problem(std::move(check), QuoteProblem::nonce,
                   "quote answers nonce " + hex_prefix(check.info.extra_data) + ", this round's is " +
                       hex_prefix(expected_nonce));
  }

  const auto& reported = evidence.selection;
  const bool ascending = std::adjacent_find(reported.pcrs.begin(), reported.pcrs.end(),
                                            [](uint32_t a, uint32_t b) { return a >= b; }) == reported.pcrs.end();
  if (!ascending || selected_pcrs(check.info.selections) != selected_pcrs({reported})) {
    std::string quoted;
    for (const auto& selection : check.info.selections) {
      if (selection.pcrs.empty()) continue;
      quoted += quoted.empty() ? "" : " ";
      quoted += describe_selection(selection);
    }
    return problem(std::move(check), QuoteProblem::selection,
                   "quote covers PCRs " + (quoted.empty() ? std::string("(none)") : quoted) + ", evidence reports " +
                       describe_selection(reported) + (ascending ? "" : " (not ascending)"));
  }
  if (evidence.pcr_values.size() != reported.pcrs.size()) {
    return problem(std::move(check), QuoteProblem::pcr_digest,
                   std::to_string(evidence.pcr_values.size()) + " PCR values reported for " +
                       std::to_string(reported.pcrs.size()) + " selected PCRs");
  }
  // TPM2_Quote hashes the selected PCRs in selection order, ascending within a bank.
  std::vector<uint8_t> concatenated;
  const size_t bank_size = crypto::hash_size(reported.bank);
  for (size_t i = 0; i < evidence.pcr_values.size(); ++i) {
    const auto& value = evidence.pcr_values[i];
    if (value.algo != reported.bank || value.size != bank_size) {
      return problem(std::move(check), QuoteProblem::pcr_digest,
                     "PCR " + std::to_string(reported.pcrs[i]) + " value is " + std::to_string(value.size) + " bytes of " +
                         std::string(crypto::hash_name(value.algo)) + ", the bank is " +
                         std::string(crypto::hash_name(reported.bank)));
    }
    const auto bytes = value.view();
    concatenated.insert(concatenated.end(), bytes.begin(), bytes.end());
  }
  auto pcr_digest = hasher.of_bytes(signature->hash, concatenated);
  if (!pcr_digest) return problem(std::move(check), QuoteProblem::pcr_digest, pcr_digest.error().message);
  if (!equal_bytes(pcr_digest->view(), check.info.pcr_digest)) {
    return problem(std::move(check), QuoteProblem::pcr_digest,
                   "reported PCR values hash to " + hex_prefix(pcr_digest->view()) + ", the quote's pcrDigest is " +
                       hex_prefix(check.info.pcr_digest));
  }
  return check;
}

}  // namespace vigil::attest
