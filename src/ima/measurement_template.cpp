// Template data, template hashes, PCR extension and replay, boot_aggregate: the kernel's
// ima_template_lib.c (field data), ima_crypto.c (ima_calc_field_array_hash, boot aggregate)
// and ima_queue.c (violations extended as 0xff). Layouts: docs/measurement-list.md.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "ima/measurement_list.h"

namespace vigil::ima {
namespace {

using crypto::Digest;
using crypto::HashAlgo;

crypto::Hasher& thread_hasher() {
  thread_local crypto::Hasher hasher;
  return hasher;
}

std::span<const uint8_t> digest_bytes(const Digest& digest) {
  return {digest.bytes.data(), std::min<size_t>(digest.size, digest.bytes.size())};
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  uint8_t bytes[4];
  std::memcpy(bytes, &value, sizeof bytes);  // native endianness, as ima_fs.c without ima_canonical_fmt
  out.insert(out.end(), bytes, bytes + 4);
}

void put_bytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void put_text(std::vector<uint8_t>& out, std::string_view text) {
  out.insert(out.end(), text.begin(), text.end());
}

// d-ng: "<algo>:" '\0' digest (ima_eventdigest_init_common, DATA_FMT_DIGEST_WITH_ALGO). A
// violation has no digest: the kernel leaves hash_digest_size[algo] zero bytes.
std::vector<uint8_t> d_ng_data(const MeasurementEntry& entry) {
  std::vector<uint8_t> data;
  put_text(data, crypto::hash_name(entry.file_digest.algo));
  data.push_back(':');
  data.push_back('\0');
  if (entry.violation) {
    data.resize(data.size() + crypto::hash_size(entry.file_digest.algo), 0);
  } else {
    put_bytes(data, digest_bytes(entry.file_digest));
  }
  return data;
}

// d (`ima` template): the 20-byte SHA-1 digest, zeros for a violation. Invalid entries (other
// algorithms) get their digest zero-padded or cut to 20 bytes so the layout stays fixed.
std::array<uint8_t, 20> d_data(const MeasurementEntry& entry) {
  std::array<uint8_t, 20> data{};
  if (!entry.violation) {
    const auto bytes = digest_bytes(entry.file_digest);
    std::copy_n(bytes.begin(), std::min(bytes.size(), data.size()), data.begin());
  }
  return data;
}

Digest zero_digest(HashAlgo algo) {
  Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(std::min(crypto::hash_size(algo), crypto::kMaxDigestSize));
  return digest;
}

Digest sha1_of(const MeasurementEntry& entry, std::span<const uint8_t> hash_input) {
  if (!entry.violation) {
    if (auto digest = thread_hasher().of_bytes(HashAlgo::sha1, hash_input)) return *digest;
  }
  return zero_digest(HashAlgo::sha1);  // violations are recorded with a zero template hash
}

Digest sha1_template_hash(const MeasurementEntry& entry) {
  if (entry.violation) return zero_digest(HashAlgo::sha1);
  return sha1_of(entry, template_hash_input(entry));
}

void append_hex(std::string& text, std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (const uint8_t byte : bytes) {
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0xF];
  }
}

}  // namespace

std::string template_event_name(const MeasurementEntry& entry) {
  std::string name = entry.path.substr(0, entry.path.find('\0'));  // the kernel's strings end at NUL
  // ima_write_template_field_data(): spaces become '_' so ascii fields stay space-separated.
  std::replace(name.begin(), name.end(), ' ', '_');
  if (entry.template_name == TemplateName::ima && name.size() > kImaEventNameMax) {
    // ima_eventname_init_common(size_limit=true): a long path is replaced by the dentry name;
    // without a file the kernel truncates to IMA_EVENT_NAME_LEN_MAX.
    const size_t slash = name.rfind('/');
    if (slash != std::string::npos) name.erase(0, slash + 1);
    if (name.size() > kImaEventNameMax) name.resize(kImaEventNameMax);
  }
  return name;
}

Result<void> validate_entry(const MeasurementEntry& entry) {
  if (entry.pcr > kMaxMeasurementPcr) {
    return fail("PCR " + std::to_string(entry.pcr) + " is out of range (0-" + std::to_string(kMaxMeasurementPcr) + ")");
  }
  const HashAlgo algo = entry.file_digest.algo;
  const size_t size = crypto::hash_size(algo);
  if (size == 0) return fail("unknown file digest algorithm " + std::to_string(static_cast<int>(algo)));
  if (entry.template_name == TemplateName::ima && algo != HashAlgo::sha1) {
    return fail("the ima template records SHA-1 digests only, not " + std::string(crypto::hash_name(algo)));
  }
  if (!entry.violation && entry.file_digest.size != size) {
    return fail(std::string(crypto::hash_name(algo)) + " digest must be " + std::to_string(size) + " bytes, not " +
                std::to_string(entry.file_digest.size));
  }
  if (entry.path.find('\0') != std::string::npos) return fail("path contains a NUL byte");
  if (entry.path.size() > kMaxMeasuredPathSize) {
    return fail("path is " + std::to_string(entry.path.size()) + " bytes, longer than " +
                std::to_string(kMaxMeasuredPathSize));
  }
  if (!entry.signature.empty() && entry.template_name != TemplateName::ima_sig) {
    return fail("a signature is recorded only by the ima-sig template, not " +
                std::string(template_name_text(entry.template_name)));
  }
  if (entry.signature.size() > kMaxMeasuredSignatureSize) {
    return fail("signature is " + std::to_string(entry.signature.size()) + " bytes, longer than " +
                std::to_string(kMaxMeasuredSignatureSize));
  }
  return {};
}

std::vector<uint8_t> template_hash_input(const MeasurementEntry& entry) {
  std::vector<uint8_t> data;
  const std::string name = template_event_name(entry);
  if (entry.template_name == TemplateName::ima) {
    // ima_calc_field_array_hash_tfm(): no length prefixes; n is hashed from a zeroed
    // IMA_EVENT_NAME_LEN_MAX + 1 byte buffer.
    const auto digest = d_data(entry);
    put_bytes(data, digest);
    put_text(data, name);
    data.resize(digest.size() + kImaEventNameMax + 1, 0);
    return data;
  }
  const auto d_ng = d_ng_data(entry);
  put_u32(data, static_cast<uint32_t>(d_ng.size()));
  put_bytes(data, d_ng);
  put_u32(data, static_cast<uint32_t>(name.size() + 1));  // n-ng counts its NUL
  put_text(data, name);
  data.push_back('\0');
  if (entry.template_name == TemplateName::ima_sig) {
    put_u32(data, static_cast<uint32_t>(entry.signature.size()));
    put_bytes(data, entry.signature);
  }
  return data;
}

void compute_template_hashes(MeasurementEntry& entry) {
  entry.template_sha1 = {};
  entry.template_sha256 = {};
  if (entry.violation) return;
  const auto input = template_hash_input(entry);
  if (auto sha1 = thread_hasher().of_bytes(HashAlgo::sha1, input); sha1 && sha1->size == 20) {
    std::copy_n(sha1->bytes.begin(), 20, entry.template_sha1.begin());
  }
  if (auto sha256 = thread_hasher().of_bytes(HashAlgo::sha256, input); sha256 && sha256->size == 32) {
    std::copy_n(sha256->bytes.begin(), 32, entry.template_sha256.begin());
  }
}

Digest extend_digest(const MeasurementEntry& entry, HashAlgo bank) {
  Digest digest = zero_digest(bank);
  if (entry.violation) {
    // ima_add_template_entry(): a violation invalidates the PCR with 0xff in every bank.
    std::fill_n(digest.bytes.begin(), digest.size, 0xff);
    return digest;
  }
  if (crypto::hash_md(bank) != nullptr) {
    if (auto hashed = thread_hasher().of_bytes(bank, template_hash_input(entry))) return *hashed;
  }
  // ima_calc_field_array_hash(): banks the kernel cannot hash get the SHA-1 digest, zero-padded.
  const Digest sha1 = sha1_template_hash(entry);
  std::copy_n(sha1.bytes.begin(), std::min<size_t>(sha1.size, digest.size), digest.bytes.begin());
  return digest;
}

Digest replay_pcr(std::span<const MeasurementEntry> entries, uint32_t pcr, HashAlgo bank) {
  Digest value = zero_digest(bank);
  if (crypto::hash_md(bank) == nullptr) {
    value.size = 0;
    return value;
  }
  std::vector<uint8_t> buffer;
  for (const auto& entry : entries) {
    if (entry.pcr != pcr) continue;
    const Digest extended = extend_digest(entry, bank);
    buffer.assign(value.bytes.begin(), value.bytes.begin() + value.size);
    put_bytes(buffer, extended.view());
    auto next = thread_hasher().of_bytes(bank, buffer);
    if (!next) {
      value.size = 0;
      return value;
    }
    value = *next;
  }
  return value;
}

std::string ascii_line(const MeasurementEntry& entry) {
  // ima_ascii_measurements_show(): "%2d " pcr, SHA-1 template hash, " %s" template name, then
  // " " before every field (also an empty one) and each field's IMA_SHOW_ASCII form.
  char pcr[16];
  std::snprintf(pcr, sizeof pcr, "%2u ", static_cast<unsigned>(entry.pcr));
  std::string line = pcr;
  append_hex(line, sha1_template_hash(entry).view());
  line += ' ';
  line += template_name_text(entry.template_name);
  const std::string name = template_event_name(entry);
  line += ' ';
  if (entry.template_name == TemplateName::ima) {
    append_hex(line, d_data(entry));  // DATA_FMT_DIGEST
  } else {
    // DATA_FMT_DIGEST_WITH_ALGO: the "<algo>:" string, then the digest in hex.
    const auto d_ng = d_ng_data(entry);
    const std::string_view algo = crypto::hash_name(entry.file_digest.algo);
    line += algo;
    line += ':';
    append_hex(line, std::span<const uint8_t>(d_ng).subspan(algo.size() + 2));
  }
  line += ' ';
  line += name;  // DATA_FMT_STRING, printed with %s
  if (entry.template_name == TemplateName::ima_sig) {
    line += ' ';
    append_hex(line, entry.signature);  // DATA_FMT_HEX; nothing when empty
  }
  line += '\n';
  return line;
}

std::vector<uint8_t> binary_record(const MeasurementEntry& entry) {
  // ima_measurements_show(): pcr, SHA-1 template digest, template name length and name, then
  // for all but `ima` the template data length and each field as u32 length + data; `ima`
  // writes d without a length (IMA_SHOW_BINARY_NO_FIELD_LEN) and n as strlen + name
  // (IMA_SHOW_BINARY_OLD_STRING_FMT).
  const auto hash_input = template_hash_input(entry);
  std::vector<uint8_t> record;
  record.reserve(hash_input.size() + 64);
  put_u32(record, entry.pcr);
  put_bytes(record, sha1_of(entry, hash_input).view());
  const std::string_view template_text = template_name_text(entry.template_name);
  put_u32(record, static_cast<uint32_t>(template_text.size()));
  put_text(record, template_text);
  if (entry.template_name == TemplateName::ima) {
    const std::string name = template_event_name(entry);
    put_bytes(record, d_data(entry));
    put_u32(record, static_cast<uint32_t>(name.size()));
    put_text(record, name);
  } else {
    put_u32(record, static_cast<uint32_t>(hash_input.size()));
    put_bytes(record, hash_input);
  }
  return record;
}

MeasurementEntry boot_aggregate_entry(HashAlgo digest_algo, std::span<const Digest> pcr_values,
                                      TemplateName template_name) {
  MeasurementEntry entry;
  entry.pcr = 10;  // CONFIG_IMA_MEASURE_PCR_IDX
  entry.template_name = template_name;
  entry.path = "boot_aggregate";
  // The d field of the `ima` template is SHA-1 (ima_eventdigest_init forces it).
  const HashAlgo algo = template_name == TemplateName::ima ? HashAlgo::sha1 : digest_algo;
  entry.file_digest = zero_digest(algo);
  if (!pcr_values.empty() && crypto::hash_md(algo) != nullptr) {
    // ima_calc_boot_aggregate_tfm(): PCRs 0-7, plus 8-9 for every bank but SHA-1.
    const size_t count = algo == HashAlgo::sha1 ? 8 : 10;
    const size_t size = entry.file_digest.size;
    std::vector<uint8_t> input(count * size, 0);
    for (size_t i = 0; i < count && i < pcr_values.size(); ++i) {
      const auto value = digest_bytes(pcr_values[i]);
      std::copy_n(value.begin(), std::min(value.size(), size), input.begin() + static_cast<ptrdiff_t>(i * size));
    }
    if (auto aggregate = thread_hasher().of_bytes(algo, input)) entry.file_digest = *aggregate;
  }
  compute_template_hashes(entry);
  return entry;
}

}  // namespace vigil::ima
