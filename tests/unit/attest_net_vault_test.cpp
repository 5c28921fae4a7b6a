// Secrets at rest (src/attest/net/secret_vault.h) and what they are bound to.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }

class Vault : public ::testing::TestWithParam<VaultCipher> {
 protected:
  test::TempDir dir;
  std::string key_path = dir / "vault.key";
};

TEST_P(Vault, SealsAndUnsealsWithTheSameKeyAndAssociatedData) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault) << vault.error().message;
  const auto plaintext = bytes("the disk key: 0123456789abcdef");
  const auto ad = secret_associated_data("disk", "web-*");
  auto sealed = vault->seal(GetParam(), plaintext, ad);
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(std::search(sealed->begin(), sealed->end(), plaintext.begin(), plaintext.end()), sealed->end())
      << "plaintext visible in the sealed value";
  auto opened = vault->unseal(GetParam(), *sealed, ad);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, plaintext);
  // A second vault on the same key file opens it too (the key persists).
  auto reopened = SecretVault::open(key_path);
  ASSERT_TRUE(reopened);
  auto again = reopened->unseal(GetParam(), *sealed, ad);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, plaintext);
  // Two seals of the same bytes differ (fresh nonce).
  auto other = vault->seal(GetParam(), plaintext, ad);
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *sealed);
}

TEST_P(Vault, EmptySecretRoundTrips) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault);
  auto sealed = vault->seal(GetParam(), {}, bytes("ad"));
  ASSERT_TRUE(sealed);
  auto opened = vault->unseal(GetParam(), *sealed, bytes("ad"));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened->empty());
}

TEST_P(Vault, RefusesTamperingEveryByte) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault);
  const auto ad = bytes("name");
  auto sealed = vault->seal(GetParam(), bytes("secret bytes"), ad);
  ASSERT_TRUE(sealed);
  for (size_t i = 0; i < sealed->size(); ++i) {
    auto tampered = *sealed;
    tampered[i] ^= 0x01;
    auto opened = vault->unseal(GetParam(), tampered, ad);
    ASSERT_FALSE(opened) << "byte " << i << " flipped and still opened";
    EXPECT_NE(opened.error().message.find("authentication failed"), std::string::npos) << opened.error().message;
  }
  auto truncated = *sealed;
  truncated.pop_back();
  EXPECT_FALSE(vault->unseal(GetParam(), truncated, ad));
  EXPECT_FALSE(vault->unseal(GetParam(), std::vector<uint8_t>(5, 0), ad));
}

TEST_P(Vault, RefusesOtherAssociatedData) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault);
  auto sealed = vault->seal(GetParam(), bytes("s"), secret_associated_data("disk", "web-1"));
  ASSERT_TRUE(sealed);
  // Moved to another name, or its selector widened: no longer opens.
  EXPECT_FALSE(vault->unseal(GetParam(), *sealed, secret_associated_data("other", "web-1")));
  EXPECT_FALSE(vault->unseal(GetParam(), *sealed, secret_associated_data("disk", "*")));
  EXPECT_TRUE(vault->unseal(GetParam(), *sealed, secret_associated_data("disk", "web-1")));
}

TEST_P(Vault, RefusesAnotherKey) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault);
  auto sealed = vault->seal(GetParam(), bytes("s"), bytes("ad"));
  ASSERT_TRUE(sealed);
  test::TempDir other_dir;
  auto other = SecretVault::open(other_dir / "vault.key");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->unseal(GetParam(), *sealed, bytes("ad")));
}

TEST_P(Vault, SealedWithOneCipherDoesNotOpenWithTheOther) {
  auto vault = SecretVault::open(key_path);
  ASSERT_TRUE(vault);
  auto sealed = vault->seal(GetParam(), bytes("some secret text"), bytes("ad"));
  ASSERT_TRUE(sealed);
  const VaultCipher other =
      GetParam() == VaultCipher::aes_256_gcm ? VaultCipher::sm4_ctr_hmac_sm3 : VaultCipher::aes_256_gcm;
  EXPECT_FALSE(vault->unseal(other, *sealed, bytes("ad")));
}

INSTANTIATE_TEST_SUITE_P(BothCiphers, Vault,
                         ::testing::Values(VaultCipher::aes_256_gcm, VaultCipher::sm4_ctr_hmac_sm3),
                         [](const auto& info) {
                           return info.param == VaultCipher::aes_256_gcm ? std::string("Aes256Gcm")
                                                                         : std::string("Sm4CtrHmacSm3");
                         });

TEST(VaultKeyFile, CreatedWithMode0600And32Bytes) {
  test::TempDir dir;
  ASSERT_TRUE(SecretVault::open(dir / "vault.key"));
  struct stat info {};
  ASSERT_EQ(::stat((dir / "vault.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 32);
}

TEST(VaultKeyFile, RefusesGroupOrOtherPermissions) {
  test::TempDir dir;
  ASSERT_TRUE(SecretVault::open(dir / "vault.key"));
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    ASSERT_EQ(::chmod((dir / "vault.key").c_str(), mode), 0);
    auto vault = SecretVault::open(dir / "vault.key");
    ASSERT_FALSE(vault) << "mode " << std::oct << mode << " accepted";
    EXPECT_NE(vault.error().message.find("0600"), std::string::npos) << vault.error().message;
  }
  ASSERT_EQ(::chmod((dir / "vault.key").c_str(), 0400), 0);
  EXPECT_TRUE(SecretVault::open(dir / "vault.key"));
}

TEST(VaultKeyFile, RefusesWrongSize) {
  test::TempDir dir;
  for (size_t size : {0, 16, 31, 33, 64}) {
    const std::string path = dir / ("key" + std::to_string(size));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    const std::vector<uint8_t> content(size, 0x5a);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(size));
    ::close(fd);
    auto vault = SecretVault::open(path);
    ASSERT_FALSE(vault) << size << " bytes accepted";
    EXPECT_NE(vault.error().message.find("32 bytes"), std::string::npos) << vault.error().message;
  }
}

TEST(VaultKeyFile, RefusesSymlinkAndDirectory) {
  test::TempDir dir;
  ASSERT_TRUE(SecretVault::open(dir / "real.key"));
  ASSERT_EQ(::symlink((dir / "real.key").c_str(), (dir / "link.key").c_str()), 0);
  EXPECT_FALSE(SecretVault::open(dir / "link.key"));
  ASSERT_EQ(::mkdir((dir / "dir.key").c_str(), 0700), 0);
  EXPECT_FALSE(SecretVault::open(dir / "dir.key"));
}

TEST(VaultCipherNames, ParseAndPrint) {
  EXPECT_EQ(vault_cipher_from_name("sm4").value(), VaultCipher::sm4_ctr_hmac_sm3);
  EXPECT_EQ(vault_cipher_from_name("sm4-ctr-hmac-sm3").value(), VaultCipher::sm4_ctr_hmac_sm3);
  EXPECT_EQ(vault_cipher_from_name("aes-256-gcm").value(), VaultCipher::aes_256_gcm);
  EXPECT_EQ(vault_cipher_from_name("aes").value(), VaultCipher::aes_256_gcm);
  EXPECT_FALSE(vault_cipher_from_name("des"));
  EXPECT_EQ(vault_cipher_name(VaultCipher::sm4_ctr_hmac_sm3), "sm4-ctr-hmac-sm3");
  EXPECT_EQ(vault_cipher_name(VaultCipher::aes_256_gcm), "aes-256-gcm");
}

TEST(SecretSelector, GlobsCommaSeparated) {
  EXPECT_TRUE(selector_matches("web-*", "web-1"));
  EXPECT_FALSE(selector_matches("web-*", "db-1"));
  EXPECT_TRUE(selector_matches("db-1, web-?", "web-2"));
  EXPECT_TRUE(selector_matches("db-1, web-?", "db-1"));
  EXPECT_FALSE(selector_matches("db-1, web-?", "web-10"));
  EXPECT_FALSE(selector_matches("", "web-1"));
  EXPECT_FALSE(selector_matches(" , ", "web-1"));
  EXPECT_TRUE(selector_matches("*", "anything"));
}

TEST(SecretName, UrlSafeCharactersOnly) {
  EXPECT_TRUE(check_secret_name("disk-key_v2.1"));
  EXPECT_FALSE(check_secret_name(""));
  EXPECT_FALSE(check_secret_name("a/b"));
  EXPECT_FALSE(check_secret_name("a b"));
  EXPECT_FALSE(check_secret_name(std::string(129, 'a')));
}

}  // namespace
}  // namespace vigil::attest
