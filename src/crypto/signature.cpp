#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "crypto/crypto.h"

namespace vigil::crypto {
namespace {

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

Result<void> check_pairing(const Key& key, HashAlgo algo) {
  if (hash_md(algo) == nullptr) {
    return fail("hash algorithm " + std::string(hash_name(algo)) + " is not available");
  }
  if (key.type() == KeyType::sm2 && algo != HashAlgo::sm3) {
    return fail("SM2 keys sign SM3 digests only (use --hash sm3)");
  }
  return {};
}

// Prepares ctx for sign/verify/recover of a raw digest: RSA PKCS#1 v1.5 with DigestInfo,
// ECDSA/SM2 with the digest passed as is (no SM2 Z prefix, as evmctl and the kernel do).
bool configure(EVP_PKEY_CTX* ctx, const Key& key, HashAlgo algo) {
  if (key.type() == KeyType::rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) return false;
  return EVP_PKEY_CTX_set_signature_md(ctx, hash_md(algo)) == 1;
}

// A DER ECDSA-Sig-Value whose r and s lie in [1, n-1] for the key's curve.
bool is_well_formed_ec_signature(const Key& key, std::span<const uint8_t> signature) {
  const unsigned char* cursor = signature.data();
  ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(signature.size()));
  if (parsed == nullptr) return false;
  bool ok = cursor == signature.data() + signature.size();
  unsigned char* reencoded = nullptr;
  const int length = i2d_ECDSA_SIG(parsed, &reencoded);
  ok = ok && length == static_cast<int>(signature.size()) &&
       std::equal(signature.begin(), signature.end(), reencoded);
  OPENSSL_free(reencoded);

  char group[64] = {};
  size_t group_length = 0;
  EC_GROUP* curve = nullptr;
  if (ok && EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &group_length) == 1) {
    int nid = OBJ_sn2nid(group);
    if (nid == NID_undef) nid = OBJ_txt2nid(group);
    if (nid == NID_undef) nid = EC_curve_nist2nid(group);
    curve = nid == NID_undef ? nullptr : EC_GROUP_new_by_curve_name(nid);
  }
  if (ok && curve != nullptr) {
    const BIGNUM* order = EC_GROUP_get0_order(curve);
    const BIGNUM* r = ECDSA_SIG_get0_r(parsed);
    const BIGNUM* s = ECDSA_SIG_get0_s(parsed);
    auto in_range = [&](const BIGNUM* v) { return !BN_is_zero(v) && !BN_is_negative(v) && BN_cmp(v, order) < 0; };
    ok = in_range(r) && in_range(s);
  }
  EC_GROUP_free(curve);
  ECDSA_SIG_free(parsed);
  return ok;
}

}  // namespace

Result<std::vector<uint8_t>> sign_digest(const Key& key, const Digest& digest) {
  if (auto paired = check_pairing(key, digest.algo); !paired) return std::unexpected(paired.error());
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || !configure(ctx.get(), key, digest.algo)) {
    return fail("cannot set up signing with " + key.describe() + ": " + openssl_errors());
  }
  size_t length = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.bytes.data(), digest.size) != 1) {
    return fail("signing failed: " + openssl_errors());
  }
  std::vector<uint8_t> signature(length);
  if (EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.bytes.data(), digest.size) != 1) {
    return fail("signing failed: " + openssl_errors());
  }
  signature.resize(length);
  return signature;
}

SignatureCheck verify_digest(const Key& key, const Digest& digest, std::span<const uint8_t> signature) {
  if (!check_pairing(key, digest.algo)) return SignatureCheck::corrupt;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || !configure(ctx.get(), key, digest.algo)) {
    ERR_clear_error();
    return SignatureCheck::corrupt;
  }
  const int verdict = EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.bytes.data(), digest.size);
  ERR_clear_error();
  if (verdict == 1) return SignatureCheck::valid;

  if (key.type() != KeyType::rsa) {
    return is_well_formed_ec_signature(key, signature) ? SignatureCheck::wrong_digest : SignatureCheck::corrupt;
  }
  // RSA: recovering succeeds only for a genuine PKCS#1 block with a DigestInfo of this
  // algorithm, which proves the key signed some other digest.
  PkeyCtxPtr recover(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  std::array<uint8_t, 1024> recovered{};
  size_t length = recovered.size();
  const bool recovered_ok =
      recover && EVP_PKEY_verify_recover_init(recover.get()) == 1 && configure(recover.get(), key, digest.algo) &&
      EVP_PKEY_verify_recover(recover.get(), recovered.data(), &length, signature.data(), signature.size()) == 1 &&
      length == digest.size;
  ERR_clear_error();
  return recovered_ok ? SignatureCheck::wrong_digest : SignatureCheck::corrupt;
}

}  // namespace vigil::crypto
