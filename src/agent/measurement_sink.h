#pragma once
// Appends measurements to the list and extends the entry's PCR with the same entry, under one lock,
// so the order in the list is the order of the extends (a verifier replays it).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

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
  // `verdict` ("allow", "deny" or "" when not appraised) goes to the observer only.
  Result<void> record(ima::MeasurementEntry entry, std::string* extend_error = nullptr, std::string_view verdict = "");
  // Told of every entry appended, with its index in the list, in list order (under the lock).
  // Set before the first record(); it must not block.
  using Observer = std::function<void(const ima::MeasurementEntry& entry, std::size_t index, std::string_view verdict)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  // PCR `pcr` in every bank, under the same lock as record(): a TPM context is not shared
  // between threads. Banks that cannot be read are left out.
  std::map<crypto::HashAlgo, crypto::Digest> read_pcr(std::uint32_t pcr);
  ima::MeasurementLog& log() { return *log_; }
  tpm::PcrBackend& pcrs() { return *pcrs_; }

 private:
  std::mutex mutex_;
  std::unique_ptr<ima::MeasurementLog> log_;
  std::unique_ptr<tpm::PcrBackend> pcrs_;
  Observer observer_;
};

}  // namespace vigil::agent
