// The protocol's JSON bodies (docs/attestation.md, "Protocol"). Every parse_* reads untrusted
// bytes: types are checked before use, sizes are capped before decoding, nothing throws.
#include "attest/evidence_json.h"

#include <algorithm>
#include <cstring>

#include "attest/json_large_string.h"
#include "attest/json_text.h"
#include "common/hex_text.h"

namespace vigil::attest {
namespace {

using nlohmann::json;

constexpr size_t kMaxTpmObjectSize = 4096;       // TPM2B_PUBLIC, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET
constexpr size_t kMaxCertificateSize = 65536;    // an EK certificate (DER)
constexpr size_t kMaxCredentialSecret = 64;      // TPM2B_DIGEST
constexpr size_t kMaxNonceSize = 64;             // TPM2B_DATA
constexpr size_t kMaxQuotePartSize = 64 * 1024;  // attest, signature
constexpr size_t kMaxEntries = 100000;
constexpr size_t kMaxRecordBytes = 64u << 20;
constexpr uint32_t kMaxPcr = 23;                 // PCRs of a PC client TPM

std::optional<std::vector<uint8_t>> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = value(text[2 * i]);
    const int lo = value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

// Counts binary_runtime_measurements records by their length fields only, so an oversized
// round is refused before any entry is hashed. Stops (and leaves the rest to the parser) at
// the first record that does not fit.
size_t count_records(std::span<const uint8_t> records, size_t stop_after) {
  auto u32_at = [&](size_t offset) {
    uint32_t value;
    std::memcpy(&value, records.data() + offset, sizeof value);  // native endianness, as the kernel writes
    return value;
  };
  size_t count = 0;
  size_t offset = 0;
  while (offset < records.size() && count <= stop_after) {
    constexpr size_t kHeader = 4 + 20 + 4;
    if (records.size() - offset < kHeader) break;
    const uint32_t name_size = u32_at(offset + 24);
    offset += kHeader;
    if (records.size() - offset < name_size) break;
    const bool ima_template = std::string_view(reinterpret_cast<const char*>(records.data() + offset), name_size) == "ima";
    offset += name_size;
    if (ima_template) {
      if (records.size() - offset < 24) break;
      offset += 20;
    }
    if (records.size() - offset < 4) break;
    const uint32_t data_size = u32_at(offset);
    offset += 4;
    if (records.size() - offset < data_size) break;
    offset += data_size;
    ++count;
  }
  return count;
}

std::string dump(const json& document) { return document.dump(-1, ' ', false, json::error_handler_t::replace); }

// A base64 field, its decoded size capped (checked on the text first, so nothing big is decoded).
Result<std::vector<uint8_t>> bytes_of_base64(std::string_view text, std::string_view name, std::string_view what,
                                             size_t max_size) {
  if (text.size() > (max_size + 2) / 3 * 4) {
    return fail(std::string(what) + ": \"" + std::string(name) + "\" is longer than " + std::to_string(max_size) +
                " bytes");
  }
  auto bytes = base64_decode(text);
  if (!bytes) return fail(std::string(what) + ": \"" + std::string(name) + "\": " + bytes.error().message);
  if (bytes->size() > max_size) {
    return fail(std::string(what) + ": \"" + std::string(name) + "\" is longer than " + std::to_string(max_size) +
                " bytes");
  }
  return bytes;
}

Result<std::vector<uint8_t>> bytes_field(const json& object, std::string_view name, std::string_view what,
                                         size_t max_size) {
  auto text = json_text::string_field(object, name, what);
  if (!text) return std::unexpected(text.error());
  return bytes_of_base64(*text, name, what, max_size);
}

Result<std::vector<uint8_t>> hex_field(const json& object, std::string_view name, std::string_view what,
                                       size_t max_size) {
  auto text = json_text::string_field(object, name, what);
  if (!text) return std::unexpected(text.error());
  if (text->size() > max_size * 2) {
    return fail(std::string(what) + ": \"" + std::string(name) + "\" is longer than " + std::to_string(max_size) +
                " bytes");
  }
  auto bytes = from_hex(*text);
  if (!bytes) return fail(std::string(what) + ": \"" + std::string(name) + "\" is not hex");
  return *bytes;
}

Result<json> parse_object(std::string_view text, std::string_view what) {
  auto document = json_text::parse(text, what);
  if (!document) return std::unexpected(document.error());
  if (!document->is_object()) return fail(std::string(what) + ": must be a JSON object, not " + document->type_name());
  return document;
}

void put_selection(json& document, const tpm::PcrSelection& selection) {
  document["bank"] = std::string(crypto::hash_name(selection.bank));
  document["pcrs"] = selection.pcrs;
}

// "bank" and "pcrs" (ascending, each at most 23).
Result<tpm::PcrSelection> selection_fields(const json& object, std::string_view what) {
  auto bank_name = json_text::string_field(object, "bank", what);
  if (!bank_name) return std::unexpected(bank_name.error());
  const auto bank = crypto::hash_from_name(*bank_name);
  if (!bank || crypto::hash_md(*bank) == nullptr) {
    return fail(std::string(what) + ": \"bank\" \"" + bank_name->substr(0, 32) + "\" is not a known hash");
  }
  auto pcrs = json_text::field(object, "pcrs", what);
  if (!pcrs) return std::unexpected(pcrs.error());
  if (!(*pcrs)->is_array()) return fail(std::string(what) + ": \"pcrs\" must be a list of PCR numbers");
  tpm::PcrSelection selection;
  selection.bank = *bank;
  for (const auto& item : **pcrs) {
    if (!item.is_number_unsigned() || item.get<uint64_t>() > kMaxPcr) {
      return fail(std::string(what) + ": \"pcrs\" must hold PCR numbers 0-" + std::to_string(kMaxPcr));
    }
    const auto pcr = static_cast<uint32_t>(item.get<uint64_t>());
    if (!selection.pcrs.empty() && pcr <= selection.pcrs.back()) {
      return fail(std::string(what) + ": \"pcrs\" must be ascending without repeats");
    }
    selection.pcrs.push_back(pcr);
  }
  return selection;
}

}  // namespace

std::string to_json(const EnrollRequest& request) {
  json document;
  document["ek_public"] = base64_encode(request.ek_public);
  document["ak_public"] = base64_encode(request.ak_public);
  if (request.ek_certificate) document["ek_certificate"] = base64_encode(*request.ek_certificate);
  return dump(document);
}

std::string to_json(const EnrollChallenge& challenge) {
  json document;
  document["credential_blob"] = base64_encode(challenge.credential_blob);
  document["encrypted_secret"] = base64_encode(challenge.encrypted_secret);
  return dump(document);
}

std::string to_json(const ActivateRequest& request) {
  json document;
  document["secret"] = base64_encode(request.secret);
  return dump(document);
}

std::string to_json(const RoundChallenge& challenge) {
  json document;
  document["nonce"] = hex_text(challenge.nonce);
  document["list_start"] = challenge.list_start;
  put_selection(document, challenge.selection);
  document["interval_ms"] = challenge.interval_ms;
  return dump(document);
}

std::string to_json(const RoundEvidence& evidence) {
  json document;
  // The nonce is inside the attest (extraData); it is repeated for logs and readers.
  if (auto info = parse_quote_attest(evidence.quote.attest)) document["nonce"] = hex_text(info->extra_data);
  document["attest"] = base64_encode(evidence.quote.attest);
  document["signature"] = base64_encode(evidence.quote.signature);
  put_selection(document, evidence.quote.selection);
  json values = json::array();
  for (const auto& value : evidence.quote.pcr_values) values.push_back(value.hex());
  document["pcr_values"] = std::move(values);
  document["list_start"] = evidence.list_start;
  std::vector<uint8_t> records;
  for (const auto& entry : evidence.entries) {
    const auto record = ima::binary_record(entry);
    records.insert(records.end(), record.begin(), record.end());
  }
  document["entries"] = base64_encode(records);
  return dump(document);
}

std::string to_json(const RoundResult& result) {
  json document;
  document["verdict"] = result.verdict == Verdict::trusted ? "trusted" : "untrusted";
  document["kind"] = std::string(failure_kind_name(result.kind));
  document["reason"] = result.reason;
  document["failing_entry"] = result.failing_entry;
  document["failing_path"] = result.failing_path;
  document["entries_checked"] = result.entries_checked;
  document["entries_verified"] = result.progress.entries_verified;
  document["boot_pcrs_checked"] = result.boot_pcrs_checked;
  if (!result.boot_pcrs_note.empty()) document["boot_pcrs"] = result.boot_pcrs_note;
  return dump(document);
}

Result<EnrollRequest> parse_enroll_request(std::string_view json_text) {
  constexpr std::string_view what = "enrol request";
  auto document = parse_object(json_text, what);
  if (!document) return std::unexpected(document.error());
  EnrollRequest request;
  auto ek = bytes_field(*document, "ek_public", what, kMaxTpmObjectSize);
  if (!ek) return std::unexpected(ek.error());
  request.ek_public = std::move(*ek);
  auto ak = bytes_field(*document, "ak_public", what, kMaxTpmObjectSize);
  if (!ak) return std::unexpected(ak.error());
  request.ak_public = std::move(*ak);
  if (const auto cert = document->find("ek_certificate"); cert != document->end() && !cert->is_null()) {
    auto der = bytes_field(*document, "ek_certificate", what, kMaxCertificateSize);
    if (!der) return std::unexpected(der.error());
    request.ek_certificate = std::move(*der);
  }
  return request;
}

Result<EnrollChallenge> parse_enroll_challenge(std::string_view json_text) {
  constexpr std::string_view what = "enrol challenge";
  auto document = parse_object(json_text, what);
  if (!document) return std::unexpected(document.error());
  EnrollChallenge challenge;
  auto blob = bytes_field(*document, "credential_blob", what, kMaxTpmObjectSize);
  if (!blob) return std::unexpected(blob.error());
  challenge.credential_blob = std::move(*blob);
  auto secret = bytes_field(*document, "encrypted_secret", what, kMaxTpmObjectSize);
  if (!secret) return std::unexpected(secret.error());
  challenge.encrypted_secret = std::move(*secret);
  return challenge;
}

Result<ActivateRequest> parse_activate_request(std::string_view json_text) {
  constexpr std::string_view what = "activate request";
  auto document = parse_object(json_text, what);
  if (!document) return std::unexpected(document.error());
  ActivateRequest request;
  auto secret = bytes_field(*document, "secret", what, kMaxCredentialSecret);
  if (!secret) return std::unexpected(secret.error());
  request.secret = std::move(*secret);
  return request;
}

Result<RoundChallenge> parse_round_challenge(std::string_view json_text) {
  constexpr std::string_view what = "round challenge";
  auto document = parse_object(json_text, what);
  if (!document) return std::unexpected(document.error());
  RoundChallenge challenge;
  auto nonce = hex_field(*document, "nonce", what, kMaxNonceSize);
  if (!nonce) return std::unexpected(nonce.error());
  if (nonce->empty()) return fail(std::string(what) + ": \"nonce\" is empty");
  challenge.nonce = std::move(*nonce);
  auto list_start = json_text::unsigned_field(*document, "list_start", what, UINT64_MAX);
  if (!list_start) return std::unexpected(list_start.error());
  challenge.list_start = *list_start;
  auto selection = selection_fields(*document, what);
  if (!selection) return std::unexpected(selection.error());
  challenge.selection = std::move(*selection);
  auto interval = json_text::unsigned_field(*document, "interval_ms", what, UINT32_MAX);
  if (!interval) return std::unexpected(interval.error());
  challenge.interval_ms = static_cast<uint32_t>(*interval);
  return challenge;
}

Result<RoundEvidence> parse_round_evidence(std::string_view json_text) {
  constexpr std::string_view what = "evidence";
  // The entries' base64 is most of the body: decoded where it lies, the rest parsed as a DOM
  // with "entries" emptied (json_large_string.h).
  std::string rest;
  std::string_view entries_base64;
  const auto entries_span = json_text::plain_top_level_string(json_text, "entries");
  if (entries_span) {
    entries_base64 = json_text.substr(entries_span->begin, entries_span->end - entries_span->begin);
    rest.reserve(json_text.size() - entries_base64.size());
    rest.append(json_text.substr(0, entries_span->begin)).append(json_text.substr(entries_span->end));
  }
  auto document = parse_object(entries_span ? std::string_view(rest) : json_text, what);
  if (!document) return std::unexpected(document.error());
  RoundEvidence evidence;
  if (const auto nonce = document->find("nonce"); nonce != document->end() && !nonce->is_null()) {
    // Informational (the quote's extraData is what counts), but it must be well formed.
    if (auto checked = hex_field(*document, "nonce", what, kMaxNonceSize); !checked) {
      return std::unexpected(checked.error());
    }
  }
  auto attest = bytes_field(*document, "attest", what, kMaxQuotePartSize);
  if (!attest) return std::unexpected(attest.error());
  evidence.quote.attest = std::move(*attest);
  auto signature = bytes_field(*document, "signature", what, kMaxQuotePartSize);
  if (!signature) return std::unexpected(signature.error());
  evidence.quote.signature = std::move(*signature);
  auto selection = selection_fields(*document, what);
  if (!selection) return std::unexpected(selection.error());
  evidence.quote.selection = std::move(*selection);

  auto values = json_text::field(*document, "pcr_values", what);
  if (!values) return std::unexpected(values.error());
  if (!(*values)->is_array() || (*values)->size() != evidence.quote.selection.pcrs.size()) {
    return fail(std::string(what) + ": \"pcr_values\" must be a list with one hex value per PCR in \"pcrs\"");
  }
  const size_t bank_size = crypto::hash_size(evidence.quote.selection.bank);
  for (const auto& item : **values) {
    const auto bytes = item.is_string() ? from_hex(item.get_ref<const std::string&>()) : std::nullopt;
    if (!bytes || bytes->size() != bank_size || bank_size > crypto::kMaxDigestSize) {
      return fail(std::string(what) + ": \"pcr_values\" must hold " + std::to_string(bank_size * 2) + " hex digits each");
    }
    crypto::Digest value;
    value.algo = evidence.quote.selection.bank;
    value.size = static_cast<uint8_t>(bank_size);
    std::copy(bytes->begin(), bytes->end(), value.bytes.begin());
    evidence.quote.pcr_values.push_back(value);
  }

  auto list_start = json_text::unsigned_field(*document, "list_start", what, UINT64_MAX);
  if (!list_start) return std::unexpected(list_start.error());
  evidence.list_start = *list_start;
  auto records = entries_span ? bytes_of_base64(entries_base64, "entries", what, kMaxRecordBytes)
                              : bytes_field(*document, "entries", what, kMaxRecordBytes);
  if (!records) return std::unexpected(records.error());
  if (count_records(*records, kMaxEntries) > kMaxEntries) {
    return fail(std::string(what) + ": more than " + std::to_string(kMaxEntries) + " entries in one round");
  }
  auto entries = ima::parse_binary_list(*records);
  if (!entries) return fail(std::string(what) + ": \"entries\": " + entries.error().message);
  evidence.entries = std::move(*entries);
  return evidence;
}

}  // namespace vigil::attest
