// One answer for a tree and its manifest: the manifest must parse and carry a signature by a
// key in the keyring before anything it says is believed; then every difference is reported.
#include "image/image.h"

namespace vigil::image {

std::string_view verification_status_name(Verification::Status status) {
  switch (status) {
    case Verification::Status::ok: return "ok";
    case Verification::Status::differs: return "differs";
    case Verification::Status::untrusted: return "untrusted";
    case Verification::Status::malformed: return "malformed";
  }
  return "unknown";
}

Verification verify_tree(const std::string& root, std::span<const uint8_t> manifest_bytes, const ima::Keyring& keyring,
                         const BatchRunner& run_batch) {
  Verification result;
  auto parsed = parse_manifest(manifest_bytes);
  if (!parsed) {
    result.status = Verification::Status::malformed;
    result.reason = parsed.error().message;
    return result;
  }
  result.manifest = std::move(*parsed);
  const Trust trust = check_signature(*result.manifest, keyring);
  if (!trust.trusted) {
    result.status = Verification::Status::untrusted;
    result.reason = trust.reason;
    return result;
  }
  result.signer = trust.signer;
  ScanOptions options;
  options.hash = result.manifest->manifest.hash;
  options.run_batch = run_batch;
  auto scanned = scan_tree(root, options);
  if (!scanned) {
    result.status = Verification::Status::differs;
    result.differences.push_back({Difference::Kind::unreadable, ".", scanned.error().message});
    return result;
  }
  result.entries_checked = scanned->manifest.entries.size();
  result.differences = compare(result.manifest->manifest, *scanned);
  result.status = result.differences.empty() ? Verification::Status::ok : Verification::Status::differs;
  return result;
}

}  // namespace vigil::image
