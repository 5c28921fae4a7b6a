#pragma once
// Appends measurements to the list and extends PCR 10 with the same entry, under one lock,
// so the order in the list is the order of the extends (a verifier replays it).
#include <memory>
#include <mutex>
#include <string>

#include "ima/measurement_list.h"
#include "tpm/tpm.h"

namespace vigil::agent {

class MeasurementSink {
 public:
  MeasurementSink(std::unique_ptr<ima::MeasurementLog> log, std::unique_ptr<tpm::PcrBackend> pcrs)
      : log_(std::move(log)), pcrs_(std::move(pcrs)) {}
  // Computes the template hashes, appends, extends every bank. An error means the entry is not
  // in the list. A PCR extend that fails after the append is reported in *extend_error (the
  // entry stays listed, as the kernel keeps it; the list then no longer replays to the PCR).
  Result<void> record(ima::MeasurementEntry entry, std::string* extend_error = nullptr);
  ima::MeasurementLog& log() { return *log_; }
  tpm::PcrBackend& pcrs() { return *pcrs_; }

 private:
  std::mutex mutex_;
  std::unique_ptr<ima::MeasurementLog> log_;
  std::unique_ptr<tpm::PcrBackend> pcrs_;
};

}  // namespace vigil::agent
