// The agent's measurement list extended into PCR 10 of a real TPM 2.0 (swtpm): evmctl
// ima_measurement verifies the binary list against the PCRs read back from the TPM, and the
// ascii list replays to the same PCR 10.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>

#include "ima/measurement_list.h"
#include "privileged/agent_fixture.h"
#include "support/swtpm.h"
#include "tpm/tpm.h"

using namespace vigil;
using namespace vigil::test;

namespace {

std::string upper_spaced_hex(const crypto::Digest& digest) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string text;
  for (uint8_t i = 0; i < digest.size; ++i) {
    if (i) text += ' ';
    text += kDigits[digest.bytes[i] >> 4];
    text += kDigits[digest.bytes[i] & 0xF];
  }
  return text;
}

// tpm2-tools' view of one PCR, lower-case hex without 0x; "" when absent.
std::string tpm2_pcrread(const SwtpmProcess& swtpm, const std::string& bank, int pcr) {
  auto result = run({"tpm2_pcrread", bank + ":" + std::to_string(pcr), "-T", swtpm.tcti_spec()}, 30);
  const auto at = result.out.find("0x");
  if (result.exit_code != 0 || at == std::string::npos) return "";
  std::string hex;
  for (size_t i = at + 2; i < result.out.size() && std::isxdigit(static_cast<unsigned char>(result.out[i])); ++i) {
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(result.out[i])));
  }
  return hex;
}

class AgentMeasurement : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    VIGIL_REQUIRE(SwtpmProcess::available(), "swtpm not installed");
    VIGIL_REQUIRE(have_program("tpm2_pcrread"), "tpm2-tools not installed");
    ::chmod(dir_.path().c_str(), 0755);
    mnt_ = std::make_unique<TmpfsMount>(dir_ / "mnt");
    VIGIL_REQUIRE(mnt_->mounted(), "cannot mount tmpfs");
    auto started = SwtpmProcess::start(SwtpmOptions{.pcr_banks = "sha1,sha256"});
    ASSERT_TRUE(started) << started.error();
    swtpm_ = std::move(*started);
  }
  void TearDown() override {
    agent_.reset();
    mnt_.reset();
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mnt_;
  std::unique_ptr<SwtpmProcess> swtpm_;
  std::unique_ptr<AgentProcess> agent_;
};

}  // namespace

TEST_P(AgentMeasurement, EvmctlVerifiesListAgainstSwtpmPcr10) {
  const std::string hash = GetParam();
  ASSERT_EQ(run_vigil({"keygen", "--algo", "sm2", "-o", dir_ / "sm2"}).exit_code, 0);
  for (const char* name : {"one", "two", "three"}) {
    ASSERT_EQ(run({"cp", "/usr/bin/true", *mnt_ / name}).exit_code, 0);
  }
  ASSERT_EQ(run_vigil({"sign", "--key", dir_ / "sm2.key", "--cert", dir_ / "sm2.crt", *mnt_ / "two"}).exit_code, 0);
  write_text(dir_ / "agent.yaml", "mode: log\nstate_dir: " + (dir_ / "state") + "\nhash: " + hash + "\ntpm: " +
                                      swtpm_->tcti_spec() + "\nwatch:\n  - " + mnt_->path() +
                                      "\npolicy_text: |\n  measure func=BPRM_CHECK path=" + mnt_->path() +
                                      "/two template=ima-sig\n  measure func=BPRM_CHECK\n");
  agent_ = std::make_unique<AgentProcess>(dir_ / "agent.yaml", dir_ / "state");
  ASSERT_TRUE(agent_->ready()) << agent_->output();

  for (int round = 0; round < 3; ++round) {  // measured once per content version, not per exec
    for (const char* name : {"one", "two", "three"}) EXPECT_EXIT_CODE(run({*mnt_ / name}), 0);
  }
  ASSERT_EQ(run_shell("printf x >> '" + (*mnt_ / "three") + "'").exit_code, 0);
  EXPECT_EXIT_CODE(run({*mnt_ / "three"}), 0);  // a new version: measured again
  agent_->stop();

  const std::string list_path = dir_ / "state/binary_runtime_measurements";
  const std::string ascii = read_text(dir_ / "state/ascii_runtime_measurements");
  auto entries = ima::parse_ascii_list(ascii);
  ASSERT_TRUE(entries) << entries.error().message << "\n" << ascii;
  ASSERT_EQ(entries->size(), 5u) << ascii;  // boot_aggregate, one, two, three, three'
  EXPECT_EQ((*entries)[0].path, "boot_aggregate");
  EXPECT_EQ((*entries)[2].template_name, ima::TemplateName::ima_sig);
  EXPECT_FALSE((*entries)[2].signature.empty());
  EXPECT_EQ((*entries)[1].file_digest.algo, hash == std::string("sm3") ? crypto::HashAlgo::sm3 : crypto::HashAlgo::sha256);
  auto binary = ima::parse_binary_list([&] {
    auto text = read_text(list_path);
    return std::vector<uint8_t>(text.begin(), text.end());
  }());
  ASSERT_TRUE(binary) << binary.error().message;
  EXPECT_EQ(*binary, *entries);

  // PCRs as the TPM holds them now, through tss2 and through tpm2-tools.
  auto tpm = tpm::open_pcr_backend(swtpm_->tcti_spec());
  ASSERT_TRUE(tpm) << tpm.error().message;
  for (auto [bank, name] : {std::pair{crypto::HashAlgo::sha1, "sha1"}, std::pair{crypto::HashAlgo::sha256, "sha256"}}) {
    std::string pcr_file;
    for (uint32_t pcr = 0; pcr < 24; ++pcr) {
      auto value = (*tpm)->read(pcr, bank);
      ASSERT_TRUE(value) << value.error().message;
      char label[16];
      std::snprintf(label, sizeof label, "PCR-%02u: ", pcr);
      pcr_file += label + upper_spaced_hex(*value) + "\n";
      if (pcr == 10) {
        EXPECT_EQ(value->hex(), tpm2_pcrread(*swtpm_, name, 10)) << name;
        EXPECT_EQ(ima::replay_pcr(*entries, 10, bank), *value) << "ascii list replay, bank " << name;
      }
    }
    write_text(dir_ / (std::string("pcrs-") + name), pcr_file);
  }
  const auto verified = run({"evmctl", "ima_measurement", "--pcrs", "sha1," + (dir_ / "pcrs-sha1"), "--pcrs",
                             "sha256," + (dir_ / "pcrs-sha256"), list_path});
  EXPECT_EXIT_CODE(verified, 0);

  // evmctl notices a list that lost its last entry.
  auto text = read_text(list_path);
  const auto last = text.rfind("ima-ng");
  ASSERT_NE(last, std::string::npos);
  write_text(dir_ / "shortened", text.substr(0, last - 28));  // u32 pcr + 20-byte digest + u32 name length
  const auto shortened = run({"evmctl", "ima_measurement", "--pcrs", "sha1," + (dir_ / "pcrs-sha1"), "--pcrs",
                              "sha256," + (dir_ / "pcrs-sha256"), dir_ / "shortened"});
  EXPECT_NE(shortened.exit_code, 0) << shortened.out << shortened.err;
}

INSTANTIATE_TEST_SUITE_P(FileHashes, AgentMeasurement, testing::Values("sha256", "sm3"));
