#include "agent/measurement_sink.h"

namespace vigil::agent {

Result<void> MeasurementSink::record(ima::MeasurementEntry entry, std::string* extend_error, std::string_view verdict) {
  ima::compute_template_hashes(entry);
  std::vector<crypto::Digest> digests;
  for (crypto::HashAlgo bank : pcrs_->banks()) digests.push_back(ima::extend_digest(entry, bank));
  std::lock_guard lock(mutex_);
  if (auto appended = log_->append(entry); !appended) return appended;
  if (observer_) observer_(entry, log_->size() - 1, verdict);
  if (auto extended = pcrs_->extend(entry.pcr, digests); !extended && extend_error != nullptr) {
    *extend_error = extended.error().message;
  }
  return {};
}

std::map<crypto::HashAlgo, crypto::Digest> MeasurementSink::read_pcr(std::uint32_t pcr) {
  std::map<crypto::HashAlgo, crypto::Digest> values;
  std::lock_guard lock(mutex_);
  for (crypto::HashAlgo bank : pcrs_->banks()) {
    if (auto value = pcrs_->read(pcr, bank)) values.emplace(bank, *value);
  }
  return values;
}

}  // namespace vigil::agent
