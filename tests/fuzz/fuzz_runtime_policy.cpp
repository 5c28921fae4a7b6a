// Runtime policies are files an operator imports, often converted from Keylime: both readers
// must answer every input without crashing or throwing. A policy accepted must survive vigil's
// format unchanged, and checking an entry against it must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/runtime_policy.h"

namespace {

void exercise(const vigil::attest::RuntimePolicy& policy) {
  const std::string text = vigil::attest::runtime_policy_json(policy);
  auto again = vigil::attest::parse_runtime_policy(text);
  if (!again) std::abort();
  if (vigil::attest::runtime_policy_json(*again) != text) std::abort();
  vigil::ima::MeasurementEntry entry;
  entry.path = policy.digests.empty() ? "/usr/bin/ls" : policy.digests.begin()->first.substr(0, 256);
  entry.file_digest.size = 32;
  (void)vigil::attest::check_entry(*again, entry);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto policy = vigil::attest::parse_runtime_policy(text)) exercise(*policy);
  if (auto policy = vigil::attest::import_keylime_policy(text)) exercise(*policy);
  return 0;
}
