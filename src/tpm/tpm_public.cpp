// TPM2B_PUBLIC parsing (TPM 2.0 Part 2, "TPMT_PUBLIC"), names and the AK/EK rules. Every byte
// comes from an untrusted agent: each read is bounds-checked, every algorithm id is checked
// against the short list vigil accepts, and the whole input must be consumed exactly.
#include "tpm/tpm_public.h"

#include <array>
#include <cstdio>
#include <optional>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "tpm/tpm_bytes.h"

namespace vigil::tpm {

namespace {

constexpr uint16_t kTpmAlgRsa = 0x0001;
constexpr uint16_t kTpmAlgEcc = 0x0023;
constexpr uint16_t kTpmAlgSm4 = 0x0013;
constexpr uint16_t kTpmAlgCamellia = 0x0026;
constexpr uint16_t kTpmAlgRsaes = 0x0015;
constexpr uint16_t kTpmAlgEcdaa = 0x001a;
constexpr uint16_t kCurveP256 = 0x0003;
constexpr uint16_t kCurveP384 = 0x0004;

// TPMA_OBJECT bits (Part 2, "TPMA_OBJECT").
constexpr uint32_t kFixedTpm = 1u << 1;
constexpr uint32_t kFixedParent = 1u << 4;
constexpr uint32_t kSensitiveDataOrigin = 1u << 5;
constexpr uint32_t kRestricted = 1u << 16;
constexpr uint32_t kDecrypt = 1u << 17;
constexpr uint32_t kSign = 1u << 18;

std::string hex16(uint16_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04x", value);
  return text;
}

// Asymmetric schemes a public area of each key type may name (TPMI_ALG_RSA_SCHEME,
// TPMI_ALG_ECC_SCHEME).
bool known_scheme(uint16_t type, uint16_t id) {
  if (type == kTpmAlgRsa) {
    return id == 0x0014 /* RSASSA */ || id == 0x0015 /* RSAES */ || id == 0x0016 /* RSAPSS */ ||
           id == 0x0017 /* OAEP */;
  }
  return id == 0x0018 /* ECDSA */ || id == 0x0019 /* ECDH */ || id == 0x001a /* ECDAA */ || id == 0x001b /* SM2 */ ||
         id == 0x001c /* ECSCHNORR */ || id == 0x001d /* ECMQV */;
}

bool known_kdf(uint16_t id) {
  return id == 0x0007 /* MGF1 */ || id == 0x0020 /* KDF1_SP800_56A */ || id == 0x0021 /* KDF2 */ ||
         id == 0x0022 /* KDF1_SP800_108 */;
}

// TPMT_SYM_DEF_OBJECT.
Result<TpmSymmetric> read_symmetric(ByteReader& in) {
  TpmSymmetric symmetric;
  auto algorithm = in.u16("symmetric algorithm");
  if (!algorithm) return std::unexpected(algorithm.error());
  symmetric.algorithm = *algorithm;
  if (symmetric.algorithm == kTpmAlgNull) return symmetric;
  if (symmetric.algorithm != kTpmAlgAes && symmetric.algorithm != kTpmAlgSm4 &&
      symmetric.algorithm != kTpmAlgCamellia) {
    return fail("unsupported symmetric algorithm " + hex16(symmetric.algorithm));
  }
  auto bits = in.u16("symmetric key bits");
  if (!bits) return std::unexpected(bits.error());
  auto mode = in.u16("symmetric mode");
  if (!mode) return std::unexpected(mode.error());
  symmetric.key_bits = *bits;
  symmetric.mode = *mode;
  return symmetric;
}

// What parameters say beyond the key itself.
struct KeyShape {
  uint16_t scheme = kTpmAlgNull;
  uint16_t scheme_hash = kTpmAlgNull;
  uint16_t curve = 0;
  uint16_t key_bits = 0;
};

// TPMT_*_SCHEME: the scheme id and, for every scheme but NULL and RSAES, its hash (ECDAA also
// a count).
Result<void> read_scheme(ByteReader& in, uint16_t type, KeyShape& out) {
  auto scheme = in.u16("scheme");
  if (!scheme) return std::unexpected(scheme.error());
  out.scheme = *scheme;
  if (out.scheme == kTpmAlgNull) return {};
  if (!known_scheme(type, out.scheme)) {
    return fail("unsupported scheme " + hex16(out.scheme) + " for " + (type == kTpmAlgRsa ? "an RSA" : "an ECC") + " key");
  }
  if (out.scheme == kTpmAlgRsaes) return {};
  auto hash = in.u16("scheme hash");
  if (!hash) return std::unexpected(hash.error());
  if (!hash_from_tpm_alg(*hash)) return fail("unsupported scheme hash " + hex16(*hash));
  out.scheme_hash = *hash;
  if (out.scheme == kTpmAlgEcdaa) {
    if (auto count = in.u16("ECDAA count"); !count) return std::unexpected(count.error());
  }
  return {};
}

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Result<crypto::Key> key_from_params(const char* type, OSSL_PARAM_BLD* builder) {
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(builder), &OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr),
                                                                      &EVP_PKEY_CTX_free);
  EVP_PKEY* pkey = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || pkey == nullptr) {
    return fail(std::string("OpenSSL does not accept the ") + type + " public key: " + openssl_errors());
  }
  PkeyPtr owned(pkey, &EVP_PKEY_free);
  // fromdata does not check every property; a point off the curve must not pass as a key.
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr),
                                                                    &EVP_PKEY_CTX_free);
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return fail(std::string("the ") + type + " public key is not valid: " + openssl_errors());
  }
  return crypto::Key(owned.release());
}

Result<crypto::Key> rsa_key(std::span<const uint8_t> modulus, uint32_t exponent) {
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> builder(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr),
                                                &BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> e(BN_new(), &BN_free);
  if (!builder || !n || !e || BN_set_word(e.get(), exponent) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return fail("cannot build the RSA key: " + openssl_errors());
  }
  return key_from_params("RSA", builder.get());
}

Result<crypto::Key> ecc_key(const char* group, std::span<const uint8_t> x, std::span<const uint8_t> y) {
  std::vector<uint8_t> point;
  point.reserve(1 + x.size() + y.size());
  point.push_back(0x04);  // uncompressed
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> builder(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
  if (!builder || OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return fail("cannot build the ECC key: " + openssl_errors());
  }
  return key_from_params("EC", builder.get());
}

// parameters + unique of an RSA key (TPMS_RSA_PARMS, TPM2B_PUBLIC_KEY_RSA).
Result<crypto::Key> read_rsa(ByteReader& in, KeyShape& out) {
  if (auto scheme = read_scheme(in, kTpmAlgRsa, out); !scheme) return std::unexpected(scheme.error());
  auto bits = in.u16("RSA key bits");
  if (!bits) return std::unexpected(bits.error());
  auto exponent = in.u32("RSA exponent");
  if (!exponent) return std::unexpected(exponent.error());
  auto modulus = in.sized("RSA modulus");
  if (!modulus) return std::unexpected(modulus.error());
  if (*bits != 1024 && *bits != 2048 && *bits != 3072 && *bits != 4096) {
    return fail("unsupported RSA key size " + std::to_string(*bits));
  }
  if (modulus->size() * 8 != *bits) {
    return fail("RSA modulus has " + std::to_string(modulus->size()) + " bytes, keyBits says " + std::to_string(*bits));
  }
  if (*exponent != 0 && (*exponent < 3 || *exponent % 2 == 0)) {
    return fail("RSA exponent " + std::to_string(*exponent) + " is not valid");
  }
  out.key_bits = *bits;
  return rsa_key(*modulus, *exponent == 0 ? 65537 : *exponent);  // 0 means the default 2^16+1
}

// parameters + unique of an ECC key (TPMS_ECC_PARMS, TPMS_ECC_POINT).
Result<crypto::Key> read_ecc(ByteReader& in, KeyShape& out) {
  if (auto scheme = read_scheme(in, kTpmAlgEcc, out); !scheme) return std::unexpected(scheme.error());
  auto curve = in.u16("ECC curve");
  if (!curve) return std::unexpected(curve.error());
  auto kdf = in.u16("ECC KDF scheme");
  if (!kdf) return std::unexpected(kdf.error());
  if (*kdf != kTpmAlgNull) {
    if (!known_kdf(*kdf)) return fail("unsupported ECC KDF scheme " + hex16(*kdf));
    if (auto kdf_hash = in.u16("ECC KDF hash"); !kdf_hash) return std::unexpected(kdf_hash.error());
  }
  auto x = in.sized("ECC point x");
  if (!x) return std::unexpected(x.error());
  auto y = in.sized("ECC point y");
  if (!y) return std::unexpected(y.error());
  const char* group = nullptr;
  size_t field_bytes = 0;
  if (*curve == kCurveP256) {
    group = "P-256";
    field_bytes = 32;
  } else if (*curve == kCurveP384) {
    group = "P-384";
    field_bytes = 48;
  } else {
    return fail("unsupported ECC curve " + hex16(*curve) + " (vigil accepts P-256 and P-384)");
  }
  if (x->size() != field_bytes || y->size() != field_bytes) {
    return fail(std::string("ECC point on ") + group + " must have " + std::to_string(field_bytes) +
                "-byte coordinates, has " + std::to_string(x->size()) + " and " + std::to_string(y->size()));
  }
  out.curve = *curve;
  out.key_bits = static_cast<uint16_t>(field_bytes * 8);
  return ecc_key(group, *x, *y);
}

std::string curve_name(uint16_t curve) {
  if (curve == kCurveP256) return "P-256";
  if (curve == kCurveP384) return "P-384";
  return hex16(curve);
}

// "RSA 2048", "ECC P-256".
std::string key_text(const TpmPublic& key) {
  return key.kind == TpmKeyKind::rsa ? "RSA " + std::to_string(key.key_bits) : "ECC " + curve_name(key.curve);
}

}  // namespace

bool TpmPublic::fixed_tpm() const { return (object_attributes & kFixedTpm) != 0; }
bool TpmPublic::fixed_parent() const { return (object_attributes & kFixedParent) != 0; }
bool TpmPublic::restricted() const { return (object_attributes & kRestricted) != 0; }
bool TpmPublic::sign() const { return (object_attributes & kSign) != 0; }
bool TpmPublic::decrypt() const { return (object_attributes & kDecrypt) != 0; }

std::string TpmPublic::describe() const {
  std::string text = key_text(*this);
  if (restricted()) text += " restricted";
  if (sign() && decrypt()) {
    text += " sign+decrypt";
  } else if (sign()) {
    text += " sign";
  } else if (decrypt()) {
    text += " decrypt";
  }
  if (check_endorsement_key(*this)) {
    text += " (EK)";
  } else if (check_attestation_key(*this)) {
    text += " (AK)";
  }
  return text;
}

Result<TpmPublic> parse_tpm_public(std::span<const uint8_t> tpm2b_public) {
  ByteReader outer(tpm2b_public);
  auto body = outer.sized("TPM2B_PUBLIC");
  if (!body) return fail("TPM2B_PUBLIC: " + body.error().message);
  if (!outer.at_end()) {
    return fail("TPM2B_PUBLIC: " + std::to_string(outer.remaining()) + " bytes after the " +
                std::to_string(body->size()) + "-byte public area");
  }
  if (body->empty()) return fail("TPM2B_PUBLIC: empty public area");

  auto parse = [&]() -> Result<TpmPublic> {
    ByteReader in(*body);
    auto type = in.u16("type");
    if (!type) return std::unexpected(type.error());
    auto name_alg_id = in.u16("nameAlg");
    if (!name_alg_id) return std::unexpected(name_alg_id.error());
    const auto name_alg = hash_from_tpm_alg(*name_alg_id);
    if (!name_alg) return fail("unsupported nameAlg " + hex16(*name_alg_id));
    auto attributes = in.u32("objectAttributes");
    if (!attributes) return std::unexpected(attributes.error());
    auto policy = in.sized("authPolicy");
    if (!policy) return std::unexpected(policy.error());
    if (!policy->empty() && policy->size() != crypto::hash_size(*name_alg)) {
      return fail("authPolicy has " + std::to_string(policy->size()) + " bytes, nameAlg digests have " +
                  std::to_string(crypto::hash_size(*name_alg)));
    }
    auto symmetric = read_symmetric(in);
    if (!symmetric) return std::unexpected(symmetric.error());

    KeyShape shape;
    TpmKeyKind kind = TpmKeyKind::rsa;
    Result<crypto::Key> key = fail("no key");
    if (*type == kTpmAlgRsa) {
      key = read_rsa(in, shape);
    } else if (*type == kTpmAlgEcc) {
      kind = TpmKeyKind::ecc;
      key = read_ecc(in, shape);
    } else {
      return fail("unsupported key type " + hex16(*type) + " (vigil accepts RSA and ECC)");
    }
    if (!key) return std::unexpected(key.error());
    if (!in.at_end()) return fail(std::to_string(in.remaining()) + " bytes after the public key");

    crypto::Hasher hasher;
    auto digest = hasher.of_bytes(*name_alg, *body);
    if (!digest) return std::unexpected(digest.error());
    std::vector<uint8_t> name = {static_cast<uint8_t>(*name_alg_id >> 8), static_cast<uint8_t>(*name_alg_id)};
    name.insert(name.end(), digest->view().begin(), digest->view().end());
    return TpmPublic{.marshalled = std::vector<uint8_t>(tpm2b_public.begin(), tpm2b_public.end()),
                     .kind = kind,
                     .name_alg = *name_alg,
                     .object_attributes = *attributes,
                     .key = std::move(*key),
                     .name = std::move(name),
                     .symmetric = *symmetric,
                     .scheme = shape.scheme,
                     .scheme_hash = shape.scheme_hash,
                     .curve = shape.curve,
                     .key_bits = shape.key_bits};
  };
  auto parsed = parse();
  if (!parsed) return fail("TPM2B_PUBLIC: " + parsed.error().message);
  return parsed;
}

Result<void> check_attestation_key(const TpmPublic& ak) {
  const auto missing = [&](const std::string& what) {
    return fail("not an attestation key (" + key_text(ak) + "): " + what);
  };
  if (!ak.sign()) return missing("not a signing key");
  if (!ak.restricted()) return missing("not restricted (it could sign forged quotes)");
  if (ak.decrypt()) return missing("also a decryption key");
  if (!ak.fixed_tpm()) return missing("not fixedTPM (it may leave the TPM)");
  if (!ak.fixed_parent()) return missing("not fixedParent");
  if ((ak.object_attributes & kSensitiveDataOrigin) == 0) {
    return missing("not sensitiveDataOrigin (its private key was imported, not made by the TPM)");
  }
  return {};
}

Result<void> check_endorsement_key(const TpmPublic& ek) {
  const auto missing = [&](const std::string& what) {
    return fail("not an endorsement key vigil can use (" + key_text(ek) + "): " + what);
  };
  if (!ek.decrypt()) return missing("not a decryption key");
  if (!ek.restricted()) return missing("not restricted");
  if (ek.sign()) return missing("also a signing key");
  if (!ek.fixed_tpm()) return missing("not fixedTPM");
  if (!ek.fixed_parent()) return missing("not fixedParent");
  if (ek.kind != TpmKeyKind::rsa) return missing("ECC endorsement keys are not supported yet (RSA 2048 only)");
  if (ek.key_bits != 2048) return missing("RSA " + std::to_string(ek.key_bits) + " (RSA 2048 only)");
  if (ek.symmetric.algorithm != kTpmAlgAes || ek.symmetric.mode != kTpmAlgCfb ||
      (ek.symmetric.key_bits != 128 && ek.symmetric.key_bits != 192 && ek.symmetric.key_bits != 256)) {
    return missing("its symmetric algorithm is not AES-CFB");
  }
  return {};
}

std::string public_key_pem(const TpmPublic& key) {
  if (key.key.get() == nullptr) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.key.get()) != 1) return {};
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return length > 0 ? std::string(data, static_cast<size_t>(length)) : std::string{};
}

bool same_key(const TpmPublic& a, const TpmPublic& b) {
  if (a.key.get() == nullptr || b.key.get() == nullptr) return false;
  return a.kind == b.kind && a.key.same_public_key(b.key);
}

std::vector<uint8_t> primary_qualified_name(const TpmPublic& key, uint32_t hierarchy_handle) {
  if (key.name.size() < 2) return {};
  std::vector<uint8_t> input = {static_cast<uint8_t>(hierarchy_handle >> 24), static_cast<uint8_t>(hierarchy_handle >> 16),
                                static_cast<uint8_t>(hierarchy_handle >> 8), static_cast<uint8_t>(hierarchy_handle)};
  input.insert(input.end(), key.name.begin(), key.name.end());
  thread_local crypto::Hasher hasher;  // once per round per agent: keep its buffer
  auto digest = hasher.of_bytes(key.name_alg, input);
  if (!digest) return {};
  std::vector<uint8_t> qualified(key.name.begin(), key.name.begin() + 2);
  qualified.insert(qualified.end(), digest->view().begin(), digest->view().end());
  return qualified;
}

}  // namespace vigil::tpm
