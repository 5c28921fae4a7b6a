// One read of a file for several digests, bounded by the size seen at the event, abandoned on
// request (src/agent/content_hasher.*).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "agent/content_hasher.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

crypto::Digest digest_of(crypto::HashAlgo algo, const std::string& bytes) {
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(algo, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  EXPECT_TRUE(digest);
  return digest ? *digest : crypto::Digest{};
}

class ContentHasherTest : public testing::Test {
 protected:
  int open_file(const std::string& content) {
    test::write_text(dir_ / "f", content);
    fd_ = ::open((dir_ / "f").c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd_, 0);
    return fd_;
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }
  test::TempDir dir_;
  int fd_ = -1;
  ContentHasher hasher_;
};

}  // namespace

TEST_F(ContentHasherTest, SeveralAlgorithmsFromOneRead) {
  // Larger than one read, not a multiple of it.
  std::string content(ContentHasher::kReadSize * 2 + 12345, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + 7);
  const int fd = open_file(content);
  const crypto::HashAlgo algorithms[] = {crypto::HashAlgo::sm3, crypto::HashAlgo::sha256, crypto::HashAlgo::sha1,
                                         crypto::HashAlgo::sha256};
  int asked = 0;
  const auto result = hasher_.hash(fd, content.size(), algorithms, [&] { return ++asked < 0; });
  ASSERT_EQ(result.outcome, ContentHasher::Outcome::done) << result.error;
  EXPECT_EQ(result.count, 3u);  // sha256 once
  EXPECT_EQ(asked, 3);          // asked before each of the three reads
  for (const auto algo : {crypto::HashAlgo::sm3, crypto::HashAlgo::sha256, crypto::HashAlgo::sha1}) {
    ASSERT_TRUE(result.of(algo));
    EXPECT_EQ(*result.of(algo), digest_of(algo, content)) << crypto::hash_name(algo);
  }
  EXPECT_FALSE(result.of(crypto::HashAlgo::sha512));
}

TEST_F(ContentHasherTest, ReadsNoFurtherThanTheSizeSeenAtTheEvent) {
  const int fd = open_file("the version that was opened, and then some appended bytes");
  const crypto::HashAlgo algorithm[] = {crypto::HashAlgo::sha256};
  const auto result = hasher_.hash(fd, 28, algorithm, nullptr);
  ASSERT_EQ(result.outcome, ContentHasher::Outcome::done);
  EXPECT_EQ(*result.of(crypto::HashAlgo::sha256), digest_of(crypto::HashAlgo::sha256, "the version that was opened,"));
}

TEST_F(ContentHasherTest, AFileShorterThanItsSizeHasShrunk) {
  const int fd = open_file("short");
  const crypto::HashAlgo algorithm[] = {crypto::HashAlgo::sha256};
  const auto result = hasher_.hash(fd, 1000, algorithm, nullptr);
  EXPECT_EQ(result.outcome, ContentHasher::Outcome::shrank);
  EXPECT_FALSE(result.of(crypto::HashAlgo::sha256));
}

TEST_F(ContentHasherTest, GivesUpBetweenReadsWhenAbandoned) {
  const std::string content(ContentHasher::kReadSize * 4, 'x');
  const int fd = open_file(content);
  const crypto::HashAlgo algorithm[] = {crypto::HashAlgo::sha256};
  int reads = 0;
  const auto result = hasher_.hash(fd, content.size(), algorithm, [&] { return ++reads > 2; });
  EXPECT_EQ(result.outcome, ContentHasher::Outcome::abandoned);
  EXPECT_EQ(reads, 3);
  EXPECT_FALSE(result.of(crypto::HashAlgo::sha256));
  // The same hasher is whole again for the next file.
  const auto again = hasher_.hash(fd, content.size(), algorithm, nullptr);
  ASSERT_EQ(again.outcome, ContentHasher::Outcome::done);
  EXPECT_EQ(*again.of(crypto::HashAlgo::sha256), digest_of(crypto::HashAlgo::sha256, content));
}

TEST_F(ContentHasherTest, EmptyFileAndErrors) {
  const int fd = open_file("");
  const crypto::HashAlgo algorithm[] = {crypto::HashAlgo::sha256};
  const auto empty = hasher_.hash(fd, 0, algorithm, nullptr);
  ASSERT_EQ(empty.outcome, ContentHasher::Outcome::done);
  EXPECT_EQ(*empty.of(crypto::HashAlgo::sha256), digest_of(crypto::HashAlgo::sha256, ""));
  const auto bad_fd = hasher_.hash(-1, 10, algorithm, nullptr);
  EXPECT_EQ(bad_fd.outcome, ContentHasher::Outcome::failed);
  EXPECT_NE(bad_fd.error.find("read"), std::string::npos);
  const crypto::HashAlgo four[] = {crypto::HashAlgo::sha256, crypto::HashAlgo::sha1, crypto::HashAlgo::sm3,
                                   crypto::HashAlgo::sha512};
  EXPECT_EQ(hasher_.hash(fd, 0, four, nullptr).outcome, ContentHasher::Outcome::failed);
}
