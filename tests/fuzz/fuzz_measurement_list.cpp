// Measurement lists come from other hosts (attestation) and from files anyone with write access
// to the state directory could have crafted. Both parsers must accept or reject every input
// without crashing; what they accept must serialize back to exactly the input and re-parse to
// the same entries, in its own format and in the other one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ima/measurement_list.h"

namespace {

using vigil::ima::MeasurementEntry;

std::vector<uint8_t> to_binary(const std::vector<MeasurementEntry>& entries) {
  std::vector<uint8_t> out;
  for (const auto& entry : entries) {
    const auto record = vigil::ima::binary_record(entry);
    out.insert(out.end(), record.begin(), record.end());
  }
  return out;
}

std::string to_ascii(const std::vector<MeasurementEntry>& entries) {
  std::string out;
  for (const auto& entry : entries) out += vigil::ima::ascii_line(entry);
  return out;
}

void check_entries(const std::vector<MeasurementEntry>& entries) {
  for (const auto& entry : entries) {
    if (!vigil::ima::validate_entry(entry)) std::abort();
    MeasurementEntry recomputed = entry;
    vigil::ima::compute_template_hashes(recomputed);
    if (!(recomputed == entry)) std::abort();
  }
  // The other format: binary always; ascii unless a name holds a newline (the kernel prints
  // it raw, so such a list has no faithful ascii form).
  auto binary = vigil::ima::parse_binary_list(to_binary(entries));
  if (!binary || *binary != entries) std::abort();
  for (const auto& entry : entries) {
    if (entry.path.find('\n') != std::string::npos) return;
  }
  auto ascii = vigil::ima::parse_ascii_list(to_ascii(entries));
  if (!ascii || *ascii != entries) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto parsed = vigil::ima::parse_binary_list(bytes);
  if (parsed) {
    const auto again = to_binary(*parsed);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
    check_entries(*parsed);
  }
  // The prefix parser (a list a crash cut short): its entries are exactly the leading bytes it
  // claims, the whole input exactly when the strict parser accepts it.
  const auto prefix = vigil::ima::parse_binary_list_prefix(bytes);
  if (prefix.parsed_bytes > size || prefix.tail_error.empty() != static_cast<bool>(parsed)) std::abort();
  if (prefix.tail_error.empty() && prefix.parsed_bytes != size) std::abort();
  const auto leading = to_binary(prefix.entries);
  if (leading.size() != prefix.parsed_bytes || !std::equal(leading.begin(), leading.end(), data)) std::abort();
  if (parsed && *parsed != prefix.entries) std::abort();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto entries = vigil::ima::parse_ascii_list(text)) {
    if (to_ascii(*entries) != text) std::abort();
    check_entries(*entries);
  }
  return 0;
}
