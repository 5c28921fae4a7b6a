#pragma once
// Appraisal verdicts and "already measured" marks, per file content version. A version is
// (device, inode, change time, size): any write changes ctime, and FAN_CLOSE_WRITE events also
// invalidate the inode explicitly, so a modified file is always appraised again.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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

struct MeasuredVersions {
  size_t capacity = 0;
  size_t size = 0;
  uint64_t evicted = 0;  // forgotten at the bound; each is measured again when next accessed
  size_t clock_entries = 0;  // bookkeeping: stays within 2 x size + 64
};

class DecisionCache {
 public:
  // `capacity`: appraisal verdicts; `measured_capacity`: file versions remembered as measured.
  explicit DecisionCache(size_t capacity, size_t measured_capacity = 131072)
      : capacity_(capacity), measured_capacity_(std::max<size_t>(1, measured_capacity)) {}
  // profile distinguishes appraisals under different keyrings or signature requirements.
  std::optional<Appraisal> find(const FileVersion& version, uint32_t profile) const;
  // Bumped by clear() and invalidate(): a verdict computed before a bump must not be stored.
  uint64_t epoch() const;
  void store(const FileVersion& version, uint32_t profile, const Appraisal& appraisal, uint64_t epoch_at_start);
  // True if this call claimed the measurement of (version, template, pcr); false if claimed before.
  // Bounded by measured_capacity: at the bound, a version already in the list that was not
  // looked up since the clock hand last passed it is forgotten (never one being measured), so
  // it is measured again, as a new entry, when next accessed. The list stays true; it grows by
  // one entry per forgotten version that comes back.
  bool claim_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  enum class Claim { claimed, recorded, abandoned };
  // claim_measurement, except that while another decision holds the claim it waits: until that
  // one has recorded the entry (recorded: it is in the list), or gave the claim up (then this
  // call claims it), or `abandoned()` turns true (checked every 10 ms). So no access is
  // allowed before its version is in the list, even when a second one races the first.
  Claim claim_or_wait(const FileVersion& version, ima::TemplateName name, uint32_t pcr,
                      const std::function<bool()>& abandoned);
  // After the entry is in the list: only then may the fast path skip measuring.
  void mark_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  bool is_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) const;
  void release_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr);
  void invalidate(uint64_t device, uint64_t inode);
  void clear();
  size_t size() const;
  MeasuredVersions measured_versions() const;

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
  struct MeasuredMark {
    bool recorded = false;    // false: claimed, the entry is being made
    bool referenced = false;  // looked up since the clock hand last passed
  };
  void evict_measured_over_capacity();  // under mutex_
  void compact_clock();                 // under mutex_

  size_t capacity_;
  size_t measured_capacity_;
  mutable std::mutex mutex_;
  std::condition_variable measured_changed_;  // a claim was recorded or released
  // By inode, so a write invalidates in O(1); a handful of versions/profiles per inode.
  std::unordered_map<std::pair<uint64_t, uint64_t>, std::vector<Stored>, InodeHash> appraisals_;
  // profile = template << 8 | pcr. Looked up on the reader thread's fast path (is_measured
  // sets `referenced`, hence mutable).
  mutable std::unordered_map<Key, MeasuredMark, KeyHash> measured_;
  std::deque<Key> clock_;  // measured_'s keys in claim order (with stale ones; compacted)
  uint64_t measured_evicted_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace vigil::agent
