#include "agent/measurement_sink.h"

namespace vigil::agent {

Result<void> MeasurementSink::record(ima::MeasurementEntry entry, std::string* extend_error) {
  ima::compute_template_hashes(entry);
  std::vector<crypto::Digest> digests;
  for (crypto::HashAlgo bank : pcrs_->banks()) digests.push_back(ima::extend_digest(entry, bank));
  std::lock_guard lock(mutex_);
  if (auto appended = log_->append(entry); !appended) return appended;
  if (auto extended = pcrs_->extend(entry.pcr, digests); !extended && extend_error != nullptr) {
    *extend_error = extended.error().message;
  }
  return {};
}

}  // namespace vigil::agent
