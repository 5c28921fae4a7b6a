#include <ctime>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"

namespace vigil::crypto {
namespace {

struct KeyAlgoInfo {
  KeyAlgo algo;
  std::string_view name;
};
constexpr KeyAlgoInfo kKeyAlgos[] = {
    {KeyAlgo::sm2, "sm2"},         {KeyAlgo::ecdsa_p256, "ecdsa-p256"}, {KeyAlgo::ecdsa_p384, "ecdsa-p384"},
    {KeyAlgo::rsa2048, "rsa2048"}, {KeyAlgo::rsa3072, "rsa3072"},       {KeyAlgo::rsa4096, "rsa4096"},
};

Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (extension == nullptr) return fail(std::string("cannot make extension ") + OBJ_nid2sn(nid) + ": " + openssl_errors());
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return fail("cannot add extension: " + openssl_errors());
  return {};
}

Result<void> add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return {};
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                 -1, -1, 0) != 1) {
    return fail(std::string("bad certificate ") + field + ": " + openssl_errors());
  }
  return {};
}

Result<void> sign_certificate(X509* cert, const Key& issuer_key) {
  EVP_MD_CTX* md_ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  const char* digest = "SHA256";
  if (issuer_key.type() == KeyType::sm2) digest = "SM3";
  else if (issuer_key.type() == KeyType::ecdsa && EVP_PKEY_get_bits(issuer_key.get()) > 256) digest = "SHA384";
  bool ok = md_ctx != nullptr &&
            EVP_DigestSignInit_ex(md_ctx, &pkey_ctx, digest, nullptr, nullptr, issuer_key.get(), nullptr) == 1;
  if (ok && issuer_key.type() == KeyType::sm2) {
    ok = EVP_PKEY_CTX_set1_id(pkey_ctx, kSm2DefaultId.data(), kSm2DefaultId.size()) == 1;
  }
  ok = ok && X509_sign_ctx(cert, md_ctx) > 0;
  EVP_MD_CTX_free(md_ctx);
  if (!ok) return fail("cannot sign certificate: " + openssl_errors());
  return {};
}

}  // namespace

std::optional<KeyAlgo> key_algo_from_name(std::string_view name) {
  for (const auto& info : kKeyAlgos) {
    if (info.name == name) return info.algo;
  }
  return std::nullopt;
}

std::string_view key_algo_name(KeyAlgo algo) {
  for (const auto& info : kKeyAlgos) {
    if (info.algo == algo) return info.name;
  }
  return "unknown";
}

Result<Key> generate_key(KeyAlgo algo) {
  EVP_PKEY* pkey = nullptr;
  switch (algo) {
    case KeyAlgo::sm2: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"); break;
    case KeyAlgo::ecdsa_p256: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case KeyAlgo::ecdsa_p384: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
    case KeyAlgo::rsa2048: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}); break;
    case KeyAlgo::rsa3072: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}); break;
    case KeyAlgo::rsa4096: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096}); break;
  }
  if (pkey == nullptr) return fail("key generation failed: " + openssl_errors());
  return Key(pkey);
}

Result<Certificate> make_certificate(const Key& subject_key, const CertificateRequest& request,
                                     const Key* issuer_key, const Certificate* issuer_cert) {
  if ((issuer_key == nullptr) != (issuer_cert == nullptr)) {
    return fail("issuing from a CA needs both the CA certificate and its key");
  }
  if (issuer_key != nullptr) {
    auto ca_public = issuer_cert->public_key();
    if (!ca_public || !ca_public->same_public_key(*issuer_key)) {
      return fail("the CA key does not belong to the CA certificate");
    }
  }
  if (request.validity_days <= 0) return fail("validity must be at least one day");

  Certificate holder(X509_new());
  X509* cert = holder.get();
  if (cert == nullptr) return fail("out of memory");
  X509_set_version(cert, X509_VERSION_3);

  BIGNUM* serial = BN_new();
  BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  BN_free(serial);

  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_time_adj_ex(X509_getm_notAfter(cert), request.validity_days, 0, nullptr);

  X509_NAME* name = X509_get_subject_name(cert);
  if (auto r = add_name_entry(name, "O", request.organization); !r) return std::unexpected(r.error());
  if (auto r = add_name_entry(name, "CN", request.common_name); !r) return std::unexpected(r.error());
  X509_set_issuer_name(cert, issuer_cert ? X509_get_subject_name(issuer_cert->get()) : name);
  if (X509_set_pubkey(cert, subject_key.get()) != 1) return fail("cannot set public key: " + openssl_errors());

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert->get() : cert, cert, nullptr, nullptr, 0);
  const char* key_usage = request.is_ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature";
  for (auto [nid, value] : {std::pair{NID_basic_constraints, request.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
                            std::pair{NID_key_usage, key_usage},
                            std::pair{NID_subject_key_identifier, "hash"},
                            std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (auto r = add_extension(cert, &ctx, nid, value); !r) return std::unexpected(r.error());
  }
  if (!request.is_ca && !request.extended_key_usage.empty()) {
    if (auto r = add_extension(cert, &ctx, NID_ext_key_usage, request.extended_key_usage.c_str()); !r) {
      return std::unexpected(r.error());
    }
  }
  if (!request.subject_alt_names.empty()) {
    std::string names;
    for (const std::string& entry : request.subject_alt_names) names += (names.empty() ? "" : ",") + entry;
    if (auto r = add_extension(cert, &ctx, NID_subject_alt_name, names.c_str()); !r) return std::unexpected(r.error());
  }
  if (auto r = sign_certificate(cert, issuer_key ? *issuer_key : subject_key); !r) return std::unexpected(r.error());
  return holder;
}

}  // namespace vigil::crypto
