// security.ima values come from files anyone with CAP_SYS_ADMIN (or a crafted image) wrote.
// The parser must reject or accept every byte string without crashing, and whatever it
// accepts must encode back to exactly the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "ima/ima.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil;
  const std::span<const uint8_t> bytes(data, size);
  auto parsed = ima::parse_ima_xattr(bytes);
  if (!parsed) return 0;
  if (const auto* signature = std::get_if<ima::SignatureV2>(&*parsed)) {
    auto encoded = ima::encode_signature_v2(signature->algo, signature->keyid, signature->signature);
    if (!encoded || encoded->size() != size || !std::equal(encoded->begin(), encoded->end(), data)) std::abort();
  } else {
    const auto& value = std::get<ima::DigestValue>(*parsed);
    if (value.digest.size() != crypto::hash_size(value.algo)) std::abort();
    crypto::Digest digest;
    digest.algo = value.algo;
    digest.size = static_cast<uint8_t>(value.digest.size());
    std::copy(value.digest.begin(), value.digest.end(), digest.bytes.begin());
    // A 0x04 value may carry SHA-1, which vigil (like evmctl) writes as 0x01: compare meaning.
    const auto encoded = ima::encode_digest(digest);
    auto reparsed = ima::parse_ima_xattr(encoded);
    if (!reparsed) std::abort();
    const auto& again = std::get<ima::DigestValue>(*reparsed);
    if (again.algo != value.algo || !std::equal(again.digest.begin(), again.digest.end(), value.digest.begin(),
                                                value.digest.end())) {
      std::abort();
    }
  }
  return 0;
}
