#include "agent/measurement_sink.h"

namespace vigil::agent {

Result<void> MeasurementSink::record(ima::MeasurementEntry entry) {
  ima::compute_template_hashes(entry);
  std::vector<crypto::Digest> digests;
  for (crypto::HashAlgo bank : pcrs_->banks()) digests.push_back(ima::extend_digest(entry, bank));
  std::lock_guard lock(mutex_);
  if (auto appended = log_->append(entry); !appended) return appended;
  // The kernel, too, keeps the entry when the TPM fails; the error goes to the audit log.
  return pcrs_->extend(entry.pcr, digests);
}

}  // namespace vigil::agent
