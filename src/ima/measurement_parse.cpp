// Parsers for binary_runtime_measurements and ascii_runtime_measurements. The input is
// untrusted: every length is checked against what is left and against the kernel's limits,
// and only the canonical form the kernel writes is accepted (each parsed entry must serialize
// back to exactly the bytes it came from). Layouts: docs/measurement-list.md.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/hex_text.h"
#include "common/path_text.h"
#include "ima/measurement_list.h"

namespace vigil::ima {
namespace {

using crypto::HashAlgo;

constexpr size_t kSha1Size = 20;
constexpr size_t kMaxTemplateNameSize = 255;  // TCG_EVENT_NAME_LEN_MAX, as evmctl checks

std::unexpected<Error> entry_error(size_t index, size_t offset, const std::string& what) {
  return fail("entry " + std::to_string(index) + " at byte " + std::to_string(offset) + ": " + what);
}

std::string shown(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  std::string out = printable_path(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) out += "...";
  return "'" + out + "'";
}

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t byte) { return byte == 0; });
}

// Lowercase hex only: the kernel prints with %02x (hex_byte_pack).
bool decode_hex(std::string_view text, std::vector<uint8_t>& out) {
  if (text.size() % 2 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out.clear();
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = value(text[i]);
    const int lo = value(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>((hi << 4) | lo));
  }
  return true;
}

crypto::Digest make_digest(HashAlgo algo, std::span<const uint8_t> bytes) {
  crypto::Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(std::min(bytes.size(), crypto::kMaxDigestSize));
  std::copy_n(bytes.begin(), digest.size, digest.bytes.begin());
  return digest;
}

// "<algo>" as the kernel's hash_algo_name spells it (no aliases: the list is canonical).
std::optional<HashAlgo> canonical_algo(std::string_view name) {
  const auto algo = crypto::hash_from_name(name);
  if (!algo || crypto::hash_name(*algo) != name || crypto::hash_size(*algo) == 0) return std::nullopt;
  return algo;
}

// What a recorded name must satisfy to be one the kernel writes.
std::optional<std::string> bad_name(std::string_view name, size_t max_size) {
  if (name.size() > max_size) {
    return "name is " + std::to_string(name.size()) + " bytes, longer than " + std::to_string(max_size);
  }
  if (name.find('\0') != std::string_view::npos) return std::string("name contains a NUL byte");
  if (name.find(' ') != std::string_view::npos) return std::string("name contains a space (the kernel writes '_')");
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t pos() const { return pos_; }
  size_t left() const { return bytes_.size() - pos_; }
  uint32_t u32() {
    uint32_t value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof value);  // native endianness
    pos_ += sizeof value;
    return value;
  }
  std::span<const uint8_t> take(size_t size) {
    auto out = bytes_.subspan(pos_, size);
    pos_ += size;
    return out;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Checks the recomputed template hash (or the violation rule) and the canonical form, then
// fills the entry's hashes.
Result<void> finish_entry(MeasurementEntry& entry, std::span<const uint8_t> recorded_sha1, size_t index,
                          size_t hash_offset) {
  entry.violation = all_zero(recorded_sha1);
  if (entry.violation) {
    if (!all_zero(entry.file_digest.view())) {
      return entry_error(index, hash_offset, "zero template hash (a violation) but the file digest is not zero");
    }
    compute_template_hashes(entry);
    return {};
  }
  compute_template_hashes(entry);
  if (!std::equal(recorded_sha1.begin(), recorded_sha1.end(), entry.template_sha1.begin())) {
    return entry_error(index, hash_offset,
                       "template hash mismatch: recorded " + hex_text(recorded_sha1) + ", computed " +
                           hex_text(entry.template_sha1));
  }
  return {};
}

}  // namespace

namespace {

// One record from in.pos(); `bytes` is the whole input (offsets in errors are into it).
Result<MeasurementEntry> parse_binary_record(Reader& in, std::span<const uint8_t> bytes, size_t index) {
  {
    const size_t start = in.pos();
    constexpr size_t kHeaderSize = 4 + kSha1Size + 4;
    if (in.left() < kHeaderSize) {
      return entry_error(index, start,
                         "truncated record header: " + std::to_string(in.left()) + " of " +
                             std::to_string(kHeaderSize) + " bytes");
    }
    MeasurementEntry entry;
    entry.pcr = in.u32();
    if (entry.pcr > kMaxMeasurementPcr) {
      return entry_error(index, start, "PCR " + std::to_string(entry.pcr) + " is out of range (0-63)");
    }
    const size_t hash_offset = in.pos();
    const auto recorded_sha1 = in.take(kSha1Size);
    const size_t name_length_offset = in.pos();
    const uint32_t name_length = in.u32();
    if (name_length == 0 || name_length > kMaxTemplateNameSize) {
      return entry_error(index, name_length_offset, "template name length " + std::to_string(name_length) +
                                                        " is not 1-" + std::to_string(kMaxTemplateNameSize));
    }
    if (in.left() < name_length) {
      return entry_error(index, in.pos(), "truncated template name: " + std::to_string(in.left()) + " of " +
                                              std::to_string(name_length) + " bytes");
    }
    const size_t name_offset = in.pos();
    const auto name_bytes = in.take(name_length);
    const std::string_view name_text(reinterpret_cast<const char*>(name_bytes.data()), name_bytes.size());
    const auto template_name = template_name_from_text(name_text);
    if (!template_name) return entry_error(index, name_offset, "unsupported template " + shown(name_text));
    entry.template_name = *template_name;

    if (entry.template_name == TemplateName::ima) {
      if (in.left() < kSha1Size) {
        return entry_error(index, in.pos(), "truncated d field: " + std::to_string(in.left()) + " of 20 bytes");
      }
      entry.file_digest = make_digest(HashAlgo::sha1, in.take(kSha1Size));
      if (in.left() < 4) return entry_error(index, in.pos(), "truncated n field length");
      const size_t length_offset = in.pos();
      const uint32_t length = in.u32();
      if (length > kImaEventNameMax) {
        return entry_error(index, length_offset, "n field length " + std::to_string(length) + " exceeds 255");
      }
      if (in.left() < length) {
        return entry_error(index, in.pos(), "truncated n field: " + std::to_string(in.left()) + " of " +
                                                std::to_string(length) + " bytes");
      }
      const size_t path_offset = in.pos();
      const auto path = in.take(length);
      entry.path.assign(reinterpret_cast<const char*>(path.data()), path.size());
      if (auto bad = bad_name(entry.path, kImaEventNameMax)) return entry_error(index, path_offset, *bad);
    } else {
      if (in.left() < 4) return entry_error(index, in.pos(), "truncated template data length");
      const size_t length_offset = in.pos();
      const uint32_t data_length = in.u32();
      if (data_length > kMaxTemplateDataSize) {
        return entry_error(index, length_offset, "template data length " + std::to_string(data_length) +
                                                     " exceeds " + std::to_string(kMaxTemplateDataSize));
      }
      if (in.left() < data_length) {
        return entry_error(index, in.pos(), "truncated template data: " + std::to_string(in.left()) + " of " +
                                                std::to_string(data_length) + " bytes");
      }
      const size_t data_offset = in.pos();
      Reader data(in.take(data_length));
      // Each field: u32 length + data, within the template data.
      auto field = [&](const char* field_name, size_t max_size) -> Result<std::span<const uint8_t>> {
        if (data.left() < 4) {
          return entry_error(index, data_offset + data.pos(),
                             std::string("template data ends before the ") + field_name + " field");
        }
        const size_t at = data_offset + data.pos();
        const uint32_t length = data.u32();
        if (length > max_size) {
          return entry_error(index, at, std::string(field_name) + " field length " + std::to_string(length) +
                                            " exceeds " + std::to_string(max_size));
        }
        if (data.left() < length) {
          return entry_error(index, data_offset + data.pos(),
                             std::string(field_name) + " field is " + std::to_string(length) + " bytes but only " +
                                 std::to_string(data.left()) + " remain in the template data");
        }
        return data.take(length);
      };

      const size_t d_offset = data_offset + 4;
      auto d_ng = field("d-ng", 256);
      if (!d_ng) return std::unexpected(d_ng.error());
      const auto nul = std::find(d_ng->begin(), d_ng->end(), uint8_t{0});
      const std::string_view prefix(reinterpret_cast<const char*>(d_ng->data()),
                                    static_cast<size_t>(nul - d_ng->begin()));
      if (nul == d_ng->end() || prefix.empty() || prefix.back() != ':') {
        return entry_error(index, d_offset, "d-ng field does not start with \"<algo>:\" and a NUL");
      }
      const auto algo = canonical_algo(prefix.substr(0, prefix.size() - 1));
      if (!algo) return entry_error(index, d_offset, "d-ng field names unknown hash algorithm " + shown(prefix));
      const auto digest = d_ng->subspan(prefix.size() + 1);
      if (digest.size() != crypto::hash_size(*algo)) {
        return entry_error(index, d_offset + prefix.size() + 1,
                           std::string(crypto::hash_name(*algo)) + " digest is " + std::to_string(digest.size()) +
                               " bytes, expected " + std::to_string(crypto::hash_size(*algo)));
      }
      entry.file_digest = make_digest(*algo, digest);

      const size_t n_offset = data_offset + data.pos() + 4;
      auto n_ng = field("n-ng", kMaxMeasuredPathSize + 1);
      if (!n_ng) return std::unexpected(n_ng.error());
      if (n_ng->empty() || n_ng->back() != 0) {
        return entry_error(index, n_offset, "n-ng field is not NUL-terminated");
      }
      entry.path.assign(reinterpret_cast<const char*>(n_ng->data()), n_ng->size() - 1);
      if (auto bad = bad_name(entry.path, kMaxMeasuredPathSize)) return entry_error(index, n_offset, *bad);

      if (entry.template_name == TemplateName::ima_sig) {
        auto sig = field("sig", kMaxMeasuredSignatureSize);
        if (!sig) return std::unexpected(sig.error());
        entry.signature.assign(sig->begin(), sig->end());
      }
      if (data.left() != 0) {
        return entry_error(index, data_offset + data.pos(),
                           std::to_string(data.left()) + " bytes of template data follow the last field of " +
                               std::string(template_name_text(entry.template_name)));
      }
    }

    if (auto finished = finish_entry(entry, recorded_sha1, index, hash_offset); !finished) {
      return std::unexpected(finished.error());
    }
    const auto record = bytes.subspan(start, in.pos() - start);
    const auto canonical = binary_record(entry);
    if (!std::equal(record.begin(), record.end(), canonical.begin(), canonical.end())) {
      return entry_error(index, start, "record is not in the form the kernel writes");
    }
    return entry;
  }
}

}  // namespace

BinaryListPrefix parse_binary_list_prefix(std::span<const uint8_t> bytes) {
  BinaryListPrefix prefix;
  Reader in(bytes);
  for (size_t index = 0; in.left() > 0; ++index) {
    auto entry = parse_binary_record(in, bytes, index);
    if (!entry) {
      prefix.tail_error = entry.error().message;
      break;
    }
    prefix.entries.push_back(std::move(*entry));
    prefix.parsed_bytes = in.pos();
  }
  return prefix;
}

Result<std::vector<MeasurementEntry>> parse_binary_list(std::span<const uint8_t> bytes) {
  BinaryListPrefix prefix = parse_binary_list_prefix(bytes);
  if (!prefix.tail_error.empty()) return fail(prefix.tail_error);
  return std::move(prefix.entries);
}


Result<std::vector<MeasurementEntry>> parse_ascii_list(std::string_view text) {
  std::vector<MeasurementEntry> entries;
  size_t pos = 0;
  std::vector<uint8_t> decoded;
  for (size_t index = 0; pos < text.size(); ++index) {
    const size_t start = pos;
    const size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      return entry_error(index, start, "line is not terminated by a newline (truncated list?)");
    }
    const std::string_view line = text.substr(start, end - start);
    pos = end + 1;

    // Splits off the next space-terminated token; offsets are into `text`.
    size_t cursor = 0;
    auto next_token = [&](std::string_view& token, size_t& at) {
      const size_t space = line.find(' ', cursor);
      if (space == std::string_view::npos) return false;
      at = start + cursor;
      token = line.substr(cursor, space - cursor);
      cursor = space + 1;
      return true;
    };
    const char* shape = "expected \"PCR TEMPLATE-HASH TEMPLATE-NAME FIELDS...\"";

    MeasurementEntry entry;
    // "%2d ": one leading space for PCRs 0-9.
    if (!line.empty() && line[0] == ' ') cursor = 1;
    std::string_view pcr_text, hash_text, name_text;
    size_t pcr_at = 0, hash_at = 0, name_at = 0;
    if (!next_token(pcr_text, pcr_at)) return entry_error(index, start, shape);
    if (pcr_text.empty() || pcr_text.size() > 2 ||
        !std::all_of(pcr_text.begin(), pcr_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return entry_error(index, pcr_at, "PCR " + shown(pcr_text) + " is not a number 0-63");
    }
    entry.pcr = static_cast<uint32_t>(std::stoul(std::string(pcr_text)));
    char canonical_pcr[16];
    std::snprintf(canonical_pcr, sizeof canonical_pcr, "%2u ", static_cast<unsigned>(entry.pcr));
    if (entry.pcr > kMaxMeasurementPcr || line.substr(0, cursor) != canonical_pcr) {
      return entry_error(index, start, "PCR field " + shown(line.substr(0, cursor)) + " is not \"%2d \" of 0-63");
    }
    if (!next_token(hash_text, hash_at)) return entry_error(index, start + cursor, shape);
    if (hash_text.size() != 2 * kSha1Size || !decode_hex(hash_text, decoded)) {
      return entry_error(index, hash_at, "template hash " + shown(hash_text) + " is not 40 lowercase hex digits");
    }
    const std::vector<uint8_t> recorded_sha1 = decoded;
    if (!next_token(name_text, name_at)) return entry_error(index, start + cursor, shape);
    const auto template_name = template_name_from_text(name_text);
    if (!template_name) return entry_error(index, name_at, "unsupported template " + shown(name_text));
    entry.template_name = *template_name;

    // The fields: separated by single spaces; names never hold spaces (the kernel writes '_').
    std::vector<std::pair<std::string_view, size_t>> fields;
    for (size_t from = cursor;;) {
      const size_t space = line.find(' ', from);
      const size_t stop = space == std::string_view::npos ? line.size() : space;
      fields.emplace_back(line.substr(from, stop - from), start + from);
      if (space == std::string_view::npos) break;
      from = space + 1;
    }
    const size_t expected = entry.template_name == TemplateName::ima_sig ? 3 : 2;
    if (fields.size() != expected) {
      return entry_error(index, start + cursor,
                         "template " + std::string(name_text) + " has " + std::to_string(expected) +
                             " fields, the line has " + std::to_string(fields.size()));
    }

    const auto [digest_text, digest_at] = fields[0];
    if (entry.template_name == TemplateName::ima) {
      if (digest_text.size() != 2 * kSha1Size || !decode_hex(digest_text, decoded)) {
        return entry_error(index, digest_at, "d field is not 40 lowercase hex digits");
      }
      entry.file_digest = make_digest(HashAlgo::sha1, decoded);
    } else {
      const size_t colon = digest_text.find(':');
      if (colon == std::string_view::npos) {
        return entry_error(index, digest_at, "d-ng field " + shown(digest_text) + " has no \"<algo>:\" prefix");
      }
      const auto algo = canonical_algo(digest_text.substr(0, colon));
      if (!algo) {
        return entry_error(index, digest_at, "d-ng field names unknown hash algorithm " +
                                                 shown(digest_text.substr(0, colon)));
      }
      const auto hex = digest_text.substr(colon + 1);
      if (hex.size() != 2 * crypto::hash_size(*algo) || !decode_hex(hex, decoded)) {
        return entry_error(index, digest_at + colon + 1,
                           std::string(crypto::hash_name(*algo)) + " digest is not " +
                               std::to_string(2 * crypto::hash_size(*algo)) + " lowercase hex digits");
      }
      entry.file_digest = make_digest(*algo, decoded);
    }

    const auto [path_text, path_at] = fields[1];
    const size_t max_name = entry.template_name == TemplateName::ima ? kImaEventNameMax : kMaxMeasuredPathSize;
    if (auto bad = bad_name(path_text, max_name)) return entry_error(index, path_at, *bad);
    entry.path = std::string(path_text);

    if (entry.template_name == TemplateName::ima_sig) {
      const auto [sig_text, sig_at] = fields[2];
      if (sig_text.size() > 2 * kMaxMeasuredSignatureSize || !decode_hex(sig_text, decoded)) {
        return entry_error(index, sig_at, "sig field is not lowercase hex of at most 65536 bytes");
      }
      entry.signature = decoded;
    }

    if (auto finished = finish_entry(entry, recorded_sha1, index, hash_at); !finished) {
      return std::unexpected(finished.error());
    }
    if (ascii_line(entry) != text.substr(start, pos - start)) {
      return entry_error(index, start, "line is not in the form the kernel writes");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace vigil::ima
