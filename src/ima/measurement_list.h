#pragma once
// The IMA measurement list, byte-exact with the kernel's ascii_runtime_measurements and
// binary_runtime_measurements (security/integrity/ima/ima_fs.c, ima_template_lib.c).
// Byte layouts, hash rules and limits: docs/measurement-list.md.
#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "ima/template.h"

namespace vigil::ima {

inline constexpr uint32_t kMaxMeasurementPcr = 63;        // the kernel's policy limit (pcr= < 64)
inline constexpr size_t kImaEventNameMax = 255;           // IMA_EVENT_NAME_LEN_MAX (`ima` template n)
inline constexpr size_t kMaxMeasuredPathSize = 4095;      // PATH_MAX - 1: longest d_path() name
inline constexpr size_t kMaxMeasuredSignatureSize = 65536;  // XATTR_SIZE_MAX
inline constexpr size_t kMaxTemplateDataSize = 1 << 17;   // parser cap; real entries stay below 70 KiB

struct MeasurementEntry {
  uint32_t pcr = 10;
  TemplateName template_name = TemplateName::ima_ng;
  crypto::Digest file_digest;         // the `ima` template takes SHA-1 (or MD5) only
  std::string path;                   // n / n-ng field
  std::vector<uint8_t> signature;     // ima-sig: the whole security.ima value, or empty
  bool violation = false;             // recorded as zeros, extended as 0xff
  // Filled by compute_template_hashes():
  std::array<uint8_t, 20> template_sha1{};
  std::array<uint8_t, 32> template_sha256{};

  bool operator==(const MeasurementEntry& other) const = default;
};

// Why an entry cannot be recorded as the kernel would (bad digest size, `ima` template with a
// non-SHA-1 digest, NUL in the path, oversized signature, PCR > 63, ...). The serializers below
// still produce deterministic bytes for invalid entries; MeasurementLog::append refuses them.
Result<void> validate_entry(const MeasurementEntry& entry);
// The name as the kernel records it: cut at a NUL, spaces replaced by '_'; for the `ima`
// template a name over 255 bytes becomes its last path component (what the kernel takes from
// the dentry), truncated to 255 bytes if still longer.
std::string template_event_name(const MeasurementEntry& entry);

// The template data bytes exactly as hashed for the template digest (for `ima`, the digest
// followed by the name zero-padded to 256 bytes; otherwise each field as u32 length + data).
std::vector<uint8_t> template_hash_input(const MeasurementEntry& entry);
// Sets template_sha1/template_sha256 (zeros for a violation). The serializers and
// extend_digest() derive the hashes from the other fields themselves, so a list written by
// vigil is always self-consistent; these two members are output for callers.
void compute_template_hashes(MeasurementEntry& entry);
// The digest extended into a PCR bank for this entry: the template hash in that bank's
// algorithm, or all 0xff bytes for a violation.
crypto::Digest extend_digest(const MeasurementEntry& entry, crypto::HashAlgo bank);

// One line of ascii_runtime_measurements, with its trailing newline.
std::string ascii_line(const MeasurementEntry& entry);
// One record of binary_runtime_measurements (native endianness, SHA-1 template digest).
std::vector<uint8_t> binary_record(const MeasurementEntry& entry);

// The first entry: "boot_aggregate", digest = hash of PCRs 0-7 (SHA-1) or 0-9 (other banks);
// all zeros when there is no TPM (pcr_values empty). pcr_values[i] is PCR i of the
// digest_algo bank; missing PCRs count as zeros, each value is zero-padded/truncated to the
// bank's digest size (as the kernel reads them). The `ima` template forces SHA-1.
// The returned entry has its template hashes computed.
MeasurementEntry boot_aggregate_entry(crypto::HashAlgo digest_algo, std::span<const crypto::Digest> pcr_values,
                                      TemplateName template_name = TemplateName::ima_ng);

// Parsers of lists written by vigil or the kernel (untrusted: fuzzed). The template hashes
// are taken from the record and recomputed; a mismatch is an error naming the entry. Errors
// read "entry N at byte OFFSET: what". Only the canonical form the kernel writes is accepted
// (templates ima, ima-ng, ima-sig), so serializing a parsed list gives back the same bytes.
// A zero template hash marks a violation (its file digest must then be zeros too).
Result<std::vector<MeasurementEntry>> parse_binary_list(std::span<const uint8_t> bytes);

// The longest run of whole records from the start of a binary list that parse (for a list a
// crash may have cut in the middle of a record): those entries, the bytes they take, and why
// what follows them does not parse ("" when everything did).
struct BinaryListPrefix {
  std::vector<MeasurementEntry> entries;
  size_t parsed_bytes = 0;
  std::string tail_error;
};
BinaryListPrefix parse_binary_list_prefix(std::span<const uint8_t> bytes);
Result<std::vector<MeasurementEntry>> parse_ascii_list(std::string_view text);

// PCR value after extending `entries` (those with entry.pcr == pcr) from all zeros.
// Empty (size 0) for a bank vigil cannot hash.
crypto::Digest replay_pcr(std::span<const MeasurementEntry> entries, uint32_t pcr, crypto::HashAlgo bank);

inline constexpr const char* kAsciiListName = "ascii_runtime_measurements";
inline constexpr const char* kBinaryListName = "binary_runtime_measurements";

// What an earlier run left in a list directory, read back from binary_runtime_measurements
// (the authoritative file: the ascii one cannot always be parsed back).
struct ExistingList {
  bool found = false;                      // the binary list exists
  std::vector<MeasurementEntry> entries;   // its whole records that parse, in order
  uint64_t file_bytes = 0;                 // its size
  uint64_t parsed_bytes = 0;               // the bytes those records take
  std::string tail_error;                  // why the bytes after them do not parse; "" when none
};

// Appends entries to <dir>/ascii_runtime_measurements and <dir>/binary_runtime_measurements.
// Thread-safe; each append is written before it returns. The directory is created (0750) if
// missing; the files get mode 0640 and symlinks are not followed. append() validates the entry
// and computes its template hashes; entries() returns them filled in. After a failed write the
// files may hold a partial entry, so every later append() fails too. Which list to continue
// and which to start again is the agent's decision (agent/measurement_start.h).
class MeasurementLog {
 public:
  // A new, empty list: existing files are truncated.
  static Result<std::unique_ptr<MeasurementLog>> open(const std::string& dir);
  // Reads the list an earlier run left in `dir` (found = false when there is none).
  static Result<ExistingList> read_existing(const std::string& dir);
  // Goes on appending after `existing` (as read_existing returned it): the binary list is cut
  // after its last whole record, and the ascii list, when it is not exactly those entries
  // (a crash between the two writes, a torn line), is written again from them (to a new file
  // renamed over the old one). *ascii_rewritten tells whether it was.
  static Result<std::unique_ptr<MeasurementLog>> continue_list(const std::string& dir, ExistingList existing,
                                                               bool* ascii_rewritten = nullptr);
  // Renames both files to NAME.<suffix> (never over an existing file); returns the new path
  // of the binary list. A missing ascii list is not an error.
  static Result<std::string> set_aside(const std::string& dir, const std::string& suffix);
  ~MeasurementLog();
  Result<void> append(const MeasurementEntry& entry);
  size_t size() const;
  std::vector<MeasurementEntry> entries() const;  // a copy, for replay and the API

 private:
  MeasurementLog() = default;
  mutable std::mutex mutex_;
  std::FILE* ascii_ = nullptr;
  std::FILE* binary_ = nullptr;
  std::vector<MeasurementEntry> entries_;
  bool broken_ = false;  // a write failed part-way: the files no longer match entries_
};

}  // namespace vigil::ima
