// The IMA measurement list: template data and hashes built by hand from the kernel's rules,
// real kernel lines, round trips of both list formats, the parsers' errors, PCR replay,
// boot_aggregate and vigil's own list files.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "ima/measurement_list.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::ima;
using crypto::Digest;
using crypto::HashAlgo;

namespace {

using Bytes = std::vector<uint8_t>;

std::string hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

Bytes from_hex(std::string_view text) {
  Bytes out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Little-endian u32 spelled out byte by byte (the tests skip on big-endian hosts).
Bytes le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

Bytes text_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Digest hash_of(HashAlgo algo, std::span<const uint8_t> bytes) {
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(algo, bytes);
  EXPECT_TRUE(digest) << digest.error().message;
  return digest ? *digest : Digest{};
}

// A digest with bytes seed, seed+1, ... (distinct per test entry).
Digest pattern_digest(HashAlgo algo, uint8_t seed) {
  Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(crypto::hash_size(algo));
  for (size_t i = 0; i < digest.size; ++i) digest.bytes[i] = static_cast<uint8_t>(seed + i);
  return digest;
}

MeasurementEntry make_entry(TemplateName name, HashAlgo algo, uint8_t seed, std::string path, Bytes sig = {}) {
  MeasurementEntry entry;
  entry.template_name = name;
  entry.file_digest = pattern_digest(algo, seed);
  entry.path = std::move(path);
  entry.signature = std::move(sig);
  compute_template_hashes(entry);
  return entry;
}

Bytes binary_list(const std::vector<MeasurementEntry>& entries) {
  Bytes out;
  for (const auto& entry : entries) {
    const auto record = binary_record(entry);
    out.insert(out.end(), record.begin(), record.end());
  }
  return out;
}

std::string ascii_list(const std::vector<MeasurementEntry>& entries) {
  std::string out;
  for (const auto& entry : entries) out += ascii_line(entry);
  return out;
}

std::string binary_error(const Bytes& bytes) {
  auto parsed = parse_binary_list(bytes);
  return parsed ? std::string("parsed") : parsed.error().message;
}

std::string ascii_error(std::string_view text) {
  auto parsed = parse_ascii_list(text);
  return parsed ? std::string("parsed") : parsed.error().message;
}

class MeasurementList : public testing::Test {
 protected:
  void SetUp() override {
    if (std::endian::native != std::endian::little) GTEST_SKIP() << "byte vectors below are little-endian";
  }
};

// Lines from kernels' ascii_runtime_measurements, as quoted in Keylime's test suite
// (keylime/test/test_ima_ast.py, test_create_runtime_policy.py). The ima-sig entry without a
// signature gets back the trailing space the kernel prints before the empty field.
constexpr const char* kRealKernelLines[] = {
    // No TPM, ima_hash=sha256: the boot_aggregate is all zeros.
    "10 0adefe762c149c7cec19da62f0da1297fcfbffff ima-ng "
    "sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate\n",
    "10 cff3da2ff339a1f07bb0dbcbc0381e794ed09555 ima-ng "
    "sha256:3e5e8ad9d8b4dd191413aba6166c7a975c3eab903d1fad77ecfa2d5810d6585c /usr/bin/kmod\n",
    "10 13d5b414e08a45698ce9e3c66545b25ba694046c ima-ng "
    "sha256:f51de8688a2903b94016c06f186cf1f053ececd2a88a5f349f29b35a06e94c43 /usr/lib64/ld-linux-x86-64.so.2\n",
    "10 7936eb315fb4e74b99e7d461bc5c96049e1ee092 ima-ng sha1:bc026ae66d81713e4e852465e980784dc96651f8 "
    "/usr/lib/systemd/systemd\n",
    "10 d7026dc672344d3ee372217bdbc7395947788671 ima 6f66d1d8e2fffcc12dfcb78c04b81fe5b8bbae4e /usr/bin/kmod\n",
    "10 06e804489a77ddab51b9ef27e17053c0e5d503bd ima-sig sha1:1cb84b12db45d7da8de58ba6744187db84082f0e "
    "/usr/bin/zmore "
    "030202531f402500483046022100bff9c02dc7b270c83cc94bfec10eecd42831de2cdcb04f024369a14623bc3a91022100cc4d015ae9"
    "32fb98d6846645ed7d1bb1afd4621ec9089bc087126f191886dd31\n",
    "10 5426cf3031a43f5bfca183d79950698a95a728f6 ima-sig "
    "sha256:f1125b940480d20ad841d26d5ea253edc0704b5ec1548c891edf212cb1a9365e "
    "/lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko \n",
};

}  // namespace

// ---------------------------------------------------------------- known answers, by hand

TEST_F(MeasurementList, ImaNgTemplateDataHashesAndRecordByHand) {
  const MeasurementEntry entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 0x00, "/bin/sh");
  const Digest digest = pattern_digest(HashAlgo::sha256, 0x00);
  // d-ng: "sha256:" NUL digest (7 + 1 + 32 = 40 bytes); n-ng: "/bin/sh" NUL (8 bytes).
  const Bytes data = cat({le32(40), text_bytes("sha256:"), {0x00}, Bytes(digest.view().begin(), digest.view().end()),
                          le32(8), text_bytes("/bin/sh"), {0x00}});
  ASSERT_EQ(data.size(), 56u);
  EXPECT_EQ(template_hash_input(entry), data);
  const Digest sha1 = hash_of(HashAlgo::sha1, data);
  const Digest sha256 = hash_of(HashAlgo::sha256, data);
  EXPECT_EQ(hex(entry.template_sha1), sha1.hex());
  EXPECT_EQ(hex(entry.template_sha256), sha256.hex());

  const Bytes record = cat({le32(10), Bytes(sha1.view().begin(), sha1.view().end()), le32(6), text_bytes("ima-ng"),
                            le32(56), data});
  EXPECT_EQ(binary_record(entry), record);
  EXPECT_EQ(ascii_line(entry), "10 " + sha1.hex() + " ima-ng sha256:" + digest.hex() + " /bin/sh\n");

  EXPECT_EQ(extend_digest(entry, HashAlgo::sha1), sha1);
  EXPECT_EQ(extend_digest(entry, HashAlgo::sha256), sha256);
  EXPECT_EQ(extend_digest(entry, HashAlgo::sha384), hash_of(HashAlgo::sha384, data));
  EXPECT_EQ(extend_digest(entry, HashAlgo::sm3), hash_of(HashAlgo::sm3, data));
}

TEST_F(MeasurementList, ImaSigWithSignatureByHand) {
  const Bytes sig = {0x03, 0x02, 0x11, 0xdb, 0x3f, 0x64, 0x8f, 0x00, 0x03, 0xaa, 0xbb, 0xcc};
  const MeasurementEntry entry = make_entry(TemplateName::ima_sig, HashAlgo::sm3, 0x40, "/usr/bin/a b", sig);
  const Digest digest = pattern_digest(HashAlgo::sm3, 0x40);
  // Spaces in names become '_' in the template data itself (ima_write_template_field_data).
  const Bytes data = cat({le32(37), text_bytes("sm3:"), {0x00}, Bytes(digest.view().begin(), digest.view().end()),
                          le32(13), text_bytes("/usr/bin/a_b"), {0x00}, le32(12), sig});
  EXPECT_EQ(template_hash_input(entry), data);
  const Digest sha1 = hash_of(HashAlgo::sha1, data);
  EXPECT_EQ(hex(entry.template_sha1), sha1.hex());
  EXPECT_EQ(binary_record(entry), cat({le32(10), Bytes(sha1.view().begin(), sha1.view().end()), le32(7),
                                       text_bytes("ima-sig"), le32(static_cast<uint32_t>(data.size())), data}));
  EXPECT_EQ(ascii_line(entry), "10 " + sha1.hex() + " ima-sig sm3:" + digest.hex() + " /usr/bin/a_b " + hex(sig) + "\n");
}

TEST_F(MeasurementList, ImaSigWithoutSignatureHasEmptyFieldAndTrailingSpace) {
  const MeasurementEntry entry = make_entry(TemplateName::ima_sig, HashAlgo::sha256, 0x10, "/x");
  const Bytes data = template_hash_input(entry);
  ASSERT_GE(data.size(), 4u);
  EXPECT_EQ(Bytes(data.end() - 4, data.end()), le32(0));  // sig: length 0, no data
  EXPECT_EQ(data.size(), 4u + 40 + 4 + 3 + 4);
  const std::string line = ascii_line(entry);
  EXPECT_TRUE(line.ends_with(" /x \n")) << line;
}

TEST_F(MeasurementList, ImaTemplateHashesDigestAndPaddedNameByHand) {
  const MeasurementEntry entry = make_entry(TemplateName::ima, HashAlgo::sha1, 0x20, "/sbin/init");
  const Digest digest = pattern_digest(HashAlgo::sha1, 0x20);
  // No length prefixes: 20-byte digest, then the name in a zeroed 256-byte buffer.
  Bytes data = cat({Bytes(digest.view().begin(), digest.view().end()), text_bytes("/sbin/init")});
  data.resize(20 + 256, 0);
  EXPECT_EQ(template_hash_input(entry), data);
  const Digest sha1 = hash_of(HashAlgo::sha1, data);
  EXPECT_EQ(hex(entry.template_sha1), sha1.hex());
  EXPECT_EQ(hex(entry.template_sha256), hash_of(HashAlgo::sha256, data).hex());
  // Binary: no template data length; d raw; n as strlen + name without NUL.
  EXPECT_EQ(binary_record(entry), cat({le32(10), Bytes(sha1.view().begin(), sha1.view().end()), le32(3),
                                       text_bytes("ima"), Bytes(digest.view().begin(), digest.view().end()), le32(10),
                                       text_bytes("/sbin/init")}));
  EXPECT_EQ(ascii_line(entry), "10 " + sha1.hex() + " ima " + digest.hex() + " /sbin/init\n");
}

TEST_F(MeasurementList, SingleDigitPcrIsPaddedLikePrintfPercent2d) {
  MeasurementEntry entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/p");
  entry.pcr = 9;
  EXPECT_EQ(ascii_line(entry).substr(0, 3), " 9 ");
  auto parsed = parse_ascii_list(ascii_line(entry));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ((*parsed)[0].pcr, 9u);
}

// ---------------------------------------------------------------- real kernel lines

TEST_F(MeasurementList, RealKernelLinesVerifyAndReserializeExactly) {
  for (const char* line : kRealKernelLines) {
    auto parsed = parse_ascii_list(line);
    ASSERT_TRUE(parsed) << parsed.error().message << "\n" << line;
    ASSERT_EQ(parsed->size(), 1u);
    EXPECT_EQ(ascii_line((*parsed)[0]), line);
    // And through the binary form and back.
    auto again = parse_binary_list(binary_record((*parsed)[0]));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, *parsed);
  }
  auto kmod = parse_ascii_list(kRealKernelLines[1]);
  ASSERT_TRUE(kmod);
  EXPECT_EQ((*kmod)[0].path, "/usr/bin/kmod");
  EXPECT_EQ((*kmod)[0].file_digest.algo, HashAlgo::sha256);
  EXPECT_EQ((*kmod)[0].file_digest.hex(), "3e5e8ad9d8b4dd191413aba6166c7a975c3eab903d1fad77ecfa2d5810d6585c");
  auto zmore = parse_ascii_list(kRealKernelLines[5]);
  ASSERT_TRUE(zmore);
  EXPECT_EQ((*zmore)[0].template_name, TemplateName::ima_sig);
  EXPECT_EQ((*zmore)[0].signature.size(), 9u + 0x48);
  EXPECT_EQ(Bytes((*zmore)[0].signature.begin(), (*zmore)[0].signature.begin() + 9), from_hex("030202531f40250048"));
  auto legacy = parse_ascii_list(kRealKernelLines[4]);
  ASSERT_TRUE(legacy);
  EXPECT_EQ((*legacy)[0].template_name, TemplateName::ima);
  EXPECT_EQ((*legacy)[0].file_digest.algo, HashAlgo::sha1);
}

TEST_F(MeasurementList, BootAggregateWithoutTpmMatchesKernel) {
  const MeasurementEntry entry = boot_aggregate_entry(HashAlgo::sha256, {});
  EXPECT_EQ(ascii_line(entry), kRealKernelLines[0]);
  EXPECT_EQ(hex(entry.template_sha1), "0adefe762c149c7cec19da62f0da1297fcfbffff");
}

// ---------------------------------------------------------------- boot_aggregate

TEST_F(MeasurementList, BootAggregateHashesPcrs0To7ForSha1And0To9Otherwise) {
  std::vector<Digest> sha1_pcrs, sha256_pcrs;
  Bytes sha1_input, sha256_input;
  for (uint8_t i = 0; i < 12; ++i) {
    sha1_pcrs.push_back(pattern_digest(HashAlgo::sha1, static_cast<uint8_t>(i * 16)));
    sha256_pcrs.push_back(pattern_digest(HashAlgo::sha256, static_cast<uint8_t>(i * 16)));
    if (i < 8) sha1_input.insert(sha1_input.end(), sha1_pcrs.back().view().begin(), sha1_pcrs.back().view().end());
    if (i < 10) {
      sha256_input.insert(sha256_input.end(), sha256_pcrs.back().view().begin(), sha256_pcrs.back().view().end());
    }
  }
  const auto sha1 = boot_aggregate_entry(HashAlgo::sha1, sha1_pcrs);
  EXPECT_EQ(sha1.path, "boot_aggregate");
  EXPECT_EQ(sha1.pcr, 10u);
  EXPECT_EQ(sha1.template_name, TemplateName::ima_ng);
  EXPECT_EQ(sha1.file_digest, hash_of(HashAlgo::sha1, sha1_input));
  const auto sha256 = boot_aggregate_entry(HashAlgo::sha256, sha256_pcrs);
  EXPECT_EQ(sha256.file_digest, hash_of(HashAlgo::sha256, sha256_input));
  EXPECT_TRUE(ascii_line(sha256).find(" ima-ng sha256:" + sha256.file_digest.hex() + " boot_aggregate\n") !=
              std::string::npos);
  // Template hashes come computed.
  EXPECT_EQ(hex(sha256.template_sha1), hash_of(HashAlgo::sha1, template_hash_input(sha256)).hex());

  // Missing PCRs count as zeros.
  const auto partial = boot_aggregate_entry(HashAlgo::sha256, std::span(sha256_pcrs).first(3));
  Bytes partial_input(sha256_input.begin(), sha256_input.begin() + 3 * 32);
  partial_input.resize(10 * 32, 0);
  EXPECT_EQ(partial.file_digest, hash_of(HashAlgo::sha256, partial_input));

  // The ima template records SHA-1 only.
  const auto legacy = boot_aggregate_entry(HashAlgo::sha256, sha1_pcrs, TemplateName::ima);
  EXPECT_EQ(legacy.template_name, TemplateName::ima);
  EXPECT_EQ(legacy.file_digest, hash_of(HashAlgo::sha1, sha1_input));

  // No TPM: zeros of the algorithm's size, also for SM3 in ima-sig.
  const auto none = boot_aggregate_entry(HashAlgo::sm3, {}, TemplateName::ima_sig);
  EXPECT_EQ(none.file_digest.algo, HashAlgo::sm3);
  EXPECT_EQ(none.file_digest.hex(), std::string(64, '0'));
  EXPECT_TRUE(validate_entry(none));
}

// ---------------------------------------------------------------- violations

TEST_F(MeasurementList, ViolationsAreRecordedAsZerosAndExtendedAsOnes) {
  MeasurementEntry entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 0x55, "/tmp/raced");
  entry.violation = true;
  compute_template_hashes(entry);
  EXPECT_EQ(hex(entry.template_sha1), std::string(40, '0'));
  EXPECT_EQ(hex(entry.template_sha256), std::string(64, '0'));
  // The kernel has no digest for a violation: d-ng holds zeros of the algorithm's size.
  const Bytes data = template_hash_input(entry);
  EXPECT_EQ(data, cat({le32(40), text_bytes("sha256:"), {0x00}, Bytes(32, 0), le32(11), text_bytes("/tmp/raced"),
                       {0x00}}));
  EXPECT_EQ(ascii_line(entry), "10 " + std::string(40, '0') + " ima-ng sha256:" + std::string(64, '0') +
                                   " /tmp/raced\n");
  EXPECT_EQ(extend_digest(entry, HashAlgo::sha1).hex(), std::string(40, 'f'));
  EXPECT_EQ(extend_digest(entry, HashAlgo::sha256).hex(), std::string(64, 'f'));
  EXPECT_EQ(extend_digest(entry, HashAlgo::sha384).hex(), std::string(96, 'f'));

  for (const auto& text : {ascii_line(entry)}) {
    auto parsed = parse_ascii_list(text);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_TRUE((*parsed)[0].violation);
    EXPECT_EQ((*parsed)[0].file_digest.hex(), std::string(64, '0'));
  }
  auto parsed = parse_binary_list(binary_record(entry));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE((*parsed)[0].violation);

  MeasurementEntry legacy = make_entry(TemplateName::ima, HashAlgo::sha1, 0x55, "/tmp/raced");
  legacy.violation = true;
  const Bytes legacy_data = template_hash_input(legacy);
  EXPECT_EQ(Bytes(legacy_data.begin(), legacy_data.begin() + 20), Bytes(20, 0));
  EXPECT_TRUE(parse_binary_list(binary_record(legacy)));
}

// ---------------------------------------------------------------- replay

TEST_F(MeasurementList, ReplayFoldsExtendDigestsOfOnePcr) {
  std::vector<MeasurementEntry> entries = {
      boot_aggregate_entry(HashAlgo::sha256, {}),
      make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/a"),
      make_entry(TemplateName::ima_sig, HashAlgo::sm3, 2, "/b", {0x03, 0x02, 0x11, 0, 0, 0, 0, 0, 1, 0x30}),
      make_entry(TemplateName::ima_ng, HashAlgo::sha256, 3, "/elsewhere"),
      make_entry(TemplateName::ima_ng, HashAlgo::sha256, 4, "/raced"),
  };
  entries[3].pcr = 11;
  entries[4].violation = true;
  for (const HashAlgo bank : {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha384, HashAlgo::sm3}) {
    const size_t size = crypto::hash_size(bank);
    Bytes pcr(size, 0);
    for (const auto& entry : entries) {
      if (entry.pcr != 10) continue;
      const Digest template_hash = hash_of(bank, template_hash_input(entry));
      Bytes extended = entry.violation ? Bytes(size, 0xff) : Bytes(template_hash.view().begin(), template_hash.view().end());
      Bytes input = cat({pcr, extended});
      const Digest next = hash_of(bank, input);
      pcr.assign(next.view().begin(), next.view().end());
    }
    const Digest replayed = replay_pcr(entries, 10, bank);
    EXPECT_EQ(replayed.algo, bank);
    EXPECT_EQ(replayed.hex(), hex(pcr)) << crypto::hash_name(bank);
  }
  const Digest pcr11 = replay_pcr(entries, 11, HashAlgo::sha256);
  EXPECT_EQ(pcr11, hash_of(HashAlgo::sha256, cat({Bytes(32, 0), Bytes(entries[3].template_sha256.begin(),
                                                                        entries[3].template_sha256.end())})));
  // Nothing on PCR 12: stays zero. A bank vigil cannot hash: empty.
  EXPECT_EQ(replay_pcr(entries, 12, HashAlgo::sha256).hex(), std::string(64, '0'));
  EXPECT_EQ(replay_pcr(entries, 10, HashAlgo::streebog256).size, 0u);
}

// ---------------------------------------------------------------- round trips

TEST_F(MeasurementList, RoundTripsAllTemplatesThroughBothFormats) {
  std::vector<MeasurementEntry> entries = {
      boot_aggregate_entry(HashAlgo::sm3, {}, TemplateName::ima_sig),
      make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/usr/bin/ls"),
      make_entry(TemplateName::ima_ng, HashAlgo::sm3, 2, "/usr/lib/libc.so.6"),
      make_entry(TemplateName::ima_ng, HashAlgo::sha512, 3, "/opt/x"),
      make_entry(TemplateName::ima_sig, HashAlgo::sm3, 4, "/usr/bin/signed", Bytes(80, 0x5a)),
      make_entry(TemplateName::ima_sig, HashAlgo::sha384, 5, "/usr/bin/unsigned"),
      make_entry(TemplateName::ima, HashAlgo::sha1, 6, "/sbin/init"),
      make_entry(TemplateName::ima_ng, HashAlgo::sha3_256, 7, ""),
  };
  entries[5].pcr = 0;
  entries[6].pcr = 23;
  const Bytes binary = binary_list(entries);
  auto from_binary = parse_binary_list(binary);
  ASSERT_TRUE(from_binary) << from_binary.error().message;
  EXPECT_EQ(*from_binary, entries);
  const std::string ascii = ascii_list(entries);
  auto from_ascii = parse_ascii_list(ascii);
  ASSERT_TRUE(from_ascii) << from_ascii.error().message;
  EXPECT_EQ(*from_ascii, entries);
  EXPECT_EQ(ascii_list(*from_binary), ascii);
  EXPECT_EQ(binary_list(*from_ascii), binary);
  EXPECT_NE(ascii.find(" ima-sig sm3:" + pattern_digest(HashAlgo::sm3, 4).hex() + " /usr/bin/signed " +
                      hex(Bytes(80, 0x5a)) + "\n"),
            std::string::npos);
}

TEST_F(MeasurementList, RandomEntriesRoundTrip) {
  std::mt19937 random(20240601);
  const HashAlgo algos[] = {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha384, HashAlgo::sha512,
                            HashAlgo::sha224, HashAlgo::sm3, HashAlgo::md5};
  std::vector<MeasurementEntry> entries;
  for (int i = 0; i < 300; ++i) {
    MeasurementEntry entry;
    entry.template_name = static_cast<TemplateName>(random() % 3);
    const HashAlgo algo = entry.template_name == TemplateName::ima ? HashAlgo::sha1 : algos[random() % 7];
    entry.file_digest = pattern_digest(algo, static_cast<uint8_t>(random()));
    entry.pcr = random() % 24;
    const size_t length = random() % (entry.template_name == TemplateName::ima ? 256 : 600);
    for (size_t j = 0; j < length; ++j) {
      char c = static_cast<char>(1 + random() % 255);
      if (c == '\n') c = '/';
      entry.path += c;
    }
    entry.path = template_event_name(entry);  // spaces become '_' in the list
    if (entry.template_name == TemplateName::ima_sig && random() % 2) entry.signature.resize(random() % 600, 0xa5);
    entry.violation = random() % 17 == 0;
    if (entry.violation) std::fill_n(entry.file_digest.bytes.begin(), entry.file_digest.size, 0);
    ASSERT_TRUE(validate_entry(entry));
    compute_template_hashes(entry);
    entries.push_back(entry);
  }
  auto from_binary = parse_binary_list(binary_list(entries));
  ASSERT_TRUE(from_binary) << from_binary.error().message;
  EXPECT_EQ(*from_binary, entries);
  auto from_ascii = parse_ascii_list(ascii_list(entries));
  ASSERT_TRUE(from_ascii) << from_ascii.error().message;
  EXPECT_EQ(*from_ascii, entries);
}

TEST_F(MeasurementList, EmptyListsParse) {
  auto binary = parse_binary_list({});
  ASSERT_TRUE(binary);
  EXPECT_TRUE(binary->empty());
  auto ascii = parse_ascii_list("");
  ASSERT_TRUE(ascii);
  EXPECT_TRUE(ascii->empty());
}

// ---------------------------------------------------------------- names

TEST_F(MeasurementList, NamesAreRecordedAsTheKernelRecordsThem) {
  MeasurementEntry entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/home/a user/my file");
  EXPECT_EQ(template_event_name(entry), "/home/a_user/my_file");
  auto parsed = parse_ascii_list(ascii_line(entry));
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)[0].path, "/home/a_user/my_file");

  // ima template: over 255 bytes, the last component (the dentry name), then truncation.
  const std::string dir(300, 'd');
  MeasurementEntry legacy = make_entry(TemplateName::ima, HashAlgo::sha1, 1, "/" + dir + "/tool");
  EXPECT_EQ(template_event_name(legacy), "tool");
  legacy.path = "/" + std::string(300, 'x');
  EXPECT_EQ(template_event_name(legacy), std::string(255, 'x'));
  legacy.path = std::string(255, 'y');
  EXPECT_EQ(template_event_name(legacy), std::string(255, 'y'));
  compute_template_hashes(legacy);
  auto round = parse_binary_list(binary_record(legacy));
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ((*round)[0].path, std::string(255, 'y'));

  // ima-ng keeps long paths whole.
  MeasurementEntry long_ng = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/" + dir + "/tool");
  EXPECT_EQ(template_event_name(long_ng), long_ng.path);
}

// ---------------------------------------------------------------- validation

TEST_F(MeasurementList, ValidateEntryRejectsWhatTheKernelCannotRecord) {
  EXPECT_TRUE(validate_entry(make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/ok")));
  auto error = [](const MeasurementEntry& entry) {
    auto valid = validate_entry(entry);
    return valid ? std::string("valid") : valid.error().message;
  };
  MeasurementEntry entry = make_entry(TemplateName::ima, HashAlgo::sha256, 1, "/x");
  EXPECT_NE(error(entry).find("SHA-1 digests only"), std::string::npos) << error(entry);
  entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/x");
  entry.file_digest.size = 20;
  EXPECT_NE(error(entry).find("must be 32 bytes"), std::string::npos) << error(entry);
  entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, std::string("/a\0b", 4));
  EXPECT_NE(error(entry).find("NUL"), std::string::npos);
  entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/x", {1, 2, 3});
  EXPECT_NE(error(entry).find("only by the ima-sig template"), std::string::npos);
  entry = make_entry(TemplateName::ima_sig, HashAlgo::sha256, 1, "/x", Bytes(65537, 1));
  EXPECT_NE(error(entry).find("longer than 65536"), std::string::npos);
  entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/" + std::string(4095, 'p'));
  EXPECT_NE(error(entry).find("longer than 4095"), std::string::npos);
  entry = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/x");
  entry.pcr = 64;
  EXPECT_NE(error(entry).find("out of range"), std::string::npos);
  entry.pcr = 63;
  EXPECT_TRUE(validate_entry(entry));
  entry.file_digest.algo = static_cast<HashAlgo>(9);  // rmd256: not in vigil's table
  EXPECT_NE(error(entry).find("unknown file digest algorithm"), std::string::npos);
}

// ---------------------------------------------------------------- binary parser errors

class BinaryParserErrors : public MeasurementList {
 protected:
  void SetUp() override {
    MeasurementList::SetUp();
    if (IsSkipped()) return;
    entries_ = {boot_aggregate_entry(HashAlgo::sha256, {}),
                make_entry(TemplateName::ima_sig, HashAlgo::sm3, 1, "/usr/bin/one", Bytes(40, 7)),
                make_entry(TemplateName::ima_ng, HashAlgo::sha256, 2, "/usr/bin/two")};
    for (const auto& entry : entries_) {
      starts_.push_back(list_.size());
      const auto record = binary_record(entry);
      list_.insert(list_.end(), record.begin(), record.end());
    }
  }
  // A list of entry 0, then `record` as entry 1.
  Bytes with_second(const Bytes& record) const {
    Bytes out(list_.begin(), list_.begin() + static_cast<ptrdiff_t>(starts_[1]));
    out.insert(out.end(), record.begin(), record.end());
    return out;
  }
  std::string at(size_t entry, size_t offset) const {
    return "entry " + std::to_string(entry) + " at byte " + std::to_string(offset) + ": ";
  }
  std::vector<MeasurementEntry> entries_;
  std::vector<size_t> starts_;
  Bytes list_;
};

TEST_F(BinaryParserErrors, EveryTruncationFailsAndNamesTheEntry) {
  for (size_t length = 1; length < list_.size(); ++length) {
    const bool boundary = std::find(starts_.begin(), starts_.end(), length) != starts_.end();
    auto parsed = parse_binary_list(std::span(list_).first(length));
    if (boundary) {
      ASSERT_TRUE(parsed) << length;
      continue;
    }
    ASSERT_FALSE(parsed) << "truncated to " << length << " bytes";
    const size_t entry = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), length) - starts_.begin()) - 1;
    EXPECT_EQ(parsed.error().message.rfind("entry " + std::to_string(entry) + " at byte ", 0), 0u)
        << length << ": " << parsed.error().message;
  }
  const size_t s1 = starts_[1];
  EXPECT_EQ(binary_error(Bytes(list_.begin(), list_.begin() + static_cast<ptrdiff_t>(s1 + 10))),
            at(1, s1) + "truncated record header: 10 of 28 bytes");
  EXPECT_EQ(binary_error(Bytes(list_.begin(), list_.begin() + static_cast<ptrdiff_t>(s1 + 30))),
            at(1, s1 + 28) + "truncated template name: 2 of 7 bytes");
  const size_t data_at = s1 + 28 + 7 + 4;
  EXPECT_EQ(binary_error(Bytes(list_.begin(), list_.begin() + static_cast<ptrdiff_t>(data_at + 5))),
            at(1, data_at) + "truncated template data: 5 of " +
                std::to_string(template_hash_input(entries_[1]).size()) + " bytes");
}

// A list a crash cut at any byte: the prefix parser keeps exactly the whole records before
// the cut, and says why the rest does not parse.
TEST_F(BinaryParserErrors, PrefixParserKeepsTheWholeRecordsBeforeAnyCut) {
  for (size_t length = 0; length <= list_.size(); ++length) {
    const auto prefix = parse_binary_list_prefix(std::span(list_).first(length));
    const size_t whole = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), length) - starts_.begin()) -
                         (length == list_.size() ? 0 : 1);
    const size_t whole_bytes = whole < starts_.size() ? starts_[whole] : list_.size();
    ASSERT_EQ(prefix.entries.size(), whole) << length;
    EXPECT_EQ(prefix.parsed_bytes, whole_bytes) << length;
    EXPECT_EQ(prefix.tail_error.empty(), length == whole_bytes) << length << ": " << prefix.tail_error;
    for (size_t i = 0; i < whole; ++i) EXPECT_EQ(prefix.entries[i], entries_[i]) << length;
  }
}

TEST_F(BinaryParserErrors, TamperedPathFailsTheTemplateHashOfThatEntry) {
  Bytes tampered = list_;
  const size_t s2 = starts_[2];
  const auto path = std::search(tampered.begin() + static_cast<ptrdiff_t>(s2), tampered.end(),
                                std::begin("/usr/bin/two"), std::end("/usr/bin/two") - 1);
  ASSERT_NE(path, tampered.end());
  path[5] ^= 0x01;
  const std::string error = binary_error(tampered);
  EXPECT_EQ(error.rfind(at(2, s2 + 4) + "template hash mismatch: recorded " + hex(entries_[2].template_sha1) +
                            ", computed ",
                        0),
            0u)
      << error;
  // Flipping the recorded hash itself is the same failure.
  tampered = list_;
  tampered[starts_[1] + 4] ^= 0x80;
  EXPECT_NE(binary_error(tampered).find(at(1, starts_[1] + 4) + "template hash mismatch"), std::string::npos);
}

TEST_F(BinaryParserErrors, MalformedRecordsAreRejectedAtTheRightByte) {
  const Bytes zeros20(20, 0);
  const Bytes hash(entries_[1].template_sha1.begin(), entries_[1].template_sha1.end());
  const size_t s1 = starts_[1];
  auto ng_record = [&](const Bytes& data, const char* name = "ima-ng") {
    return cat({le32(10), hash, le32(static_cast<uint32_t>(std::strlen(name))), text_bytes(name),
                le32(static_cast<uint32_t>(data.size())), data});
  };
  const Bytes good_d = cat({le32(40), text_bytes("sha256:"), {0}, Bytes(32, 1)});
  const Bytes good_n = cat({le32(3), text_bytes("/x"), {0}});
  const size_t data_at = s1 + 28 + 6 + 4;  // template data of an ima-ng entry 1

  EXPECT_EQ(binary_error(with_second(cat({le32(64), hash, le32(6), text_bytes("ima-ng")}))),
            at(1, s1) + "PCR 64 is out of range (0-63)");
  EXPECT_EQ(binary_error(with_second(cat({le32(10), hash, le32(0)}))), at(1, s1 + 24) + "template name length 0 is not 1-255");
  EXPECT_EQ(binary_error(with_second(cat({le32(10), hash, le32(1000)}))),
            at(1, s1 + 24) + "template name length 1000 is not 1-255");
  EXPECT_EQ(binary_error(with_second(ng_record(good_d, "ima-buf"))), at(1, s1 + 28) + "unsupported template 'ima-buf'");
  EXPECT_EQ(binary_error(with_second(cat({le32(10), hash, le32(6), text_bytes("ima-ng"), le32(1 << 20)}))),
            at(1, s1 + 34) + "template data length 1048576 exceeds 131072");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({le32(7), text_bytes("sha256:")}) ))),
            at(1, data_at + 4) + "d-ng field does not start with \"<algo>:\" and a NUL");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({le32(6), text_bytes("md9:"), {0}, {1}, good_n})))),
            at(1, data_at + 4) + "d-ng field names unknown hash algorithm 'md9:'");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({le32(10), text_bytes("sm3-256:"), {0}, {1}, good_n})))),
            at(1, data_at + 4) + "d-ng field names unknown hash algorithm 'sm3-256:'");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({le32(39), text_bytes("sha256:"), {0}, Bytes(31, 1), good_n})))),
            at(1, data_at + 4 + 8) + "sha256 digest is 31 bytes, expected 32");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({le32(41), text_bytes("sha256:"), {0}, Bytes(32, 1)})))),
            at(1, data_at + 4) + "d-ng field is 41 bytes but only 40 remain in the template data");
  EXPECT_EQ(binary_error(with_second(ng_record(good_d))), at(1, data_at + 44) + "template data ends before the n-ng field");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({good_d, le32(2), text_bytes("/x")})))),
            at(1, data_at + 48) + "n-ng field is not NUL-terminated");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({good_d, le32(4), text_bytes("/ x"), {0}})))),
            at(1, data_at + 48) + "name contains a space (the kernel writes '_')");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({good_d, le32(4), text_bytes("/"), {0}, text_bytes("x"), {0}})))),
            at(1, data_at + 48) + "name contains a NUL byte");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({good_d, good_n, {0xee}})))),
            at(1, data_at + 51) + "1 bytes of template data follow the last field of ima-ng");
  EXPECT_EQ(binary_error(with_second(ng_record(cat({good_d, good_n}), "ima-sig"))),
            at(1, s1 + 28 + 7 + 4 + 51) + "template data ends before the sig field");
  // A zero template hash is a violation, whose digest must be zero too.
  EXPECT_EQ(binary_error(with_second(cat({le32(10), zeros20, le32(6), text_bytes("ima-ng"), le32(51), good_d, good_n}))),
            at(1, s1 + 4) + "zero template hash (a violation) but the file digest is not zero");
  // ima template: n longer than 255.
  EXPECT_EQ(binary_error(with_second(cat({le32(10), hash, le32(3), text_bytes("ima"), Bytes(20, 1), le32(256)}))),
            at(1, s1 + 28 + 3 + 20) + "n field length 256 exceeds 255");
}

// ---------------------------------------------------------------- ascii parser errors

TEST_F(MeasurementList, AsciiParserRejectsWithLineEntryAndOffset) {
  const MeasurementEntry first = boot_aggregate_entry(HashAlgo::sha256, {});
  const MeasurementEntry second = make_entry(TemplateName::ima_sig, HashAlgo::sm3, 9, "/usr/bin/s", {3, 2, 1});
  const std::string line0 = ascii_line(first);
  const std::string line1 = ascii_line(second);
  const size_t s1 = line0.size();
  auto at = [&](size_t offset) { return "entry 1 at byte " + std::to_string(s1 + offset) + ": "; };
  ASSERT_TRUE(parse_ascii_list(line0 + line1));

  EXPECT_EQ(ascii_error(line0 + line1.substr(0, line1.size() - 1)),
            at(0) + "line is not terminated by a newline (truncated list?)");
  std::string tampered = line1;
  tampered[line1.find("/usr/bin/s") + 5] = 'X';
  EXPECT_EQ(ascii_error(line0 + tampered).rfind(at(3) + "template hash mismatch: recorded " + hex(second.template_sha1), 0),
            0u)
      << ascii_error(line0 + tampered);
  std::string upper = line1;
  for (size_t i = 3; i < 43; ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_NE(ascii_error(line0 + upper).find(at(3) + "template hash"), std::string::npos);
  EXPECT_EQ(ascii_error(line0 + "010" + line1.substr(2)), at(0) + "PCR '010' is not a number 0-63");
  EXPECT_EQ(ascii_error(line0 + " 10" + line1.substr(2)), at(0) + "PCR field ' 10 ' is not \"%2d \" of 0-63");
  EXPECT_EQ(ascii_error(line0 + "99" + line1.substr(2)), at(0) + "PCR field '99 ' is not \"%2d \" of 0-63");
  std::string no_sig_field = line1.substr(0, line1.rfind(' ')) + "\n";
  EXPECT_EQ(ascii_error(line0 + no_sig_field), at(52) + "template ima-sig has 3 fields, the line has 2");
  std::string extra = line1.substr(0, line1.size() - 1) + " 00\n";
  EXPECT_EQ(ascii_error(line0 + extra), at(52) + "template ima-sig has 3 fields, the line has 4");
  std::string odd = line1.substr(0, line1.size() - 1) + "0\n";
  EXPECT_EQ(ascii_error(line0 + odd), at(line1.rfind(' ') + 1) + "sig field is not lowercase hex of at most 65536 bytes");
  std::string algo = line1;
  algo.replace(52, 3, "sm9");
  EXPECT_EQ(ascii_error(line0 + algo), at(52) + "d-ng field names unknown hash algorithm 'sm9'");
  std::string short_digest = line1;
  short_digest.erase(57, 2);
  EXPECT_EQ(ascii_error(line0 + short_digest), at(56) + "sm3 digest is not 64 lowercase hex digits");
  std::string unknown = line1;
  unknown.replace(43, 8, " ima-buf");
  EXPECT_EQ(ascii_error(line0 + unknown), at(44) + "unsupported template 'ima-buf'");
  EXPECT_EQ(ascii_error(line0 + "10 abc\n"), at(3) + "expected \"PCR TEMPLATE-HASH TEMPLATE-NAME FIELDS...\"");
  EXPECT_EQ(ascii_error(line0 + "\n"), at(0) + "expected \"PCR TEMPLATE-HASH TEMPLATE-NAME FIELDS...\"");
  std::string spaced = line1;
  spaced.replace(spaced.find("/usr/bin/s"), 10, "/usr/bi  s");
  EXPECT_NE(ascii_error(line0 + spaced).find("fields, the line has 5"), std::string::npos);
}

// ---------------------------------------------------------------- MeasurementLog

TEST_F(MeasurementList, LogWritesBothFilesAndTheyParseBack) {
  test::TempDir dir;
  const std::string list_dir = dir / "ima";
  auto log = MeasurementLog::open(list_dir);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE((*log)->append(boot_aggregate_entry(HashAlgo::sha256, {})));

  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        MeasurementEntry entry;
        entry.template_name = i % 2 ? TemplateName::ima_sig : TemplateName::ima_ng;
        entry.file_digest = pattern_digest(i % 3 ? HashAlgo::sha256 : HashAlgo::sm3, static_cast<uint8_t>(i));
        entry.path = "/t" + std::to_string(t) + "/file " + std::to_string(i);  // hashes not computed: append does it
        if (i % 4 == 1) entry.signature = Bytes(30, static_cast<uint8_t>(t));
        EXPECT_TRUE(log.value()->append(entry));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ((*log)->size(), 1u + kThreads * kPerThread);

  const auto entries = (*log)->entries();
  EXPECT_EQ(entries[0].path, "boot_aggregate");
  for (const auto& entry : entries) {
    MeasurementEntry recomputed = entry;
    compute_template_hashes(recomputed);
    EXPECT_EQ(recomputed.template_sha1, entry.template_sha1);
    EXPECT_NE(hex(entry.template_sha1), std::string(40, '0'));
  }
  const std::string ascii = test::read_text(list_dir + "/ascii_runtime_measurements");
  EXPECT_EQ(ascii, ascii_list(entries));
  auto from_ascii = parse_ascii_list(ascii);
  ASSERT_TRUE(from_ascii) << from_ascii.error().message;
  EXPECT_EQ(from_ascii->size(), entries.size());
  const std::string binary_text = test::read_text(list_dir + "/binary_runtime_measurements");
  const Bytes binary(binary_text.begin(), binary_text.end());
  EXPECT_EQ(binary, binary_list(entries));
  auto from_binary = parse_binary_list(binary);
  ASSERT_TRUE(from_binary) << from_binary.error().message;
  // The stored paths keep their spaces; the list records '_' (the kernel's rule).
  ASSERT_EQ(from_binary->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ((*from_binary)[i].path, template_event_name(entries[i]));
    EXPECT_EQ((*from_binary)[i].template_sha1, entries[i].template_sha1);
  }

  struct stat st{};
  ASSERT_EQ(::stat((list_dir + "/binary_runtime_measurements").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat((list_dir + "/ascii_runtime_measurements").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // Invalid entries are refused and leave the files alone.
  MeasurementEntry bad = make_entry(TemplateName::ima, HashAlgo::sha256, 1, "/x");
  auto refused = (*log)->append(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("SHA-1 digests only"), std::string::npos);
  EXPECT_EQ((*log)->size(), 1u + kThreads * kPerThread);
  EXPECT_EQ(test::read_text(list_dir + "/ascii_runtime_measurements"), ascii);

  // Opening again starts a new list.
  log->reset();
  auto reopened = MeasurementLog::open(list_dir);
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ((*reopened)->size(), 0u);
  EXPECT_EQ(test::read_text(list_dir + "/ascii_runtime_measurements"), "");
  EXPECT_EQ(test::read_text(list_dir + "/binary_runtime_measurements"), "");
}

// Finding 4 of issue 16, the files' side: an agent that restarts reads back the list its last
// run left and goes on after it. A record torn by a crash is cut off, an ascii list that ran
// ahead of the binary one (the ascii line is written first) is written again from the binary.
TEST_F(MeasurementList, ContinuedListCutsATornRecordAndRewritesTheAsciiList) {
  test::TempDir dir;
  std::vector<MeasurementEntry> written = {boot_aggregate_entry(HashAlgo::sha256, {}),
                                           make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/bin/one"),
                                           make_entry(TemplateName::ima_sig, HashAlgo::sha256, 2, "/bin/two", Bytes(40, 7))};
  {
    auto log = MeasurementLog::open(dir.path());
    ASSERT_TRUE(log) << log.error().message;
    for (const auto& entry : written) ASSERT_TRUE((*log)->append(entry));
  }
  const std::string binary_path = dir / "binary_runtime_measurements";
  const std::string ascii_path = dir / "ascii_runtime_measurements";
  // The crash: the ascii line of a fourth entry made it, its binary record only in part.
  const MeasurementEntry fourth = make_entry(TemplateName::ima_ng, HashAlgo::sha256, 3, "/bin/three");
  const Bytes record = binary_record(fourth);
  {
    std::ofstream binary(binary_path, std::ios::app | std::ios::binary);
    binary.write(reinterpret_cast<const char*>(record.data()), 30);
    std::ofstream ascii(ascii_path, std::ios::app);
    ascii << ascii_line(fourth);
  }

  auto existing = MeasurementLog::read_existing(dir.path());
  ASSERT_TRUE(existing) << existing.error().message;
  EXPECT_TRUE(existing->found);
  EXPECT_EQ(existing->entries, written);
  EXPECT_EQ(existing->file_bytes, binary_list(written).size() + 30);
  EXPECT_EQ(existing->parsed_bytes, binary_list(written).size());
  EXPECT_NE(existing->tail_error.find("entry 3 at byte"), std::string::npos) << existing->tail_error;

  bool rewritten = false;
  auto log = MeasurementLog::continue_list(dir.path(), std::move(*existing), &rewritten);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_TRUE(rewritten);
  EXPECT_EQ((*log)->size(), 3u);
  EXPECT_EQ(test::read_text(binary_path), std::string(reinterpret_cast<const char*>(binary_list(written).data()),
                                                       binary_list(written).size()));
  EXPECT_EQ(test::read_text(ascii_path), ascii_list(written));
  // Appending goes on after the last whole entry, in both files.
  ASSERT_TRUE((*log)->append(fourth));
  written.push_back(fourth);
  const std::string binary_text = test::read_text(binary_path);
  auto parsed = parse_binary_list(Bytes(binary_text.begin(), binary_text.end()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, written);
  auto ascii = parse_ascii_list(test::read_text(ascii_path));
  ASSERT_TRUE(ascii) << ascii.error().message;
  EXPECT_EQ(*ascii, written);
  struct stat st{};
  ASSERT_EQ(::stat(ascii_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  // A clean list is continued as it is.
  log->reset();
  auto clean = MeasurementLog::read_existing(dir.path());
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->tail_error.empty());
  auto again = MeasurementLog::continue_list(dir.path(), std::move(*clean), &rewritten);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(rewritten);
  EXPECT_EQ((*again)->entries(), written);
}

TEST_F(MeasurementList, ListIsSetAsideWithoutOverwriting) {
  test::TempDir dir;
  auto existing = MeasurementLog::read_existing(dir.path());
  ASSERT_TRUE(existing);
  EXPECT_FALSE(existing->found);
  {
    auto log = MeasurementLog::open(dir.path());
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->append(boot_aggregate_entry(HashAlgo::sha256, {})));
  }
  const std::string before = test::read_text(dir / "binary_runtime_measurements");
  auto moved = MeasurementLog::set_aside(dir.path(), "old");
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, dir / "binary_runtime_measurements.old");
  EXPECT_EQ(test::read_text(*moved), before);
  EXPECT_FALSE(test::read_text(dir / "ascii_runtime_measurements.old").empty());
  EXPECT_NE(::access((dir / "binary_runtime_measurements").c_str(), F_OK), 0);
  // A second list set aside under the same name does not replace the first.
  test::write_text(dir / "binary_runtime_measurements", "x");
  auto again = MeasurementLog::set_aside(dir.path(), "old");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().sys_errno, EEXIST);
  EXPECT_EQ(test::read_text(dir / "binary_runtime_measurements.old"), before);
}

TEST_F(MeasurementList, LogRefusesSymlinkedFiles) {
  test::TempDir dir;
  test::write_text(dir / "target", "keep me\n");
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "ascii_runtime_measurements").c_str()), 0);
  auto log = MeasurementLog::open(dir.path());
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("ascii_runtime_measurements"), std::string::npos) << log.error().message;
  EXPECT_EQ(test::read_text(dir / "target"), "keep me\n");
}

TEST_F(MeasurementList, LogRefusesAppendsAfterAFailedWrite) {
  test::TempDir dir;
  auto log = MeasurementLog::open(dir.path());
  ASSERT_TRUE(log) << log.error().message;
  // A file size limit makes the writes fail with EFBIG (SIGXFSZ ignored) part-way through.
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Result<void> appended;
  int appends = 0;
  for (; appends < 100 && appended; ++appends) {
    appended = (*log)->append(make_entry(TemplateName::ima_ng, HashAlgo::sha256, 1, "/some/file"));
  }
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(appended);
  EXPECT_NE(appended.error().message.find("runtime_measurements"), std::string::npos) << appended.error().message;
  const size_t recorded = (*log)->size();
  EXPECT_LT(recorded, static_cast<size_t>(appends));
  auto after = (*log)->append(make_entry(TemplateName::ima_ng, HashAlgo::sha256, 2, "/other"));
  ASSERT_FALSE(after);
  EXPECT_NE(after.error().message.find("earlier write failure"), std::string::npos) << after.error().message;
  EXPECT_EQ((*log)->size(), recorded);
}
