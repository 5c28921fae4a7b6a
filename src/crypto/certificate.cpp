#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"

namespace vigil::crypto {

void Certificate::Free::operator()(X509* cert) const { X509_free(cert); }

Certificate::Certificate(X509* owned) : cert_(owned) {}
Certificate::Certificate(const Certificate& other) : cert_(other.cert_.get()) { X509_up_ref(cert_.get()); }
Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    X509_up_ref(other.cert_.get());
    cert_.reset(other.cert_.get());
  }
  return *this;
}
Certificate::~Certificate() = default;

Result<Certificate> Certificate::from_der(std::span<const uint8_t> der) {
  const unsigned char* cursor = der.data();
  X509* cert = d2i_X509(nullptr, &cursor, static_cast<long>(der.size()));
  ERR_clear_error();
  if (cert == nullptr) return fail("not a DER X.509 certificate");
  return Certificate(cert);
}

Result<Certificate> Certificate::load(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  BIO* bio = BIO_new_mem_buf(bytes->data(), static_cast<int>(bytes->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (cert != nullptr) return Certificate(cert);
  auto der = from_der(*bytes);
  if (!der) return fail(path + ": not an X.509 certificate in PEM or DER");
  return der;
}

std::optional<std::vector<uint8_t>> Certificate::subject_key_id() const {
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert_.get());
  ERR_clear_error();
  if (skid == nullptr) return std::nullopt;
  const unsigned char* data = ASN1_STRING_get0_data(skid);
  return std::vector<uint8_t>(data, data + ASN1_STRING_length(skid));
}

Result<Key> Certificate::public_key() const {
  EVP_PKEY* pkey = X509_get_pubkey(cert_.get());
  if (pkey == nullptr) return fail("certificate has no usable public key: " + openssl_errors());
  Key key(pkey);
  return key;
}

std::string Certificate::subject() const {
  char* text = X509_NAME_oneline(X509_get_subject_name(cert_.get()), nullptr, 0);
  std::string subject = text ? text : "";
  OPENSSL_free(text);
  return subject;
}

Result<std::string> Certificate::pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_X509(bio, cert_.get()) != 1) {
    BIO_free(bio);
    return fail("cannot encode certificate: " + openssl_errors());
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(length));
  BIO_free(bio);
  return text;
}

Result<std::vector<uint8_t>> Certificate::der() const {
  unsigned char* data = nullptr;
  const int length = i2d_X509(cert_.get(), &data);
  if (length <= 0) return fail("cannot encode certificate: " + openssl_errors());
  std::vector<uint8_t> bytes(data, data + length);
  OPENSSL_free(data);
  return bytes;
}

bool Certificate::signed_by(const Key& issuer) const {
  X509* copy = X509_dup(cert_.get());
  if (copy == nullptr) return false;
  if (issuer.type() == KeyType::sm2) {
    ASN1_OCTET_STRING* id = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(id, reinterpret_cast<const unsigned char*>(kSm2DefaultId.data()),
                          static_cast<int>(kSm2DefaultId.size()));
    X509_set0_distinguishing_id(copy, id);
  }
  const bool ok = X509_verify(copy, issuer.get()) == 1;
  X509_free(copy);
  ERR_clear_error();
  return ok;
}

}  // namespace vigil::crypto
