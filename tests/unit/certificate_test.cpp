#include <gtest/gtest.h>

#include <sys/stat.h>

#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "ima/ima.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::crypto;

class CertificateForEveryKey : public testing::TestWithParam<KeyAlgo> {};

TEST_P(CertificateForEveryKey, SelfSignedWithSkidGivingTheImaKeyId) {
  auto key = generate_key(GetParam());
  ASSERT_TRUE(key) << key.error().message;
  auto cert = make_certificate(*key, CertificateRequest{});
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_TRUE(cert->signed_by(*key));
  auto skid_id = ima::keyid_from_subject_key_id(*cert);
  auto key_id = ima::keyid_from_public_key(*key);
  ASSERT_TRUE(skid_id && key_id);
  EXPECT_EQ(*skid_id, *key_id);  // SKID method 1 makes the kernel's and evmctl's ids agree
  auto public_key = cert->public_key();
  ASSERT_TRUE(public_key);
  EXPECT_TRUE(public_key->same_public_key(*key));
  EXPECT_EQ(public_key->type(), key->type());

  // PEM and DER round-trip through files.
  test::TempDir dir;
  auto pem = cert->pem();
  auto der = cert->der();
  ASSERT_TRUE(pem && der);
  test::write_text(dir / "c.pem", *pem);
  ASSERT_TRUE(write_file(dir / "c.der", *der, 0644, false));
  for (auto name : {"c.pem", "c.der"}) {
    auto loaded = Certificate::load(dir / name);
    ASSERT_TRUE(loaded) << name;
    EXPECT_EQ(ima::keyid_from_subject_key_id(*loaded), skid_id);
  }
}

INSTANTIATE_TEST_SUITE_P(AllKeyKinds, CertificateForEveryKey,
                         testing::Values(KeyAlgo::sm2, KeyAlgo::ecdsa_p256, KeyAlgo::ecdsa_p384, KeyAlgo::rsa2048,
                                         KeyAlgo::rsa3072));

TEST(Certificate, Sm2CertificateIsSm2WithSm3UnderTheDefaultId) {
  auto key = generate_key(KeyAlgo::sm2);
  ASSERT_TRUE(key);
  auto cert = make_certificate(*key, CertificateRequest{});
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_get_signature_nid(cert->get()), NID_SM2_with_SM3);
  // The signature checks out under ID 1234567812345678 and under no other.
  EXPECT_TRUE(cert->signed_by(*key));
  X509* copy = X509_dup(cert->get());
  ASN1_OCTET_STRING* other_id = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(other_id, reinterpret_cast<const unsigned char*>("8765432187654321"), 16);
  X509_set0_distinguishing_id(copy, other_id);
  EXPECT_NE(X509_verify(copy, key->get()), 1);
  X509_free(copy);
}

TEST(Certificate, IssuedFromCa) {
  auto ca_key = generate_key(KeyAlgo::sm2);
  ASSERT_TRUE(ca_key);
  CertificateRequest ca_request;
  ca_request.common_name = "test CA";
  ca_request.is_ca = true;
  auto ca_cert = make_certificate(*ca_key, ca_request);
  ASSERT_TRUE(ca_cert);
  EXPECT_EQ(X509_check_ca(ca_cert->get()), 1);

  auto leaf_key = generate_key(KeyAlgo::ecdsa_p256);
  ASSERT_TRUE(leaf_key);
  auto leaf = make_certificate(*leaf_key, CertificateRequest{}, &*ca_key, &*ca_cert);
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_TRUE(leaf->signed_by(*ca_key));
  EXPECT_FALSE(leaf->signed_by(*leaf_key));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf->get()), X509_get_subject_name(ca_cert->get())), 0);
  EXPECT_EQ(X509_check_ca(leaf->get()), 0);
  EXPECT_EQ(X509_get_signature_nid(leaf->get()), NID_SM2_with_SM3);
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(leaf->get());
  ASSERT_NE(akid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca_cert->get())), 0);
  // The leaf's own key id is still its own SKID.
  EXPECT_EQ(ima::keyid_from_subject_key_id(*leaf), ima::keyid_from_public_key(*leaf_key).value());
}

TEST(Certificate, RefusesCaKeyThatDoesNotMatchCaCert) {
  auto ca_key = generate_key(KeyAlgo::ecdsa_p256);
  auto wrong_key = generate_key(KeyAlgo::ecdsa_p256);
  ASSERT_TRUE(ca_key && wrong_key);
  CertificateRequest ca_request;
  ca_request.is_ca = true;
  auto ca_cert = make_certificate(*ca_key, ca_request);
  ASSERT_TRUE(ca_cert);
  auto leaf = make_certificate(*wrong_key, CertificateRequest{}, &*wrong_key, &*ca_cert);
  ASSERT_FALSE(leaf);
  EXPECT_NE(leaf.error().message.find("does not belong"), std::string::npos);
}

TEST(Keys, PrivateKeyFileRoundTripAndMode) {
  test::TempDir dir;
  auto key = generate_key(KeyAlgo::sm2);
  ASSERT_TRUE(key);
  auto pem = key->private_pem();
  ASSERT_TRUE(pem);
  const std::string path = dir / "k.pem";
  ASSERT_TRUE(write_file(path, {reinterpret_cast<const uint8_t*>(pem->data()), pem->size()}, 0600, false));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = write_file(path, {}, 0600, false);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  auto loaded = Key::load_private(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->type(), KeyType::sm2);
  EXPECT_TRUE(loaded->same_public_key(*key));
}

TEST(Keys, GarbageIsAnErrorWithThePath) {
  test::TempDir dir;
  test::write_text(dir / "junk", "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");
  auto key = Key::load_private(dir / "junk");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find(dir / "junk"), std::string::npos);
  EXPECT_FALSE(Certificate::load(dir / "junk"));
  EXPECT_FALSE(Certificate::load(dir / "missing"));
}
