#include <gtest/gtest.h>

#include <chrono>
#include <string_view>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "support/test_support.h"
#include "tpm/tpm.h"

using namespace vigil;
using crypto::Digest;
using crypto::HashAlgo;

namespace {

std::span<const uint8_t> bytes(std::string_view text) { return {reinterpret_cast<const uint8_t*>(text.data()), text.size()}; }

Digest hash_of(HashAlgo algo, std::string_view text) {
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(algo, bytes(text));
  EXPECT_TRUE(digest) << digest.error().message;
  return digest.value_or(Digest{});
}

Digest zero(HashAlgo algo) {
  Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(crypto::hash_size(algo));
  return digest;
}

// The TPM's extend, computed independently of the backend: H(old || digest).
Digest replay_one(const Digest& old_value, const Digest& digest) {
  std::vector<uint8_t> joined(old_value.view().begin(), old_value.view().end());
  joined.insert(joined.end(), digest.view().begin(), digest.view().end());
  crypto::Hasher hasher;
  auto next = hasher.of_bytes(old_value.algo, joined);
  EXPECT_TRUE(next);
  return next.value_or(Digest{});
}

}  // namespace

TEST(SoftwarePcrs, StartAtZero) {
  auto pcrs = tpm::make_software_pcrs();
  EXPECT_EQ(pcrs->banks(), (std::vector<HashAlgo>{HashAlgo::sha1, HashAlgo::sha256}));
  for (uint32_t pcr : {0u, 10u, 23u}) {
    auto sha1 = pcrs->read(pcr, HashAlgo::sha1);
    ASSERT_TRUE(sha1) << sha1.error().message;
    EXPECT_EQ(*sha1, zero(HashAlgo::sha1));
    auto sha256 = pcrs->read(pcr, HashAlgo::sha256);
    ASSERT_TRUE(sha256) << sha256.error().message;
    EXPECT_EQ(sha256->hex(), std::string(64, '0'));
  }
  EXPECT_NE(pcrs->describe().find("software"), std::string::npos);
}

TEST(SoftwarePcrs, KnownAnswerAbc) {
  auto pcrs = tpm::make_software_pcrs();
  const Digest digests[] = {hash_of(HashAlgo::sha256, "abc"), hash_of(HashAlgo::sha1, "abc")};  // any order
  ASSERT_TRUE(pcrs->extend(10, digests));

  auto sha256 = pcrs->read(10, HashAlgo::sha256);
  ASSERT_TRUE(sha256);
  // SHA-256(32 zero bytes || SHA-256("abc")), computed here and as a fixed answer.
  EXPECT_EQ(*sha256, replay_one(zero(HashAlgo::sha256), digests[0]));
  EXPECT_EQ(sha256->hex(), "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d");
  auto sha1 = pcrs->read(10, HashAlgo::sha1);
  ASSERT_TRUE(sha1);
  EXPECT_EQ(sha1->hex(), "ccd5bd41458de644ac34a2478b58ff819bef5acf");

  // Neighbours untouched.
  auto other = pcrs->read(11, HashAlgo::sha256);
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, zero(HashAlgo::sha256));
}

TEST(SoftwarePcrs, ChainMatchesReplay) {
  auto pcrs = tpm::make_software_pcrs({HashAlgo::sha256, HashAlgo::sha384, HashAlgo::sm3});
  EXPECT_EQ(pcrs->banks(), (std::vector<HashAlgo>{HashAlgo::sha256, HashAlgo::sha384, HashAlgo::sm3}));
  Digest expected[] = {zero(HashAlgo::sha256), zero(HashAlgo::sha384), zero(HashAlgo::sm3)};
  for (int i = 0; i < 5; ++i) {
    const std::string event = "event " + std::to_string(i);
    const Digest digests[] = {hash_of(HashAlgo::sm3, event), hash_of(HashAlgo::sha256, event),
                              hash_of(HashAlgo::sha384, event)};
    ASSERT_TRUE(pcrs->extend(7, digests));
    expected[0] = replay_one(expected[0], digests[1]);
    expected[1] = replay_one(expected[1], digests[2]);
    expected[2] = replay_one(expected[2], digests[0]);
  }
  for (const auto& value : expected) {
    auto read = pcrs->read(7, value.algo);
    ASSERT_TRUE(read);
    EXPECT_EQ(*read, value) << crypto::hash_name(value.algo);
  }
}

TEST(SoftwarePcrs, UnusableAndDuplicateBanksAreDropped) {
  auto pcrs = tpm::make_software_pcrs({HashAlgo::sha256, HashAlgo::streebog256, HashAlgo::sha256});
  EXPECT_EQ(pcrs->banks(), (std::vector<HashAlgo>{HashAlgo::sha256}));
}

TEST(SoftwarePcrs, Errors) {
  auto pcrs = tpm::make_software_pcrs();
  const Digest sha1 = hash_of(HashAlgo::sha1, "x");
  const Digest sha256 = hash_of(HashAlgo::sha256, "x");
  const Digest both[] = {sha1, sha256};

  auto bad_index = pcrs->extend(24, both);
  ASSERT_FALSE(bad_index);
  EXPECT_NE(bad_index.error().message.find("24"), std::string::npos);
  EXPECT_FALSE(pcrs->read(24, HashAlgo::sha1));
  EXPECT_FALSE(pcrs->read(0xffffffffu, HashAlgo::sha1));

  const Digest only_sha256[] = {sha256};
  auto missing = pcrs->extend(1, only_sha256);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing the sha1"), std::string::npos) << missing.error().message;

  Digest short_digest = sha256;
  short_digest.size = 31;
  const Digest wrong_size[] = {sha1, short_digest};
  auto size_error = pcrs->extend(1, wrong_size);
  ASSERT_FALSE(size_error);
  EXPECT_NE(size_error.error().message.find("31 bytes, expected 32"), std::string::npos) << size_error.error().message;

  Digest oversized = sha256;
  oversized.size = 200;  // larger than the array: must be refused, not read
  const Digest too_big[] = {sha1, oversized};
  EXPECT_FALSE(pcrs->extend(1, too_big));

  const Digest extra[] = {sha1, sha256, hash_of(HashAlgo::sha384, "x")};
  auto inactive = pcrs->extend(1, extra);
  ASSERT_FALSE(inactive);
  EXPECT_NE(inactive.error().message.find("no active sha384 bank"), std::string::npos);

  const Digest twice[] = {sha1, sha256, sha256};
  EXPECT_FALSE(pcrs->extend(1, twice));
  EXPECT_FALSE(pcrs->read(1, HashAlgo::sha512));

  // Nothing of the refused extends landed, in any bank.
  for (auto algo : {HashAlgo::sha1, HashAlgo::sha256}) {
    auto value = pcrs->read(1, algo);
    ASSERT_TRUE(value);
    EXPECT_EQ(*value, zero(algo));
  }
}

TEST(SoftwarePcrs, ConcurrentExtendsAllLand) {
  auto pcrs = tpm::make_software_pcrs();
  // Every thread extends the same digests, so the final value does not depend on the order:
  // it is the 4*250-fold extend, and any lost or torn update would change it.
  const Digest digests[] = {hash_of(HashAlgo::sha1, "same"), hash_of(HashAlgo::sha256, "same")};
  constexpr int kThreads = 4;
  constexpr int kEach = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (!pcrs->extend(16, digests)) ADD_FAILURE() << "extend failed";
        if (!pcrs->read(16, HashAlgo::sha256)) ADD_FAILURE() << "read failed";
      }
    });
  }
  for (auto& thread : threads) thread.join();
  Digest expected_sha1 = zero(HashAlgo::sha1);
  Digest expected_sha256 = zero(HashAlgo::sha256);
  for (int i = 0; i < kThreads * kEach; ++i) {
    expected_sha1 = replay_one(expected_sha1, digests[0]);
    expected_sha256 = replay_one(expected_sha256, digests[1]);
  }
  EXPECT_EQ(pcrs->read(16, HashAlgo::sha1).value_or(Digest{}), expected_sha1);
  EXPECT_EQ(pcrs->read(16, HashAlgo::sha256).value_or(Digest{}), expected_sha256);
}

TEST(PcrBackendSpec, NoneIsSoftware) {
  auto backend = tpm::open_pcr_backend("none");
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->banks(), (std::vector<HashAlgo>{HashAlgo::sha1, HashAlgo::sha256}));
  EXPECT_NE((*backend)->describe().find("software"), std::string::npos);
}

TEST(PcrBackendSpec, BadSpecsFailFastAndNameTheSpec) {
  const auto started = std::chrono::steady_clock::now();
  for (const std::string spec : {"", "bogus", "nonsense:foo", "/tmp/evil.so:x", "libtss2-tcti-device.so.0:/dev/null",
                                 "swtpm:host=127.0.0.1,port=abc", "swtpm:port=99999", "swtpm:port=0",
                                 "swtpm:host=127.0.0.1,port"}) {
    auto backend = tpm::open_pcr_backend(spec);
    ASSERT_FALSE(backend) << spec;
    if (!spec.empty()) {
      EXPECT_NE(backend.error().message.find(spec), std::string::npos) << backend.error().message;
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}
