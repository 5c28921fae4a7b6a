#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "support/test_support.h"

using namespace vigil::crypto;

namespace {

std::span<const uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

TEST(Hash, KnownAnswers) {
  Hasher hasher;
  // GB/T 32905-2016 example 1 and FIPS 180 "abc".
  auto sm3 = hasher.of_bytes(HashAlgo::sm3, bytes("abc"));
  ASSERT_TRUE(sm3);
  EXPECT_EQ(sm3->hex(), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  auto sha256 = hasher.of_bytes(HashAlgo::sha256, bytes("abc"));
  ASSERT_TRUE(sha256);
  EXPECT_EQ(sha256->hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256->size, 32);
}

TEST(Hash, KernelNumberingAndNames) {
  EXPECT_EQ(static_cast<int>(HashAlgo::sm3), 17);
  EXPECT_EQ(static_cast<int>(HashAlgo::sha256), 4);
  EXPECT_EQ(hash_from_kernel_id(17), HashAlgo::sm3);
  EXPECT_EQ(hash_from_kernel_id(99), std::nullopt);
  EXPECT_EQ(hash_from_kernel_id(23), std::nullopt);
  EXPECT_EQ(hash_from_name("sha512"), HashAlgo::sha512);
  EXPECT_EQ(hash_from_name("sha999"), std::nullopt);
  EXPECT_EQ(hash_size(HashAlgo::sha384), 48u);
  EXPECT_EQ(hash_md(HashAlgo::streebog256), nullptr);  // not in OpenSSL's default provider
}

TEST(Hash, FileDigestEqualsBufferDigestAcrossReadChunks) {
  vigil::test::TempDir dir;
  // Larger than one read buffer, not a multiple of it.
  std::string content(700 * 1024 + 13, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31 + 7);
  vigil::test::write_text(dir / "big", content);
  const int fd = ::open((dir / "big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  Hasher hasher;
  for (HashAlgo algo : {HashAlgo::sm3, HashAlgo::sha256, HashAlgo::sha512}) {
    auto from_file = hasher.of_fd(algo, fd);
    auto from_memory = hasher.of_bytes(algo, bytes(content));
    ASSERT_TRUE(from_file && from_memory);
    EXPECT_EQ(*from_file, *from_memory) << hash_name(algo);
  }
  ::close(fd);
}

TEST(Hash, UnreadableDescriptorIsAnErrorNotACrash) {
  Hasher hasher;
  auto digest = hasher.of_fd(HashAlgo::sha256, -1);
  ASSERT_FALSE(digest);
  EXPECT_NE(digest.error().message.find("read"), std::string::npos);
}
