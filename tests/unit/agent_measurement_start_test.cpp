// Finding 4 of issue 16: a TPM keeps its PCRs when the agent restarts, so the agent must go on
// with the list it left, not start a new one that can never replay. Here the "TPM" is a
// software bank that outlives the simulated agent runs (start_measurement_list + the sink, as
// Agent::start uses them), so each test can crash a run at a chosen point and start again.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "agent/measurement_sink.h"
#include "agent/measurement_start.h"
#include "ima/measurement_list.h"
#include "support/test_support.h"

using namespace vigil;
using namespace vigil::agent;
using crypto::HashAlgo;

namespace {

// PCRs that survive agent restarts, like a TPM's: the runs share one software bank.
class LastingPcrs final : public tpm::PcrBackend {
 public:
  explicit LastingPcrs(std::shared_ptr<tpm::PcrBackend> bank) : bank_(std::move(bank)) {}
  std::vector<HashAlgo> banks() const override { return bank_->banks(); }
  Result<void> extend(uint32_t pcr, std::span<const crypto::Digest> digests) override { return bank_->extend(pcr, digests); }
  Result<crypto::Digest> read(uint32_t pcr, HashAlgo bank) override { return bank_->read(pcr, bank); }
  std::string describe() const override { return "lasting test PCRs"; }

 private:
  std::shared_ptr<tpm::PcrBackend> bank_;
};

ima::MeasurementEntry file_entry(const std::string& path, uint8_t seed, uint32_t pcr = 10) {
  ima::MeasurementEntry entry;
  entry.pcr = pcr;
  entry.template_name = ima::TemplateName::ima_ng;
  entry.path = path;
  entry.file_digest.algo = HashAlgo::sha256;
  entry.file_digest.size = 32;
  for (size_t i = 0; i < 32; ++i) entry.file_digest.bytes[i] = static_cast<uint8_t>(seed + i);
  ima::compute_template_hashes(entry);
  return entry;
}

std::vector<crypto::Digest> extend_digests(const ima::MeasurementEntry& entry, tpm::PcrBackend& pcrs) {
  std::vector<crypto::Digest> digests;
  for (auto bank : pcrs.banks()) digests.push_back(ima::extend_digest(entry, bank));
  return digests;
}

class MeasurementStartTest : public testing::Test {
 protected:
  // One agent run's start: the list decision, then what it records first, through the sink.
  struct Run {
    std::unique_ptr<MeasurementSink> sink;
    nlohmann::json report;
    std::string warning;
    ListStartOutcome outcome{};
  };
  Run start(bool software = false, uint32_t pcr = 10) {
    Run run;
    MeasurementStartOptions options{dir.path(), software, pcr, HashAlgo::sha256};
    auto backend = software ? tpm::make_software_pcrs() : std::make_unique<LastingPcrs>(lasting);
    auto started = start_measurement_list(options, *backend);
    EXPECT_TRUE(started) << started.error().message;
    if (!started) return run;
    run.sink = std::make_unique<MeasurementSink>(std::move(started->log), std::move(backend));
    for (auto& entry : started->to_record) EXPECT_TRUE(run.sink->record(entry));
    run.report = started->report;
    run.warning = started->warning;
    run.outcome = started->outcome;
    return run;
  }

  // The list on disk, from the binary file.
  std::vector<ima::MeasurementEntry> list_on_disk() {
    const std::string text = test::read_text(dir / "binary_runtime_measurements");
    auto parsed = ima::parse_binary_list(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    EXPECT_TRUE(parsed) << parsed.error().message;
    auto ascii = ima::parse_ascii_list(test::read_text(dir / "ascii_runtime_measurements"));
    EXPECT_TRUE(ascii) << ascii.error().message;
    if (parsed && ascii) {
      EXPECT_EQ(*ascii, *parsed) << "the two files disagree";
    }
    return parsed ? *parsed : std::vector<ima::MeasurementEntry>{};
  }

  // What a verifier checks: the list replays to the PCRs, in every bank.
  void expect_replays(uint32_t pcr = 10) {
    const auto entries = list_on_disk();
    for (auto bank : lasting->banks()) {
      auto value = lasting->read(pcr, bank);
      ASSERT_TRUE(value);
      EXPECT_EQ(ima::replay_pcr(entries, pcr, bank), *value) << crypto::hash_name(bank);
    }
  }

  size_t boot_aggregates() {
    size_t count = 0;
    for (const auto& entry : list_on_disk()) count += entry.path == "boot_aggregate";
    return count;
  }

  test::TempDir dir;
  std::shared_ptr<tpm::PcrBackend> lasting{tpm::make_software_pcrs({HashAlgo::sha1, HashAlgo::sha256})};
};

}  // namespace

TEST_F(MeasurementStartTest, ListThatReplaysIsContinuedWithoutASecondBootAggregate) {
  {
    Run first = start();
    EXPECT_EQ(first.outcome, ListStartOutcome::new_list);
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
    ASSERT_TRUE(first.sink->record(file_entry("/bin/b", 2)));
  }  // killed: nothing is closed or flushed beyond what each append did
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::continued);
  EXPECT_EQ(second.report["outcome"], "continued");
  EXPECT_EQ(second.report["entries"], 3);
  EXPECT_TRUE(second.warning.empty());
  EXPECT_EQ(second.sink->log().size(), 3u);
  ASSERT_TRUE(second.sink->record(file_entry("/bin/c", 3)));
  EXPECT_EQ(boot_aggregates(), 1u);
  EXPECT_EQ(list_on_disk().size(), 4u);
  expect_replays();
}

TEST_F(MeasurementStartTest, TornLastRecordIsCutWhenTheRestReplays) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
  }
  // The crash came in the middle of writing the next record (never extended).
  const auto torn = ima::binary_record(file_entry("/bin/torn", 9));
  {
    std::ofstream out(dir / "binary_runtime_measurements", std::ios::app | std::ios::binary);
    out.write(reinterpret_cast<const char*>(torn.data()), static_cast<std::streamsize>(torn.size() / 2));
    std::ofstream ascii(dir / "ascii_runtime_measurements", std::ios::app);
    ascii << "10 0123";  // and half an ascii line
  }
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::continued);
  EXPECT_EQ(second.report["tail_bytes"], torn.size() / 2);
  EXPECT_NE(second.report["tail_error"].get<std::string>().find("entry 2"), std::string::npos) << second.report;
  EXPECT_EQ(second.report["ascii_rewritten"], true);
  EXPECT_EQ(second.sink->log().size(), 2u);
  ASSERT_TRUE(second.sink->record(file_entry("/bin/b", 2)));
  EXPECT_EQ(list_on_disk().size(), 3u);
  expect_replays();
}

// The sink appends, then extends; a crash between the two leaves the last entry unextended.
TEST_F(MeasurementStartTest, EntryAppendedButNotExtendedIsExtendedAtStart) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
    ASSERT_TRUE(first.sink->log().append(file_entry("/bin/appended-only", 5)));
  }
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::continued);
  EXPECT_EQ(second.report["completed_extend"], true);
  EXPECT_EQ(second.sink->log().size(), 3u);
  expect_replays();
}

// Only the last entry can be in flight: a list that needs two entries dropped does not replay.
TEST_F(MeasurementStartTest, TwoEntriesNeverExtendedMakeTheListUnreplayable) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->log().append(file_entry("/bin/x", 1)));
    ASSERT_TRUE(first.sink->log().append(file_entry("/bin/y", 2)));
  }
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::unreplayable);
}

TEST_F(MeasurementStartTest, ListThatDoesNotReplayIsSetAsideAndReported) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
  }
  const std::string old_list = test::read_text(dir / "binary_runtime_measurements");
  // PCR 10 extended behind the list's back.
  const auto outside = file_entry("/not/in/the/list", 7);
  ASSERT_TRUE(lasting->extend(10, extend_digests(outside, *lasting)));

  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::unreplayable);
  EXPECT_EQ(second.report["outcome"], "unreplayable");
  EXPECT_NE(second.report["reason"].get<std::string>().find("does not replay: PCR 10"), std::string::npos)
      << second.report;
  EXPECT_NE(second.warning.find("cannot trust this host until its TPM is reset"), std::string::npos) << second.warning;
  // The old list is kept, byte for byte, beside the new one.
  const std::string aside = second.report["set_aside"];
  EXPECT_EQ(aside.rfind(dir / "binary_runtime_measurements.unreplayable-", 0), 0u) << aside;
  EXPECT_EQ(test::read_text(aside), old_list);
  EXPECT_FALSE(test::read_text(dir / ("ascii_runtime_measurements" + aside.substr(aside.rfind('.')))).empty());
  // The new list says so: boot_aggregate, then an entry naming the old list with its digest.
  const auto entries = list_on_disk();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "boot_aggregate");
  EXPECT_EQ(entries[1].path, aside);
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(HashAlgo::sha256, std::span(reinterpret_cast<const uint8_t*>(old_list.data()),
                                                            old_list.size()));
  ASSERT_TRUE(digest);
  EXPECT_EQ(entries[1].file_digest, *digest);
}

TEST_F(MeasurementStartTest, TornRecordOnAListThatDoesNotReplayIsNotCut) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
  }
  ASSERT_TRUE(lasting->extend(10, extend_digests(file_entry("/elsewhere", 3), *lasting)));
  {
    std::ofstream out(dir / "binary_runtime_measurements", std::ios::app | std::ios::binary);
    out << "partial";
  }
  const std::string old_list = test::read_text(dir / "binary_runtime_measurements");
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::unreplayable);
  EXPECT_EQ(test::read_text(second.report["set_aside"]), old_list);
}

TEST_F(MeasurementStartTest, ResetPcrsStartANewList) {
  {
    Run first = start();
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
  }
  lasting = tpm::make_software_pcrs({HashAlgo::sha1, HashAlgo::sha256});  // a reboot
  Run second = start();
  EXPECT_EQ(second.outcome, ListStartOutcome::new_boot);
  EXPECT_TRUE(second.warning.empty());
  EXPECT_EQ(second.report["previous_entries"], 2);
  EXPECT_EQ(list_on_disk().size(), 1u);
  EXPECT_EQ(boot_aggregates(), 1u);
  expect_replays();
}

// Software PCRs are zero at every start (and not worth persisting: anyone who can write the
// state directory could forge them, and nothing can quote them): only a new list replays.
TEST_F(MeasurementStartTest, SoftwarePcrsStartANewListEveryTime) {
  {
    Run first = start(/*software=*/true);
    EXPECT_EQ(first.outcome, ListStartOutcome::new_list);
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1)));
  }
  Run second = start(/*software=*/true);
  EXPECT_EQ(second.outcome, ListStartOutcome::software_restart);
  EXPECT_TRUE(second.warning.empty());
  EXPECT_EQ(list_on_disk().size(), 1u);
  const auto entries = list_on_disk();
  for (auto bank : second.sink->pcrs().banks()) {
    EXPECT_EQ(ima::replay_pcr(entries, 10, bank), second.sink->pcrs().read(10, bank).value());
  }
}

TEST_F(MeasurementStartTest, ExtendedPcrWithoutAListIsReported) {
  ASSERT_TRUE(lasting->extend(10, extend_digests(file_entry("/somebody/else", 4), *lasting)));
  Run run = start();
  EXPECT_EQ(run.outcome, ListStartOutcome::unreplayable);
  EXPECT_NE(run.report["reason"].get<std::string>().find("there is no measurement list"), std::string::npos) << run.report;
  EXPECT_FALSE(run.report.contains("set_aside"));
  EXPECT_EQ(list_on_disk().size(), 1u);
}

TEST_F(MeasurementStartTest, MeasurementPcrTakesTheBootAggregateAndIsReplayed) {
  {
    Run first = start(false, 11);
    ASSERT_TRUE(first.sink->record(file_entry("/bin/a", 1, 11)));
  }
  const auto entries = list_on_disk();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].pcr, 11u);
  EXPECT_EQ(lasting->read(10, HashAlgo::sha256).value().hex(), std::string(64, '0'));
  Run second = start(false, 11);
  EXPECT_EQ(second.outcome, ListStartOutcome::continued);
  expect_replays(11);
}

// A kernel with IMA extends PCR 10 and the PCRs its policy names; the agent refuses to share
// them (tested through a list file standing in for securityfs).
TEST(KernelIma, PcrsItsListUsesAreRefusedAndOthersAllowed) {
  test::TempDir dir;
  EXPECT_TRUE(refuse_pcrs_of_kernel_ima(dir / "absent", {10}));
  auto none = kernel_ima_pcrs(dir / "absent");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  test::write_text(dir / "ascii_runtime_measurements",
                   "10 0adefe762c149c7cec19da62f0da1297fcfbffff ima-ng "
                   "sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate\n"
                   "11 cff3da2ff339a1f07bb0dbcbc0381e794ed09555 ima-ng sha256:00 /usr/bin/kmod\n");
  auto pcrs = kernel_ima_pcrs(dir / "ascii_runtime_measurements");
  ASSERT_TRUE(pcrs);
  ASSERT_TRUE(pcrs->has_value());
  EXPECT_EQ(**pcrs, (std::set<uint32_t>{10, 11}));
  auto ten = refuse_pcrs_of_kernel_ima(dir / "ascii_runtime_measurements", {10});
  ASSERT_FALSE(ten);
  EXPECT_NE(ten.error().message.find("the kernel's IMA extends PCR 10"), std::string::npos) << ten.error().message;
  EXPECT_NE(ten.error().message.find("measurement.pcr"), std::string::npos);
  EXPECT_FALSE(refuse_pcrs_of_kernel_ima(dir / "ascii_runtime_measurements", {12, 11}));
  EXPECT_TRUE(refuse_pcrs_of_kernel_ima(dir / "ascii_runtime_measurements", {12, 15}));
  // An empty kernel list still means PCR 10 (where its boot_aggregate goes).
  test::write_text(dir / "empty", "");
  EXPECT_FALSE(refuse_pcrs_of_kernel_ima(dir / "empty", {10}));
}
