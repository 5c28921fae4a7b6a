#include <string>

#include "ima/ima.h"

namespace vigil::ima {
namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

Result<HashAlgo> known_hash(uint8_t id) {
  auto algo = crypto::hash_from_kernel_id(id);
  if (!algo) return fail("unknown hash algorithm " + std::to_string(id));
  return *algo;
}

Result<ImaXattr> parse_signature(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return fail("signature header truncated (" + std::to_string(bytes.size()) + " bytes)");
  const uint8_t version = bytes[1];
  if (version == 1) return fail("signature version 1 (obsolete RSA-only format) is not supported");
  if (version != 2) return fail("unsupported signature version " + std::to_string(version));
  if (bytes.size() < kSignatureHeaderSize) {
    return fail("signature header truncated: " + std::to_string(bytes.size()) + " of 9 bytes");
  }
  auto algo = known_hash(bytes[2]);
  if (!algo) return std::unexpected(algo.error());
  const uint32_t keyid = read_be32(&bytes[3]);
  const size_t declared = (size_t{bytes[7]} << 8) | bytes[8];
  const size_t present = bytes.size() - kSignatureHeaderSize;
  if (declared == 0) return fail("signature length is zero");
  if (declared != present) {
    return fail("signature length field says " + std::to_string(declared) + " bytes but " + std::to_string(present) +
                " follow the header");
  }
  return SignatureV2{*algo, keyid, bytes.subspan(kSignatureHeaderSize)};
}

Result<ImaXattr> parse_digest_ng(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return fail("digest value truncated: no hash algorithm byte");
  auto algo = known_hash(bytes[1]);
  if (!algo) return std::unexpected(algo.error());
  const size_t expected = crypto::hash_size(*algo);
  const size_t present = bytes.size() - 2;
  if (present != expected) {
    return fail(std::string(crypto::hash_name(*algo)) + " digest must be " + std::to_string(expected) + " bytes, found " +
                std::to_string(present));
  }
  return DigestValue{*algo, bytes.subspan(2)};
}

Result<ImaXattr> parse_legacy_digest(std::span<const uint8_t> bytes) {
  // As the kernel: 20 bytes are SHA-1, 16 are MD5.
  const size_t present = bytes.size() - 1;
  if (present == 20) return DigestValue{HashAlgo::sha1, bytes.subspan(1)};
  if (present == 16) return DigestValue{HashAlgo::md5, bytes.subspan(1)};
  return fail("legacy digest must be 20 (SHA-1) or 16 (MD5) bytes, found " + std::to_string(present));
}

}  // namespace

Result<ImaXattr> parse_ima_xattr(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return fail("empty value");
  if (bytes.size() > kMaxXattrSize) return fail("value larger than an xattr can be");
  switch (static_cast<XattrType>(bytes[0])) {
    case XattrType::digsig: return parse_signature(bytes);
    case XattrType::digest_ng: return parse_digest_ng(bytes);
    case XattrType::digest: return parse_legacy_digest(bytes);
    case XattrType::evm_hmac: return fail("EVM HMAC value (type 0x02) found where an IMA value belongs");
    case XattrType::evm_portable_digsig: return fail("EVM portable signature (type 0x05) is not an IMA file signature");
    case XattrType::verity_digsig: return fail("fs-verity signature (type 0x06) is not supported");
  }
  return fail("unknown xattr type 0x" + [&] {
           static constexpr char kDigits[] = "0123456789abcdef";
           return std::string{kDigits[bytes[0] >> 4], kDigits[bytes[0] & 0xF]};
         }());
}

Result<std::vector<uint8_t>> encode_signature_v2(HashAlgo algo, uint32_t keyid, std::span<const uint8_t> signature) {
  if (signature.empty() || signature.size() > 0xFFFF) {
    return fail("signature of " + std::to_string(signature.size()) + " bytes does not fit the v2 header");
  }
  std::vector<uint8_t> value;
  value.reserve(kSignatureHeaderSize + signature.size());
  value.push_back(static_cast<uint8_t>(XattrType::digsig));
  value.push_back(2);
  value.push_back(static_cast<uint8_t>(algo));
  for (int shift = 24; shift >= 0; shift -= 8) value.push_back(static_cast<uint8_t>(keyid >> shift));
  value.push_back(static_cast<uint8_t>(signature.size() >> 8));
  value.push_back(static_cast<uint8_t>(signature.size()));
  value.insert(value.end(), signature.begin(), signature.end());
  return value;
}

std::vector<uint8_t> encode_digest(const crypto::Digest& digest) {
  std::vector<uint8_t> value;
  // evmctl writes the legacy form for SHA-1 (and MD5), the _NG form otherwise. MD4 would be
  // read back as MD5 from the legacy form, so it keeps the _NG form.
  if (digest.algo == HashAlgo::sha1 || digest.algo == HashAlgo::md5) {
    value.push_back(static_cast<uint8_t>(XattrType::digest));
  } else {
    value.push_back(static_cast<uint8_t>(XattrType::digest_ng));
    value.push_back(static_cast<uint8_t>(digest.algo));
  }
  const auto bytes = digest.view();
  value.insert(value.end(), bytes.begin(), bytes.end());
  return value;
}

}  // namespace vigil::ima
