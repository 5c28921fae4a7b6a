// vigil's measurement list judged by the peer tool: `evmctl ima_measurement` (ima-evm-utils)
// checks every SHA-1 template digest, replays the sha1 and sha256 banks against PCR values
// given as TPM 1.2 sysfs-style files (--pcrs), and checks ima-sig signatures with --key.
// Root is not needed; evmctl is.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

#include "crypto/crypto.h"
#include "ima/ima.h"
#include "ima/measurement_list.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::ima;
using crypto::HashAlgo;

namespace {

using Bytes = std::vector<uint8_t>;

std::string output_of(const test::CommandResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out + "\nstderr:\n" + result.err;
}

Bytes read_bytes(const std::string& path) {
  const std::string text = test::read_text(path);
  return Bytes(text.begin(), text.end());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

class EvmctlMeasurement : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE(test::have_program("evmctl"), "evmctl (ima-evm-utils) not installed");
    sm2_signer_ = make_signer(crypto::KeyAlgo::sm2, HashAlgo::sm3, "sm2.der");
    ec_signer_ = make_signer(crypto::KeyAlgo::ecdsa_p256, HashAlgo::sha256, "ec.der");
    ASSERT_TRUE(sm2_signer_ && ec_signer_);
    for (int i = 0; i < 6; ++i) {
      const std::string path = dir_ / ("file" + std::to_string(i));
      test::write_text(path, "measured content " + std::to_string(i) + "\n");
      files_.push_back(path);
    }
    list_ = dir_ / "ima";
  }

  std::optional<FileSigner> make_signer(crypto::KeyAlgo algo, HashAlgo hash, const std::string& cert_name) {
    auto key = crypto::generate_key(algo);
    EXPECT_TRUE(key) << key.error().message;
    if (!key) return std::nullopt;
    auto cert = crypto::make_certificate(*key, crypto::CertificateRequest{});
    EXPECT_TRUE(cert) << cert.error().message;
    if (!cert) return std::nullopt;
    auto der = cert->der();
    EXPECT_TRUE(der);
    if (!der || !crypto::write_file(dir_ / cert_name, *der, 0644, true)) return std::nullopt;
    SignOptions options;
    options.hash = hash;
    auto signer = FileSigner::create(*key, *cert, options);
    EXPECT_TRUE(signer) << signer.error().message;
    if (!signer) return std::nullopt;
    return std::move(*signer);
  }

  // What the kernel would record for a file: its digest, and for ima-sig the security.ima
  // value (here made by vigil's signer rather than read from the xattr).
  MeasurementEntry measure(const std::string& path, TemplateName template_name, HashAlgo algo,
                           const FileSigner* signer = nullptr) {
    MeasurementEntry entry;
    entry.template_name = template_name;
    entry.path = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << path;
    crypto::Hasher hasher;
    auto digest = hasher.of_fd(algo, fd);
    EXPECT_TRUE(digest);
    if (digest) entry.file_digest = *digest;
    if (signer != nullptr) {
      auto value = signer->value_for_fd(fd);
      EXPECT_TRUE(value) << value.error().message;
      if (value) entry.signature = *value;
    }
    ::close(fd);
    return entry;
  }

  std::vector<MeasurementEntry> record(const std::vector<MeasurementEntry>& entries) {
    auto log = MeasurementLog::open(list_);
    EXPECT_TRUE(log) << log.error().message;
    if (!log) return {};
    for (const auto& entry : entries) {
      auto appended = (*log)->append(entry);
      EXPECT_TRUE(appended) << appended.error().message;
    }
    return (*log)->entries();
  }

  // TPM 1.2 sysfs style, which evmctl reads for --pcrs: "PCR-NN: XX XX ..." for PCRs 0-23 in
  // order (evmctl matches "PCR-%02d" line by line), uppercase hex bytes.
  std::string write_pcrs(const std::vector<MeasurementEntry>& entries, HashAlgo bank) {
    const std::string path = dir_ / ("pcrs-" + std::string(crypto::hash_name(bank)));
    std::string text;
    for (uint32_t pcr = 0; pcr < 24; ++pcr) {
      const crypto::Digest value = replay_pcr(entries, pcr, bank);
      EXPECT_EQ(value.size, crypto::hash_size(bank));
      char label[16];
      std::snprintf(label, sizeof label, "PCR-%02u:", pcr);
      text += label;
      for (const uint8_t byte : value.view()) {
        char hex[4];
        std::snprintf(hex, sizeof hex, " %02X", byte);
        text += hex;
      }
      text += '\n';
    }
    test::write_text(path, text);
    return path;
  }

  test::CommandResult evmctl(const std::vector<std::string>& options, const std::string& list) {
    std::vector<std::string> argv = {"evmctl", "-v", "ima_measurement"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(list);
    return test::run(argv);
  }

  std::vector<std::string> pcr_options(const std::vector<MeasurementEntry>& entries) {
    return {"--key", dir_ / "sm2.der" + "," + dir_ / "ec.der", "--pcrs", "sha1," + write_pcrs(entries, HashAlgo::sha1),
            "--pcrs", "sha256," + write_pcrs(entries, HashAlgo::sha256)};
  }

  std::vector<MeasurementEntry> ng_and_sig_entries() {
    std::vector<MeasurementEntry> entries = {boot_aggregate_entry(HashAlgo::sha256, {})};
    entries.push_back(measure(files_[0], TemplateName::ima_ng, HashAlgo::sha256));
    entries.push_back(measure(files_[1], TemplateName::ima_ng, HashAlgo::sha256));
    entries.push_back(measure(files_[2], TemplateName::ima_sig, HashAlgo::sm3, &*sm2_signer_));
    entries.push_back(measure(files_[3], TemplateName::ima_sig, HashAlgo::sm3, &*sm2_signer_));
    entries.push_back(measure(files_[4], TemplateName::ima_sig, HashAlgo::sha256, &*ec_signer_));
    entries.push_back(measure(files_[5], TemplateName::ima_sig, HashAlgo::sha256));  // no signature
    entries.push_back(measure(files_[0], TemplateName::ima_ng, HashAlgo::sha256));
    return entries;
  }

  std::string binary() const { return list_ + "/binary_runtime_measurements"; }

  test::TempDir dir_;
  std::optional<FileSigner> sm2_signer_, ec_signer_;
  std::vector<std::string> files_;
  std::string list_;
};

}  // namespace

TEST_F(EvmctlMeasurement, AcceptsImaNgAndImaSigListAndItsPcrs) {
  const auto entries = record(ng_and_sig_entries());
  ASSERT_EQ(entries.size(), 8u);
  const auto options = pcr_options(entries);
  auto result = evmctl(options, binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  const std::string out = result.out + result.err;
  EXPECT_NE(out.find("sha1 PCR-10: succeed at entry 8"), std::string::npos) << output_of(result);
  EXPECT_NE(out.find("sha256 PCR-10: succeed at entry 8"), std::string::npos) << output_of(result);
  EXPECT_NE(out.find("Matched per TPM bank calculated digest(s)"), std::string::npos) << output_of(result);
  EXPECT_EQ(out.find("Failed to verify template data digest"), std::string::npos) << output_of(result);
  // evmctl checked the three signatures against the files on disk with the SM2 and ECDSA keys.
  for (int i : {2, 3, 4}) {
    EXPECT_NE(out.find(files_[i] + ": verification is OK"), std::string::npos) << files_[i] << "\n" << output_of(result);
  }

  // Without --verify-sig evmctl hashes the files on disk: a changed file fails its signature
  // check (evmctl 1.4 reports it but keeps exit code 0; the list itself is still intact).
  test::write_text(files_[3], "changed after measurement\n");
  auto changed = evmctl(options, binary());
  EXPECT_NE((changed.out + changed.err).find(files_[3] + ": verification failed"), std::string::npos)
      << output_of(changed);
  EXPECT_NE((changed.out + changed.err).find(files_[2] + ": verification is OK"), std::string::npos)
      << output_of(changed);

  // evmctl's view of each entry (-v prints them ascii-style) agrees with vigil's parse.
  auto parsed = parse_binary_list(read_bytes(binary()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, entries);
  for (const auto& entry : entries) {
    const std::string line = ascii_line(entry);
    EXPECT_NE(out.find(line.substr(0, line.find(' ', line.find(':')))), std::string::npos) << line;
  }
}

TEST_F(EvmctlMeasurement, VerifySigChecksSignaturesAgainstListedDigests) {
  const auto entries = record(ng_and_sig_entries());
  auto options = pcr_options(entries);
  options.insert(options.begin(), "--verify-sig");
  auto result = evmctl(options, binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  const std::string out = result.out + result.err;
  for (int i : {2, 3, 4}) {
    EXPECT_NE(out.find(files_[i] + ": verification is OK"), std::string::npos) << files_[i] << "\n" << output_of(result);
  }
  // The listed digest, not the file, is what --verify-sig checks: change the files and the
  // signatures still verify against the list.
  for (int i : {2, 3, 4}) test::write_text(files_[i], "changed after measurement\n");
  result = evmctl(options, binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  EXPECT_NE((result.out + result.err).find(files_[2] + ": verification is OK"), std::string::npos) << output_of(result);
}

TEST_F(EvmctlMeasurement, VerifySigRejectsSignatureOverAnotherDigest) {
  // The signature of file2 recorded with the digest of file3: the list is well-formed and
  // replays, but --verify-sig finds the signature does not cover the listed digest.
  auto mismatched = measure(files_[3], TemplateName::ima_sig, HashAlgo::sm3);
  mismatched.signature = measure(files_[2], TemplateName::ima_sig, HashAlgo::sm3, &*sm2_signer_).signature;
  const auto entries = record({boot_aggregate_entry(HashAlgo::sha256, {}), mismatched,
                               measure(files_[4], TemplateName::ima_sig, HashAlgo::sha256, &*ec_signer_)});
  auto options = pcr_options(entries);
  options.insert(options.begin(), "--verify-sig");
  auto result = evmctl(options, binary());
  const std::string out = result.out + result.err;
  EXPECT_NE(out.find(files_[3] + ": verification failed"), std::string::npos) << output_of(result);
  EXPECT_NE(out.find(files_[4] + ": verification is OK"), std::string::npos) << output_of(result);
  EXPECT_NE(out.find("Matched per TPM bank calculated digest(s)"), std::string::npos) << output_of(result);
}

TEST_F(EvmctlMeasurement, RejectsListWithTamperedPath) {
  const auto entries = record(ng_and_sig_entries());
  const auto options = pcr_options(entries);
  Bytes bytes = read_bytes(binary());
  const std::string name = files_[1];
  auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  ASSERT_NE(at, bytes.end());
  at[static_cast<ptrdiff_t>(name.size()) - 1] ^= 0x01;  // file1 -> file0
  write_bytes(dir_ / "tampered", bytes);
  auto result = evmctl(options, dir_ / "tampered");
  EXPECT_NE(result.exit_code, 0) << output_of(result);
  EXPECT_NE((result.out + result.err).find("Failed to verify template data digest"), std::string::npos)
      << output_of(result);
  // vigil's parser names the entry.
  auto parsed = parse_binary_list(bytes);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message.rfind("entry 2 at byte ", 0), 0u) << parsed.error().message;
}

TEST_F(EvmctlMeasurement, RejectsListWithARemovedEntry) {
  const auto entries = record(ng_and_sig_entries());
  const auto options = pcr_options(entries);
  for (const size_t removed : {size_t{7}, size_t{3}}) {
    std::vector<MeasurementEntry> shortened = entries;
    shortened.erase(shortened.begin() + static_cast<ptrdiff_t>(removed));
    Bytes bytes;
    for (const auto& entry : shortened) {
      const auto record = binary_record(entry);
      bytes.insert(bytes.end(), record.begin(), record.end());
    }
    write_bytes(dir_ / "shortened", bytes);
    auto result = evmctl(options, dir_ / "shortened");
    EXPECT_NE(result.exit_code, 0) << "entry " << removed << " removed\n" << output_of(result);
    EXPECT_NE((result.out + result.err).find("Failed to match per TPM bank"), std::string::npos) << output_of(result);
  }
  // Sanity: the same PCR files with the full list pass.
  EXPECT_EQ(evmctl(options, binary()).exit_code, 0);
}

TEST_F(EvmctlMeasurement, RejectsWrongPcrValue) {
  const auto entries = record(ng_and_sig_entries());
  auto options = pcr_options(entries);
  // PCR 10 of the sha256 bank as if one more measurement had been extended.
  std::vector<MeasurementEntry> more = entries;
  more.push_back(measure(files_[1], TemplateName::ima_ng, HashAlgo::sha256));
  ASSERT_EQ(options[2], "--pcrs");
  options[3] = "sha1," + write_pcrs(more, HashAlgo::sha1);
  options[5] = "sha256," + write_pcrs(more, HashAlgo::sha256);
  auto result = evmctl(options, binary());
  EXPECT_NE(result.exit_code, 0) << output_of(result);
}

TEST_F(EvmctlMeasurement, ViolationsExtendOnesLikeTheKernel) {
  auto raced = measure(files_[0], TemplateName::ima_ng, HashAlgo::sha256);
  raced.violation = true;
  std::fill_n(raced.file_digest.bytes.begin(), raced.file_digest.size, 0);
  const auto entries = record({boot_aggregate_entry(HashAlgo::sha256, {}),
                               measure(files_[1], TemplateName::ima_ng, HashAlgo::sha256), raced,
                               measure(files_[2], TemplateName::ima_ng, HashAlgo::sha256)});
  const auto options = pcr_options(entries);
  // evmctl replays violations as 0xff only when told to (--ignore-violations), as the kernel
  // extends them; by default it extends zeros and the PCRs cannot match.
  std::vector<std::string> with_flag = options;
  with_flag.insert(with_flag.begin(), "--ignore-violations");
  auto result = evmctl(with_flag, binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  EXPECT_NE(evmctl(options, binary()).exit_code, 0);
}

TEST_F(EvmctlMeasurement, AcceptsImaTemplateList) {
  // evmctl does not mix `ima` with other templates in one list.
  std::vector<MeasurementEntry> entries = {boot_aggregate_entry(HashAlgo::sha1, {}, TemplateName::ima)};
  for (int i = 0; i < 3; ++i) entries.push_back(measure(files_[i], TemplateName::ima, HashAlgo::sha1));
  // A long path: the kernel records the last component (evmctl rejects names over 255).
  const std::string deep = dir_ / std::string(200, 'd');
  ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
  const std::string long_path = deep + "/" + std::string(100, 'f');
  test::write_text(long_path, "deep\n");
  entries.push_back(measure(long_path, TemplateName::ima, HashAlgo::sha1));
  const auto recorded = record(entries);
  ASSERT_EQ(recorded.size(), 5u);
  auto result = evmctl(pcr_options(recorded), binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  EXPECT_NE((result.out + result.err).find("Matched per TPM bank calculated digest(s)"), std::string::npos)
      << output_of(result);
  auto parsed = parse_binary_list(read_bytes(binary()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->back().path, std::string(100, 'f'));
}

TEST_F(EvmctlMeasurement, AsciiListMatchesWhatEvmctlPrints) {
  // Names with spaces: recorded with '_' so evmctl's view and the ascii list agree.
  const std::string spaced = dir_ / "with space";
  test::write_text(spaced, "spaced\n");
  const auto entries = record({boot_aggregate_entry(HashAlgo::sha256, {}),
                               measure(spaced, TemplateName::ima_ng, HashAlgo::sha256)});
  auto result = evmctl(pcr_options(entries), binary());
  EXPECT_EQ(result.exit_code, 0) << output_of(result);
  const std::string ascii = test::read_text(list_ + "/ascii_runtime_measurements");
  auto parsed = parse_ascii_list(ascii);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[1].path, dir_ / "with_space");
  EXPECT_NE((result.out + result.err).find(dir_ / "with_space"), std::string::npos) << output_of(result);
}
