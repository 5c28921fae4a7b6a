#include <cstdio>

#include "ima/ima.h"

namespace vigil::ima {

Result<uint32_t> keyid_from_public_key(const crypto::Key& key) {
  auto bits = key.public_key_bits();
  if (!bits) return std::unexpected(bits.error());
  crypto::Hasher hasher;
  auto sha1 = hasher.of_bytes(HashAlgo::sha1, *bits);
  if (!sha1) return std::unexpected(sha1.error());
  const auto& b = sha1->bytes;
  return (uint32_t{b[16]} << 24) | (uint32_t{b[17]} << 16) | (uint32_t{b[18]} << 8) | uint32_t{b[19]};
}

std::optional<uint32_t> keyid_from_subject_key_id(const crypto::Certificate& cert) {
  auto skid = cert.subject_key_id();
  if (!skid || skid->size() < 4) return std::nullopt;
  const uint8_t* tail = skid->data() + skid->size() - 4;
  return (uint32_t{tail[0]} << 24) | (uint32_t{tail[1]} << 16) | (uint32_t{tail[2]} << 8) | uint32_t{tail[3]};
}

Result<uint32_t> signing_keyid(const crypto::Key& key, const crypto::Certificate* cert) {
  if (cert != nullptr) {
    if (auto id = keyid_from_subject_key_id(*cert)) return *id;
  }
  return keyid_from_public_key(key);
}

std::string keyid_hex(uint32_t keyid) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", keyid);
  return text;
}

}  // namespace vigil::ima
