#pragma once
// Shared by the attestation scenario tests: measurement entries and an agent's list that is
// written as binary_runtime_measurements and extended into a swtpm's PCR 10.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ima/measurement_list.h"
#include "support/swtpm.h"
#include "tpm/tpm.h"

namespace vigil::attest {

inline crypto::Digest sha256_of(std::string_view text) {
  crypto::Hasher hasher;
  return hasher.of_bytes(crypto::HashAlgo::sha256, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}).value();
}

// An ima-ng entry for a file at `path` whose content is `content`.
inline ima::MeasurementEntry entry_for(const std::string& path, std::string_view content) {
  ima::MeasurementEntry entry;
  entry.template_name = ima::TemplateName::ima_ng;
  entry.path = path;
  entry.file_digest = sha256_of(content);
  ima::compute_template_hashes(entry);
  return entry;
}

inline std::unique_ptr<test::SwtpmProcess> start_swtpm() {
  test::SwtpmOptions options;
  options.with_ek = true;
  options.pcr_banks = "sha1,sha256";
  auto swtpm = test::SwtpmProcess::start(options);
  EXPECT_TRUE(swtpm) << swtpm.error();
  return swtpm ? std::move(*swtpm) : nullptr;
}

// The agent's measurement list: entries written to binary_runtime_measurements and extended
// into the TPM's PCR 10 in every active bank — or, for the tampering scenarios, only one of the two.
class AgentList {
 public:
  AgentList(std::string dir, std::string tpm_spec) : dir_(std::move(dir)), tpm_spec_(std::move(tpm_spec)) {}

  void add(const ima::MeasurementEntry& entry, bool write = true, bool extend = true) {
    if (extend) {
      auto pcrs = tpm::open_pcr_backend(tpm_spec_);
      ASSERT_TRUE(pcrs) << pcrs.error().message;
      std::vector<crypto::Digest> digests;
      for (auto bank : (*pcrs)->banks()) digests.push_back(ima::extend_digest(entry, bank));
      auto extended = (*pcrs)->extend(10, digests);
      ASSERT_TRUE(extended) << extended.error().message;
    }
    if (write) {
      const auto record = ima::binary_record(entry);
      const int fd = ::open(path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::write(fd, record.data(), record.size()), static_cast<ssize_t>(record.size()));
      ::close(fd);
    }
  }
  std::string path() const { return dir_ + "/binary_runtime_measurements"; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string tpm_spec_;
};

}  // namespace vigil::attest
