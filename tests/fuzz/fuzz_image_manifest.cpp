// Image manifests arrive with images, from anyone who can hand the host an image (docs/image.md).
// The parser must reject or accept every byte string without crashing, and what it accepts is
// canonical: encoding the parsed manifest gives back exactly the signed text it was read from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil;
  auto parsed = image::parse_manifest(std::span<const uint8_t>(data, size));
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return 0;
  }
  const std::string body = image::encode_body(parsed->manifest);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!text.starts_with(body)) std::abort();
  if (!text.substr(body.size()).starts_with("signature ")) std::abort();
  // The signature check on an empty keyring must say no, and say why.
  const image::Trust trust = image::check_signature(*parsed, ima::Keyring{});
  if (trust.trusted || trust.reason.empty()) std::abort();
  // compare() of a manifest with itself finds nothing.
  image::ScannedTree same;
  same.manifest = parsed->manifest;
  if (!image::compare(parsed->manifest, same).empty()) std::abort();
  return 0;
}
