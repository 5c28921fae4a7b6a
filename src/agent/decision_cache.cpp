#include "agent/decision_cache.h"

#include <chrono>
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
  const Key key{version, measurement_profile(name, pcr)};
  if (!measured_.emplace(key, MeasuredMark{}).second) return false;
  clock_.push_back(key);
  evict_measured_over_capacity();
  return true;
}

DecisionCache::Claim DecisionCache::claim_or_wait(const FileVersion& version, ima::TemplateName name, uint32_t pcr,
                                                  const std::function<bool()>& abandoned) {
  std::unique_lock lock(mutex_);
  const Key key{version, measurement_profile(name, pcr)};
  for (;;) {
    auto [it, inserted] = measured_.emplace(key, MeasuredMark{});
    if (inserted) {
      clock_.push_back(key);
      evict_measured_over_capacity();
      return Claim::claimed;
    }
    if (it->second.recorded) {
      it->second.referenced = true;
      return Claim::recorded;
    }
    if (abandoned && abandoned()) return Claim::abandoned;
    measured_changed_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void DecisionCache::evict_measured_over_capacity() {
  // CLOCK (second chance): the hand is the front of clock_. Claims in progress are passed over;
  // if every remembered version is one, the set stays over the bound until they finish (one or
  // two per worker).
  while (measured_.size() > measured_capacity_) {
    bool evicted = false;
    for (size_t turns = clock_.size(); turns > 0 && !evicted; --turns) {
      const Key key = clock_.front();
      clock_.pop_front();
      auto it = measured_.find(key);
      if (it == measured_.end()) continue;  // released since; stale
      if (!it->second.recorded || it->second.referenced) {
        it->second.referenced = false;
        clock_.push_back(key);
        continue;
      }
      measured_.erase(it);
      ++measured_evicted_;
      evicted = true;
    }
    if (!evicted) break;
  }
  compact_clock();
}

void DecisionCache::compact_clock() {
  // Released claims leave their keys behind (and a key claimed again appears twice): rebuild
  // once the stale ones are as many as the live ones, so the deque stays within 2x + 64.
  if (clock_.size() <= 2 * measured_.size() + 64) return;
  std::unordered_map<Key, bool, KeyHash> kept;
  std::deque<Key> live;
  for (const Key& key : clock_) {
    if (measured_.contains(key) && kept.emplace(key, true).second) live.push_back(key);
  }
  clock_ = std::move(live);
}

void DecisionCache::mark_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) {
  std::lock_guard lock(mutex_);
  const Key key{version, measurement_profile(name, pcr)};
  auto [it, inserted] = measured_.emplace(key, MeasuredMark{});
  if (inserted) clock_.push_back(key);
  it->second.recorded = true;
  if (inserted) evict_measured_over_capacity();
  measured_changed_.notify_all();
}

bool DecisionCache::is_measured(const FileVersion& version, ima::TemplateName name, uint32_t pcr) const {
  std::lock_guard lock(mutex_);
  auto it = measured_.find(Key{version, measurement_profile(name, pcr)});
  if (it == measured_.end() || !it->second.recorded) return false;
  it->second.referenced = true;
  return true;
}

void DecisionCache::release_measurement(const FileVersion& version, ima::TemplateName name, uint32_t pcr) {
  std::lock_guard lock(mutex_);
  measured_.erase(Key{version, measurement_profile(name, pcr)});
  compact_clock();
  measured_changed_.notify_all();
}

MeasuredVersions DecisionCache::measured_versions() const {
  std::lock_guard lock(mutex_);
  return MeasuredVersions{measured_capacity_, measured_.size(), measured_evicted_, clock_.size()};
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
