#pragma once
// Appraisal verdicts and "already measured" marks, per file content version. A version is
// (device, inode, change time, size): any write changes ctime, and FAN_CLOSE_WRITE events also
// invalidate the inode explicitly, so a modified file is always appraised again.
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ima/ima.h"
#include "ima/template.h"

namespace vigil::agent {

struct FileVersion {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t ctime_sec = 0;
  int64_t ctime_nsec = 0;
  int64_t size = 0;
  static FileVersion of(const struct stat& st);
  bool operator==(const FileVersion&) const = default;
};

// Why an appraisal failed, in the kernel's audit vocabulary.
enum class Cause : uint8_t { none, signature_required, invalid_signature, invalid_hash, unknown_key, missing_hash,
                             invalid_xattr, read_error };
std::string_view cause_name(Cause cause);  // "IMA-signature-required", "invalid-signature", ...

struct Appraisal {
  bool passed = false;
  Cause cause = Cause::none;
  ima::VerifyStatus status = ima::VerifyStatus::error;
  uint32_t keyid = 0;
};

class DecisionCache {
 public:
  explicit DecisionCache(size_t capacity) : capacity_(capacity) {}
  // profile distinguishes appraisals under different keyrings or signature requirements.
  std::optional<Appraisal> find(const FileVersion& version, uint32_t profile) const;
  // Bumped by clear() and invalidate(): a verdict computed before a bump must not be stored.
  uint64_t epoch() const;
  void store(const FileVersion& version, uint32_t profile, const Appraisal& appraisal, uint64_t epoch_at_start);
  // True if this call claimed the measurement of (version, template, pcr); false if claimed before.
  bool claim_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  // After the entry is in the list: only then may the fast path skip measuring.
  void mark_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  bool is_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) const;
  void release_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  void invalidate(uint64_t device, uint64_t inode);
  void clear();
  size_t size() const;

 private:
  struct Key {
    FileVersion version;
    uint32_t profile;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };
  struct InodeHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& id) const;
  };
  struct Stored {
    FileVersion version;
    uint32_t profile;
    Appraisal appraisal;
  };
  size_t capacity_;
  mutable std::mutex mutex_;
  // By inode, so a write invalidates in O(1); a handful of versions/profiles per inode.
  std::unordered_map<std::pair<uint64_t, uint64_t>, std::vector<Stored>, InodeHash> appraisals_;
  std::unordered_map<Key, bool, KeyHash> measured_;  // profile = template << 8 | pcr; true once recorded
  uint64_t epoch_ = 0;
};

}  // namespace vigil::agent
