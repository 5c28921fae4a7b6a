#include "tpm/kdfa.h"

#include <openssl/hmac.h>

#include "tpm/tpm_bytes.h"

namespace vigil::tpm {

Result<std::vector<uint8_t>> hmac(crypto::HashAlgo hash, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  const EVP_MD* md = crypto::hash_md(hash);
  if (md == nullptr) return fail("HMAC: OpenSSL lacks " + std::string(crypto::hash_name(hash)));
  std::vector<uint8_t> out(crypto::kMaxDigestSize);
  unsigned length = 0;
  // A zero-length key is legal for HMAC; OpenSSL wants a non-null pointer for it.
  static constexpr uint8_t kEmpty = 0;
  if (HMAC(md, key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(),
           &length) == nullptr) {
    return fail("HMAC-" + std::string(crypto::hash_name(hash)) + ": " + openssl_errors());
  }
  out.resize(length);
  return out;
}

Result<std::vector<uint8_t>> kdfa(crypto::HashAlgo hash, std::span<const uint8_t> key, std::string_view label,
                                  std::span<const uint8_t> context_u, std::span<const uint8_t> context_v,
                                  uint32_t bits) {
  if (bits == 0 || bits % 8 != 0 || bits > 8 * 1024) return fail("KDFa: unsupported output size " + std::to_string(bits));
  const size_t want = bits / 8;
  std::vector<uint8_t> out;
  for (uint32_t counter = 1; out.size() < want; ++counter) {
    ByteWriter input;
    input.u32(counter);
    input.bytes({reinterpret_cast<const uint8_t*>(label.data()), label.size()});
    input.bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("\0"), 1));
    input.bytes(context_u);
    input.bytes(context_v);
    input.u32(bits);
    auto block = hmac(hash, key, input.data());
    if (!block) return std::unexpected(block.error());
    out.insert(out.end(), block->begin(), block->end());
  }
  out.resize(want);
  return out;
}

}  // namespace vigil::tpm
