// Sign and verify real files through PATH.sig (no root needed for sidecars).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "ima/ima.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::ima;

namespace {

class FileVerify : public testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::generate_key(crypto::KeyAlgo::sm2);
    ASSERT_TRUE(key);
    key_ = *key;
    auto cert = crypto::make_certificate(*key_, {});
    ASSERT_TRUE(cert);
    keyring_.add_certificate(*cert, "test.crt");
    SignOptions options;
    options.hash = HashAlgo::sm3;
    options.storage = Storage::sigfile;
    auto signer = FileSigner::create(key_, *cert, options);
    ASSERT_TRUE(signer) << signer.error().message;
    signer_.emplace(std::move(*signer));
  }

  VerifyResult verify(const std::string& path) {
    return verify_file(path, keyring_, VerifyOptions{ReadFrom::sigfile_only});
  }

  std::vector<uint8_t> sign(const std::string& path) {
    auto value = signer_->sign_file(path);
    EXPECT_TRUE(value) << value.error().message;
    return value ? *value : std::vector<uint8_t>{};
  }

  test::TempDir dir_;
  std::optional<crypto::Key> key_;
  Keyring keyring_;
  std::optional<FileSigner> signer_;
};

}  // namespace

TEST_F(FileVerify, SignedFileIsOk) {
  test::write_text(dir_ / "f", "payload");
  const auto value = sign(dir_ / "f");
  EXPECT_EQ(test::read_text(dir_ / "f.sig"), std::string(value.begin(), value.end()));
  const auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::ok) << result.reason;
  EXPECT_EQ(result.keyid, signer_->keyid());
  EXPECT_EQ(result.form, "signature");
  EXPECT_EQ(result.signer, "test.crt");
}

TEST_F(FileVerify, OneChangedByteIsHashMismatch) {
  test::write_text(dir_ / "f", "payload");
  sign(dir_ / "f");
  test::write_text(dir_ / "f", "paylоad");
  test::write_text(dir_ / "f", "payloae");
  const auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::hash_mismatch);
  EXPECT_NE(result.reason.find("does not match the current content"), std::string::npos);
}

TEST_F(FileVerify, MissingSignature) {
  test::write_text(dir_ / "f", "payload");
  const auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::no_signature);
  EXPECT_NE(result.reason.find("f.sig"), std::string::npos);
}

TEST_F(FileVerify, TruncatedValueIsMalformed) {
  test::write_text(dir_ / "f", "payload");
  auto value = sign(dir_ / "f");
  value.resize(value.size() - 5);
  test::write_text(dir_ / "f.sig", std::string(value.begin(), value.end()));
  const auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::malformed);
  EXPECT_NE(result.reason.find("follow the header"), std::string::npos);
}

TEST_F(FileVerify, UnknownKeyIdAndUnknownHash) {
  test::write_text(dir_ / "f", "payload");
  auto value = sign(dir_ / "f");
  auto other_key = value;
  other_key[3] ^= 0xff;
  test::write_text(dir_ / "f.sig", std::string(other_key.begin(), other_key.end()));
  auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::unknown_key);
  EXPECT_NE(result.reason.find("not in the keyring"), std::string::npos);

  auto bad_hash = value;
  bad_hash[2] = 42;
  test::write_text(dir_ / "f.sig", std::string(bad_hash.begin(), bad_hash.end()));
  result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::malformed);
  EXPECT_EQ(result.reason, "unknown hash algorithm 42");
}

TEST_F(FileVerify, GarbledSignatureBytesAreBadSignature) {
  test::write_text(dir_ / "f", "payload");
  auto value = sign(dir_ / "f");
  value[9] = 0x31;  // DER SEQUENCE tag destroyed
  test::write_text(dir_ / "f.sig", std::string(value.begin(), value.end()));
  const auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::bad_signature);
}

TEST_F(FileVerify, DigestFormOkAndMismatch) {
  SignOptions options;
  options.hash = HashAlgo::sha256;
  options.digest_only = true;
  options.storage = Storage::sigfile;
  auto hasher = FileSigner::create(std::nullopt, std::nullopt, options);
  ASSERT_TRUE(hasher);
  test::write_text(dir_ / "f", "payload");
  ASSERT_TRUE(hasher->sign_file(dir_ / "f"));
  auto result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::ok);
  EXPECT_EQ(result.form, "digest");
  test::write_text(dir_ / "f", "payload!");
  result = verify(dir_ / "f");
  EXPECT_EQ(result.status, VerifyStatus::hash_mismatch);
}

TEST_F(FileVerify, FifoAndDirectoryAreErrorsWithoutHanging) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  auto result = verify(dir_ / "fifo");
  EXPECT_EQ(result.status, VerifyStatus::error);
  EXPECT_EQ(result.reason, "not a regular file");
  result = verify(dir_.path());
  EXPECT_EQ(result.status, VerifyStatus::error);
  auto signed_fifo = signer_->sign_file(dir_ / "fifo");
  EXPECT_FALSE(signed_fifo);
}

TEST_F(FileVerify, SignerRefusesMismatchedCertificateAndWrongHash) {
  auto other = crypto::generate_key(crypto::KeyAlgo::sm2);
  ASSERT_TRUE(other);
  auto other_cert = crypto::make_certificate(*other, {});
  ASSERT_TRUE(other_cert);
  SignOptions options;
  options.hash = HashAlgo::sm3;
  auto mismatched = FileSigner::create(key_, *other_cert, options);
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().message.find("does not belong"), std::string::npos);
  options.hash = HashAlgo::sha256;
  auto wrong_hash = FileSigner::create(key_, std::nullopt, options);
  ASSERT_FALSE(wrong_hash);
  EXPECT_NE(wrong_hash.error().message.find("SM3"), std::string::npos);
}

TEST(Keyring, LoadsDirectoryAndWarnsAboutJunk) {
  test::TempDir dir;
  auto key = crypto::generate_key(crypto::KeyAlgo::rsa2048);
  ASSERT_TRUE(key);
  auto cert = crypto::make_certificate(*key, {});
  ASSERT_TRUE(cert);
  auto der = cert->der();
  ASSERT_TRUE(der);
  ASSERT_TRUE(crypto::write_file(dir / "a.der", *der, 0644, false));
  test::write_text(dir / "junk.pem", "nothing");
  test::write_text(dir / "ignored.txt", "nothing");
  Keyring keyring;
  auto warnings = keyring.load_directory(dir.path());
  ASSERT_TRUE(warnings);
  ASSERT_EQ(warnings->size(), 1u);
  EXPECT_NE((*warnings)[0].find("junk.pem"), std::string::npos);
  auto id = ima::keyid_from_public_key(*key);
  ASSERT_TRUE(id);
  EXPECT_EQ(keyring.find(*id).size(), 1u);

  Keyring empty;
  test::TempDir nothing;
  EXPECT_FALSE(empty.load_directory(nothing.path()));
  EXPECT_FALSE(empty.load_directory(nothing / "missing"));
}

TEST_F(FileVerify, ADigestComputedByTheCallerVerifiesLikeTheFile) {
  test::write_text(dir_ / "f", "payload");
  const auto value = sign(dir_ / "f");
  crypto::Hasher hasher;
  const auto content = hasher.of_bytes(HashAlgo::sm3, std::span<const uint8_t>(
                                                          reinterpret_cast<const uint8_t*>("payload"), 7));
  ASSERT_TRUE(content);
  auto result = verify_value_digest(value, *content, keyring_);
  EXPECT_EQ(result.status, VerifyStatus::ok) << result.reason;
  EXPECT_EQ(result.keyid, signer_->keyid());
  const auto other = hasher.of_bytes(HashAlgo::sm3, std::span<const uint8_t>(
                                                        reinterpret_cast<const uint8_t*>("payloae"), 7));
  ASSERT_TRUE(other);
  result = verify_value_digest(value, *other, keyring_);
  EXPECT_EQ(result.status, VerifyStatus::hash_mismatch);
  // A digest in another algorithm than the value's is an error, never a pass.
  const auto sha = hasher.of_bytes(HashAlgo::sha256, std::span<const uint8_t>(
                                                         reinterpret_cast<const uint8_t*>("payload"), 7));
  ASSERT_TRUE(sha);
  result = verify_value_digest(value, *sha, keyring_);
  EXPECT_EQ(result.status, VerifyStatus::error);
  EXPECT_NE(result.reason.find("needs sm3"), std::string::npos) << result.reason;
}
