#include "agent/decision_cache.h"

#include <functional>

namespace vigil::agent {
namespace {

size_t mix(size_t seed, uint64_t value) {
  return seed ^ (std::hash<uint64_t>{}(value) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2));
}

uint32_t measurement_profile(ima::TemplateName name, uint32_t pcr) {
  return (static_cast<uint32_t>(name) << 8) | (pcr & 0xff);
}

}  // namespace

FileVersion FileVersion::of(const struct stat& st) {
  return FileVersion{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), st.st_ctim.tv_sec,
                     st.st_ctim.tv_nsec, st.st_size};
}

std::string_view cause_name(Cause cause) {
  switch (cause) {
    case Cause::none: return "";
    case Cause::signature_required: return "IMA-signature-required";
    case Cause::invalid_signature: return "invalid-signature";
    case Cause::invalid_hash: return "invalid-hash";
    case Cause::unknown_key: return "unknown-key";
    case Cause::missing_hash: return "missing-hash";
    case Cause::invalid_xattr: return "invalid-xattr";
    case Cause::read_error: return "read-error";
  }
  return "";
}

size_t DecisionCache::KeyHash::operator()(const Key& key) const {
  size_t seed = key.profile;
  seed = mix(seed, key.version.device);
  seed = mix(seed, key.version.inode);
  seed = mix(seed, static_cast<uint64_t>(key.version.ctime_sec));
  seed = mix(seed, static_cast<uint64_t>(key.version.ctime_nsec));
  return mix(seed, static_cast<uint64_t>(key.version.size));
}

size_t DecisionCache::InodeHash::operator()(const std::pair<uint64_t, uint64_t>& id) const {
  return mix(std::hash<uint64_t>{}(id.first), id.second);
}

std::optional<Appraisal> DecisionCache::find(const FileVersion& version, uint32_t profile) const {
  std::lock_guard lock(mutex_);
  auto it = appraisals_.find({version.device, version.inode});
  if (it == appraisals_.end()) return std::nullopt;
  for (const Stored& stored : it->second) {
    if (stored.profile == profile && stored.version == version) return stored.appraisal;
  }
  return std::nullopt;
}

uint64_t DecisionCache::epoch() const {
  std::lock_guard lock(mutex_);
  return epoch_;
}

void DecisionCache::store(const FileVersion& version, uint32_t profile, const Appraisal& appraisal,
                          uint64_t epoch_at_start) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mutex_);
  if (epoch_at_start != epoch_) return;  // a reload or write happened meanwhile: stale verdict
  // Bounded: when full, start over. Re-appraising is correct, only slower.
  if (appraisals_.size() >= capacity_) appraisals_.clear();
  auto& versions = appraisals_[{version.device, version.inode}];
  // An older version of the inode can never match again.
  std::erase_if(versions, [&](const Stored& stored) { return !(stored.version == version); });
  for (Stored& stored : versions) {
    if (stored.profile == profile) {
      stored.appraisal = appraisal;
      return;
    }
  }
  versions.push_back(Stored{version, profile, appraisal});
}

bool DecisionCache::claim_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr) {
  std::lock_guard lock(mutex_);
  // Never forgotten for capacity reasons: forgetting would measure a file twice.
  return measured_.emplace(Key{version, measurement_profile(name, pcr)}, false).second;
}

void DecisionCache::mark_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) {
  std::lock_guard lock(mutex_);
  measured_[Key{version, measurement_profile(name, pcr)}] = true;
}

bool DecisionCache::is_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) const {
  std::lock_guard lock(mutex_);
  auto it = measured_.find(Key{version, measurement_profile(name, pcr)});
  return it != measured_.end() && it->second;
}

void DecisionCache::release_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr) {
  std::lock_guard lock(mutex_);
  measured_.erase(Key{version, measurement_profile(name, pcr)});
}

void DecisionCache::invalidate(uint64_t device, uint64_t inode) {
  std::lock_guard lock(mutex_);
  appraisals_.erase({device, inode});
  ++epoch_;
}

void DecisionCache::clear() {
  std::lock_guard lock(mutex_);
  appraisals_.clear();
  ++epoch_;
}

size_t DecisionCache::size() const {
  std::lock_guard lock(mutex_);
  return appraisals_.size();
}

}  // namespace vigil::agent
