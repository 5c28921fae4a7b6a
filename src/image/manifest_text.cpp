// The manifest's text form (docs/image.md): written by encode_body/sign_manifest, read from
// untrusted bytes by parse_manifest. The parser accepts the canonical form only, so a manifest
// has exactly one spelling and the fuzzer can check that parse and encode agree.
#include <charconv>
#include <limits>
#include <unordered_map>

#include "common/hex_text.h"
#include "image/image.h"

namespace vigil::image {
namespace {

constexpr std::string_view kMagic = "vigil-image-manifest 1";
constexpr size_t kMaxPathBytes = 4096;     // PATH_MAX, after unescaping
constexpr size_t kMaxCapabilityBytes = 256;  // security.capability v3 is 24 bytes
constexpr size_t kMaxSignatureBytes = 1024;  // RSA 4096 is 512

bool literal_byte(unsigned char c) { return c > 0x20 && c < 0x7f && c != '%'; }

void append_escaped(std::string& out, std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (literal_byte(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
}

std::string octal_mode(uint32_t mode) {
  std::string text(4, '0');
  for (int i = 3; i >= 0; --i) {
    text[static_cast<size_t>(i)] = static_cast<char>('0' + (mode & 7));
    mode >>= 3;
  }
  return text;
}

}  // namespace

std::string escape_path(std::string_view raw) {
  std::string out;
  append_escaped(out, raw);
  return out;
}

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::directory: return "directory";
    case EntryType::file: return "file";
    case EntryType::hard_link: return "hard link";
    case EntryType::symlink: return "symlink";
    case EntryType::char_device: return "character device";
    case EntryType::block_device: return "block device";
    case EntryType::fifo: return "FIFO";
    case EntryType::socket: return "socket";
  }
  return "unknown";
}

std::string encode_body(const Manifest& manifest) {
  std::string out;
  out.reserve(64 + manifest.entries.size() * 120);
  out += kMagic;
  out += "\nhash ";
  out += crypto::hash_name(manifest.hash);
  out += '\n';
  for (const Entry& entry : manifest.entries) {
    out += static_cast<char>(entry.type);
    out += ' ';
    append_escaped(out, entry.path);
    if (entry.type == EntryType::hard_link) {
      out += ' ';
      append_escaped(out, entry.target);
      out += '\n';
      continue;
    }
    out += ' ';
    out += octal_mode(entry.mode);
    out += ' ';
    out += std::to_string(entry.uid);
    out += ' ';
    out += std::to_string(entry.gid);
    switch (entry.type) {
      case EntryType::file:
        out += ' ';
        out += std::to_string(entry.size);
        out += ' ';
        out += entry.digest.hex();
        out += ' ';
        out += entry.capability.empty() ? "-" : hex_text(entry.capability);
        break;
      case EntryType::symlink:
        out += ' ';
        append_escaped(out, entry.target);
        break;
      case EntryType::char_device:
      case EntryType::block_device:
        out += ' ';
        out += std::to_string(entry.major);
        out += ' ';
        out += std::to_string(entry.minor);
        break;
      default:
        break;
    }
    out += '\n';
  }
  out += "end\n";
  return out;
}

namespace {

// Reads one manifest line at a time and its space-separated fields, with the line number for
// every error.
class LineParser {
 public:
  explicit LineParser(std::string_view text) : text_(text) {}

  size_t line_number() const { return line_number_; }
  size_t offset() const { return offset_; }
  bool at_end() const { return offset_ >= text_.size(); }

  // The next line without its '\n'; an error if the text ends without one.
  Result<std::string_view> next_line() {
    if (at_end()) return fail("truncated: the manifest ends before its signature (after line " +
                              std::to_string(line_number_) + ")");
    const size_t newline = text_.find('\n', offset_);
    ++line_number_;
    if (newline == std::string_view::npos) {
      return fail(where() + "truncated: the line does not end with a newline");
    }
    std::string_view line = text_.substr(offset_, newline - offset_);
    offset_ = newline + 1;
    return line;
  }

  std::string where() const { return "line " + std::to_string(line_number_) + ": "; }

 private:
  std::string_view text_;
  size_t offset_ = 0;
  size_t line_number_ = 0;
};

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    const size_t space = line.find(' ', start);
    fields.push_back(line.substr(start, space == std::string_view::npos ? std::string_view::npos : space - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  return fields;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-escaped text in its one canonical spelling: literal bytes where allowed, %XX (upper
// case) for every other byte.
Result<std::string> unescape(std::string_view text, std::string_view what) {
  if (text.empty()) return fail(std::string(what) + " is empty");
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '%') {
      if (i + 2 >= text.size()) return fail(std::string(what) + ": '%' not followed by two hex digits");
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return fail(std::string(what) + ": '%' not followed by two upper-case hex digits");
      const auto byte = static_cast<unsigned char>(high * 16 + low);
      if (literal_byte(byte)) return fail(std::string(what) + ": '%' escapes a byte that must be written as itself");
      out += static_cast<char>(byte);
      i += 2;
    } else if (!literal_byte(c)) {
      return fail(std::string(what) + ": byte 0x" + hex_text(std::span<const uint8_t>(&c, 1)) + " must be escaped");
    } else {
      out += static_cast<char>(c);
    }
    if (out.size() > kMaxPathBytes) return fail(std::string(what) + " is longer than 4096 bytes");
  }
  return out;
}

Result<void> check_path(const std::string& path) {
  if (path == ".") return {};
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string_view component =
        std::string_view(path).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (component.empty()) return fail("path has an empty component (leading, trailing or double '/')");
    if (component == "." || component == "..") return fail("path has a '.' or '..' component");
    if (component.find('\0') != std::string_view::npos) return fail("path has a NUL byte");
    if (slash == std::string::npos) return {};
    start = slash + 1;
  }
}

template <class T>
Result<T> decimal(std::string_view text, std::string_view what) {
  T value{};
  if (text.empty() || (text.size() > 1 && text[0] == '0')) {
    return fail(std::string(what) + ": expected a decimal number without leading zeros");
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return fail(std::string(what) + ": expected a decimal number up to " + std::to_string(std::numeric_limits<T>::max()));
  }
  return value;
}

Result<uint32_t> mode_field(std::string_view text) {
  if (text.size() != 4) return fail("mode: expected 4 octal digits");
  uint32_t mode = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') return fail("mode: expected 4 octal digits");
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  return mode;
}

Result<std::vector<uint8_t>> lower_hex(std::string_view text, std::string_view what, size_t max_bytes) {
  if (text.empty() || text.size() % 2 != 0) return fail(std::string(what) + ": expected an even number of hex digits");
  if (text.size() / 2 > max_bytes) return fail(std::string(what) + ": longer than " + std::to_string(max_bytes) + " bytes");
  std::vector<uint8_t> bytes;
  bytes.reserve(text.size() / 2);
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return fail(std::string(what) + ": expected lower-case hex digits");
    bytes.push_back(static_cast<uint8_t>(high * 16 + low));
  }
  return bytes;
}

size_t expected_fields(EntryType type) {
  switch (type) {
    case EntryType::hard_link: return 3;
    case EntryType::file: return 8;
    case EntryType::symlink: return 6;
    case EntryType::char_device:
    case EntryType::block_device: return 7;
    default: return 5;
  }
}

std::optional<EntryType> type_from_field(std::string_view field) {
  if (field.size() != 1) return std::nullopt;
  switch (field[0]) {
    case 'd': return EntryType::directory;
    case 'f': return EntryType::file;
    case 'h': return EntryType::hard_link;
    case 'l': return EntryType::symlink;
    case 'c': return EntryType::char_device;
    case 'b': return EntryType::block_device;
    case 'p': return EntryType::fifo;
    case 's': return EntryType::socket;
    default: return std::nullopt;
  }
}

// One entry line; `kinds` maps the paths seen so far to their types (parents, link targets).
Result<Entry> parse_entry(const std::vector<std::string_view>& fields, crypto::HashAlgo hash,
                          const std::unordered_map<std::string, EntryType>& kinds) {
  const auto type = type_from_field(fields[0]);
  if (!type) return fail("unknown entry type '" + std::string(fields[0]) + "' (d f h l c b p s)");
  if (fields.size() != expected_fields(*type)) {
    return fail(std::string(entry_type_name(*type)) + " entry: expected " + std::to_string(expected_fields(*type)) +
                " fields, found " + std::to_string(fields.size()));
  }
  Entry entry;
  entry.type = *type;
  auto path = unescape(fields[1], "path");
  if (!path) return std::unexpected(path.error());
  entry.path = std::move(*path);
  if (auto checked = check_path(entry.path); !checked) return std::unexpected(checked.error());
  if (entry.path == "." && entry.type != EntryType::directory) return fail("the root '.' must be a directory");
  if (entry.path != ".") {
    const size_t slash = entry.path.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : entry.path.substr(0, slash);
    const auto found = kinds.find(parent);
    if (found == kinds.end() || found->second != EntryType::directory) {
      return fail("parent directory '" + escape_path(parent) + "' is not an earlier directory entry");
    }
  }
  if (entry.type == EntryType::hard_link) {
    auto target = unescape(fields[2], "hard link target");
    if (!target) return std::unexpected(target.error());
    const auto found = kinds.find(*target);
    if (found == kinds.end() || found->second != EntryType::file) {
      return fail("hard link target '" + std::string(fields[2]) + "' is not an earlier file entry");
    }
    entry.target = std::move(*target);
    return entry;
  }
  auto mode = mode_field(fields[2]);
  if (!mode) return std::unexpected(mode.error());
  entry.mode = *mode;
  auto uid = decimal<uint32_t>(fields[3], "uid");
  if (!uid) return std::unexpected(uid.error());
  auto gid = decimal<uint32_t>(fields[4], "gid");
  if (!gid) return std::unexpected(gid.error());
  entry.uid = *uid;
  entry.gid = *gid;
  switch (entry.type) {
    case EntryType::file: {
      auto size = decimal<uint64_t>(fields[5], "size");
      if (!size) return std::unexpected(size.error());
      entry.size = *size;
      auto digest = lower_hex(fields[6], "digest", crypto::kMaxDigestSize);
      if (!digest) return std::unexpected(digest.error());
      if (digest->size() != crypto::hash_size(hash)) {
        return fail("digest: " + std::to_string(digest->size()) + " bytes, " + std::string(crypto::hash_name(hash)) +
                    " has " + std::to_string(crypto::hash_size(hash)));
      }
      entry.digest.algo = hash;
      entry.digest.size = static_cast<uint8_t>(digest->size());
      std::copy(digest->begin(), digest->end(), entry.digest.bytes.begin());
      if (fields[7] != "-") {
        auto capability = lower_hex(fields[7], "capability", kMaxCapabilityBytes);
        if (!capability) return std::unexpected(capability.error());
        entry.capability = std::move(*capability);
      }
      break;
    }
    case EntryType::symlink: {
      auto target = unescape(fields[5], "symlink target");
      if (!target) return std::unexpected(target.error());
      if (target->find('\0') != std::string::npos) return fail("symlink target has a NUL byte");
      entry.target = std::move(*target);
      break;
    }
    case EntryType::char_device:
    case EntryType::block_device: {
      auto major = decimal<uint32_t>(fields[5], "major");
      if (!major) return std::unexpected(major.error());
      auto minor = decimal<uint32_t>(fields[6], "minor");
      if (!minor) return std::unexpected(minor.error());
      entry.major = *major;
      entry.minor = *minor;
      break;
    }
    default:
      break;
  }
  return entry;
}

}  // namespace

Result<SignedManifest> parse_manifest(std::span<const uint8_t> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  LineParser lines(text);
  auto error = [&](const std::string& message) { return fail("manifest: " + lines.where() + message); };

  SignedManifest parsed;
  auto magic = lines.next_line();
  if (!magic) return fail("manifest: " + magic.error().message);
  if (*magic != kMagic) return error("not a vigil image manifest (expected '" + std::string(kMagic) + "')");
  auto hash_line = lines.next_line();
  if (!hash_line) return fail("manifest: " + hash_line.error().message);
  if (!hash_line->starts_with("hash ")) return error("expected 'hash ALGORITHM'");
  // The name exactly as written (not an alias such as "sm3-256"): one spelling per manifest.
  const auto algo = crypto::hash_from_name(hash_line->substr(5));
  if (!algo || crypto::hash_name(*algo) != hash_line->substr(5) || (*algo != crypto::HashAlgo::sha256 && *algo != crypto::HashAlgo::sm3 &&
                *algo != crypto::HashAlgo::sha384 && *algo != crypto::HashAlgo::sha512)) {
    return error("hash: expected sm3, sha256, sha384 or sha512");
  }
  parsed.manifest.hash = *algo;

  std::unordered_map<std::string, EntryType> kinds;
  for (;;) {
    auto line = lines.next_line();
    if (!line) return fail("manifest: " + line.error().message);
    if (*line == "end") break;
    const auto fields = split_fields(*line);
    if (fields.size() < 2) return error("expected an entry or 'end'");
    auto entry = parse_entry(fields, parsed.manifest.hash, kinds);
    if (!entry) return error(entry.error().message);
    // The root first, then every other path in bytewise order, each once.
    const auto& entries = parsed.manifest.entries;
    if (entries.empty() && entry->path != ".") return error("the first entry must be the root directory '.'");
    if (!entries.empty() && (entry->path == "." || (entries.size() > 1 && entry->path <= entries.back().path))) {
      return error("entries out of order or repeated ('" + escape_path(entry->path) + "' after '" +
                   escape_path(entries.back().path) + "')");
    }
    kinds.emplace(entry->path, entry->type);
    parsed.manifest.entries.push_back(std::move(*entry));
  }
  if (parsed.manifest.entries.empty()) return error("no entries: the root directory '.' is missing");
  const size_t body_size = lines.offset();

  auto signature_line = lines.next_line();
  if (!signature_line) return fail("manifest: " + signature_line.error().message);
  const auto fields = split_fields(*signature_line);
  if (fields.size() != 3 || fields[0] != "signature") return error("expected 'signature KEYID HEX'");
  auto keyid = lower_hex(fields[1], "key id", 4);
  if (!keyid || keyid->size() != 4) return error("key id: expected 8 lower-case hex digits");
  parsed.keyid = (uint32_t{(*keyid)[0]} << 24) | (uint32_t{(*keyid)[1]} << 16) | (uint32_t{(*keyid)[2]} << 8) |
                 uint32_t{(*keyid)[3]};
  auto signature = lower_hex(fields[2], "signature", kMaxSignatureBytes);
  if (!signature) return error(signature.error().message);
  parsed.signature = std::move(*signature);
  if (!lines.at_end()) return fail("manifest: bytes after the signature line");

  crypto::Hasher hasher;
  auto body_digest = hasher.of_bytes(parsed.manifest.hash, bytes.first(body_size));
  if (!body_digest) return fail("manifest: " + body_digest.error().message);
  parsed.body_digest = *body_digest;
  auto file_digest = hasher.of_bytes(crypto::HashAlgo::sha256, bytes);
  if (!file_digest) return fail("manifest: " + file_digest.error().message);
  parsed.file_digest = *file_digest;
  return parsed;
}

}  // namespace vigil::image
