#include <gtest/gtest.h>

#include "attest/appraisal.h"
#include "attest_test_quotes.h"

namespace {

using namespace vigil;
using namespace vigil::test::attest;
using attest::FailureKind;
using attest::Verdict;

// An agent with a TPM, a list, and a verifier-side policy generated from its good files.
struct Agent {
  SoftwareTpm tpm;
  MeasuredList list;
  attest::RuntimePolicy policy;
  uint8_t round = 0;

  Agent() {
    list.record_boot_aggregate(tpm);
    for (const char* name : {"/usr/bin/bash", "/usr/lib/libc.so.6", "/usr/bin/ls"}) measure(name, name);
    policy = attest::generate_from_measurements(list.entries);
  }
  void measure(const std::string& path, std::string_view content) { list.record(tpm, file_entry(path, content)); }
  std::vector<uint8_t> next_nonce() { return nonce_of(++round); }
};

attest::RoundResult appraise(const Agent& agent, std::span<const uint8_t> nonce, const attest::ListProgress& progress,
                             const attest::RoundEvidence& evidence) {
  return attest::appraise_round(agent.tpm.ak(), nonce, progress, evidence, agent.policy);
}

TEST(Appraisal, FirstRoundReplaysTheWholeListAndTrusts) {
  Agent agent;
  const auto nonce = agent.next_nonce();
  const auto result = appraise(agent, nonce, attest::initial_progress(),
                               round_evidence(agent.tpm, nonce, agent.list, 0));
  EXPECT_EQ(result.verdict, Verdict::trusted) << result.reason;
  EXPECT_EQ(result.kind, FailureKind::none);
  EXPECT_EQ(result.entries_checked, 4u);
  EXPECT_EQ(result.progress.entries_verified, 4u);
  EXPECT_EQ(result.progress.pcr10, agent.tpm.pcr(10));
  EXPECT_EQ(result.progress.reset_count, agent.tpm.reset_count());
  EXPECT_TRUE(result.progress.seen_quote);
  EXPECT_EQ(attest::failure_kind_name(result.kind), "none");
}

TEST(Appraisal, EntriesAppendedAfterTheQuoteWaitForTheNextRound) {
  Agent agent;
  auto nonce = agent.next_nonce();
  attest::RoundEvidence evidence;
  evidence.quote = agent.tpm.quote(nonce);  // quote first, then the list grows, then it is read
  agent.measure("/usr/bin/ls", "/usr/bin/ls");
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  evidence.entries = agent.list.from(0);
  auto result = appraise(agent, nonce, attest::initial_progress(), evidence);
  ASSERT_EQ(result.verdict, Verdict::trusted) << result.reason;
  EXPECT_EQ(result.entries_checked, 4u);
  EXPECT_EQ(result.progress.entries_verified, 4u);

  nonce = agent.next_nonce();
  const auto next = appraise(agent, nonce, result.progress, round_evidence(agent.tpm, nonce, agent.list, 4));
  ASSERT_EQ(next.verdict, Verdict::trusted) << next.reason;
  EXPECT_EQ(next.entries_checked, 2u);
  EXPECT_EQ(next.progress.entries_verified, 6u);
}

TEST(Appraisal, NoNewEntriesAndAnUnchangedPcrIsFine) {
  Agent agent;
  auto nonce = agent.next_nonce();
  const auto first = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(first.verdict, Verdict::trusted) << first.reason;
  nonce = agent.next_nonce();
  const auto second = appraise(agent, nonce, first.progress, round_evidence(agent.tpm, nonce, agent.list, 4));
  EXPECT_EQ(second.verdict, Verdict::trusted) << second.reason;
  EXPECT_EQ(second.entries_checked, 0u);
  EXPECT_EQ(second.progress.entries_verified, 4u);
}

TEST(Appraisal, RemovedEntryIsAReplayFailure) {
  Agent agent;
  const auto nonce = agent.next_nonce();
  auto evidence = round_evidence(agent.tpm, nonce, agent.list, 0);
  evidence.entries.erase(evidence.entries.begin() + 2);
  const auto result = appraise(agent, nonce, attest::initial_progress(), evidence);
  EXPECT_EQ(result.verdict, Verdict::untrusted);
  EXPECT_EQ(result.kind, FailureKind::list_replay);
  EXPECT_NE(result.reason.find("no prefix of the 3 entries from 0 replays to the quoted PCR 10"), std::string::npos)
      << result.reason;
  EXPECT_EQ(result.progress.entries_verified, 0u);  // unchanged
  EXPECT_EQ(attest::failure_kind_name(result.kind), "list-replay");
}

TEST(Appraisal, ReorderedEntriesAreAReplayFailure) {
  Agent agent;
  const auto nonce = agent.next_nonce();
  auto evidence = round_evidence(agent.tpm, nonce, agent.list, 0);
  std::swap(evidence.entries[1], evidence.entries[2]);
  const auto result = appraise(agent, nonce, attest::initial_progress(), evidence);
  EXPECT_EQ(result.kind, FailureKind::list_replay) << result.reason;
}

TEST(Appraisal, AlteredEntryIsAReplayFailure) {
  Agent agent;
  const auto nonce = agent.next_nonce();
  auto evidence = round_evidence(agent.tpm, nonce, agent.list, 0);
  // The agent hides a changed binary by reporting the allowed digest.
  evidence.entries[3] = file_entry("/usr/bin/ls", "a different ls");
  const auto result = appraise(agent, nonce, attest::initial_progress(), evidence);
  EXPECT_EQ(result.kind, FailureKind::list_replay) << result.reason;
}

TEST(Appraisal, ExtendOutsideTheListIsAReplayFailure) {
  Agent agent;
  auto nonce = agent.next_nonce();
  const auto first = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(first.verdict, Verdict::trusted) << first.reason;
  agent.measure("/usr/bin/ls", "/usr/bin/ls");
  agent.tpm.extend(10, hash_of(crypto::HashAlgo::sha256, bytes_of("tpm2_pcrextend by someone else")));
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  nonce = agent.next_nonce();
  const auto result = appraise(agent, nonce, first.progress, round_evidence(agent.tpm, nonce, agent.list, 4));
  EXPECT_EQ(result.kind, FailureKind::list_replay) << result.reason;
  EXPECT_EQ(result.progress.entries_verified, 4u);
}

TEST(Appraisal, ListGapNamesBothPositions) {
  Agent agent;
  auto nonce = agent.next_nonce();
  const auto first = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(first.verdict, Verdict::trusted) << first.reason;
  agent.measure("/usr/bin/ls", "/usr/bin/ls");
  agent.measure("/usr/bin/ls", "/usr/bin/ls");
  nonce = agent.next_nonce();
  const auto result = appraise(agent, nonce, first.progress, round_evidence(agent.tpm, nonce, agent.list, 5));
  EXPECT_EQ(result.kind, FailureKind::list_gap) << result.reason;
  EXPECT_EQ(result.reason, "entries start at 5, verifier has verified 4");
  EXPECT_EQ(attest::failure_kind_name(result.kind), "list-gap");
}

TEST(Appraisal, RebootStartsTheListAgain) {
  Agent agent;
  auto nonce = agent.next_nonce();
  const auto first = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(first.verdict, Verdict::trusted) << first.reason;

  agent.tpm.reboot();
  agent.list = MeasuredList{};
  agent.list.record_boot_aggregate(agent.tpm);
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  nonce = agent.next_nonce();
  auto result = appraise(agent, nonce, first.progress, round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(result.verdict, Verdict::trusted) << result.reason;
  EXPECT_EQ(result.progress.entries_verified, 2u);
  EXPECT_EQ(result.progress.reset_count, first.progress.reset_count + 1);

  // After a reboot the list must start at 0.
  agent.tpm.reboot();
  agent.list = MeasuredList{};
  agent.list.record_boot_aggregate(agent.tpm);
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  agent.measure("/usr/bin/ls", "/usr/bin/ls");
  nonce = agent.next_nonce();
  const auto claimed = appraise(agent, nonce, result.progress, round_evidence(agent.tpm, nonce, agent.list, 2));
  EXPECT_EQ(claimed.kind, FailureKind::list_gap) << claimed.reason;
  EXPECT_NE(claimed.reason.find("TPM was reset"), std::string::npos) << claimed.reason;

  // resetCount never goes back: a quote from before is a boot failure (with a fresh nonce it
  // can only come from a TPM rolled back or another identity).
  attest::ListProgress ahead = result.progress;
  ahead.reset_count += 5;
  nonce = agent.next_nonce();
  const auto rolled_back = appraise(agent, nonce, ahead, round_evidence(agent.tpm, nonce, agent.list, 0));
  EXPECT_EQ(rolled_back.kind, FailureKind::boot) << rolled_back.reason;
  EXPECT_EQ(attest::failure_kind_name(rolled_back.kind), "boot");
}

TEST(Appraisal, ReplacedBinaryIsAPolicyFailureNamingTheEntry) {
  Agent agent;
  auto nonce = agent.next_nonce();
  const auto first = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(first.verdict, Verdict::trusted) << first.reason;
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  agent.measure("/usr/bin/ls", "ls with a backdoor");
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  nonce = agent.next_nonce();
  const auto result = appraise(agent, nonce, first.progress, round_evidence(agent.tpm, nonce, agent.list, 4));
  EXPECT_EQ(result.verdict, Verdict::untrusted);
  EXPECT_EQ(result.kind, FailureKind::policy);
  EXPECT_EQ(result.failing_entry, 5);
  EXPECT_EQ(result.failing_path, "/usr/bin/ls");
  EXPECT_EQ(result.reason.rfind("entry 5 /usr/bin/ls: digest sha256:", 0), 0u) << result.reason;
  EXPECT_NE(result.reason.find("not allowed"), std::string::npos) << result.reason;
  EXPECT_EQ(result.progress.entries_verified, 4u);  // unchanged
  EXPECT_EQ(result.progress.pcr10, first.progress.pcr10);
}

TEST(Appraisal, QuoteProblemsComeFirst) {
  Agent agent;
  const auto nonce = agent.next_nonce();
  const auto stale = round_evidence(agent.tpm, nonce, agent.list, 0);
  const auto replayed = appraise(agent, agent.next_nonce(), attest::initial_progress(), stale);
  EXPECT_EQ(replayed.kind, FailureKind::quote);
  EXPECT_EQ(replayed.quote_problem, attest::QuoteProblem::nonce) << replayed.reason;

  SoftwareTpm other;
  attest::RoundEvidence foreign = stale;
  foreign.quote = other.quote(nonce);
  const auto different = appraise(agent, nonce, attest::initial_progress(), foreign);
  EXPECT_EQ(different.kind, FailureKind::quote);
  EXPECT_EQ(different.quote_problem, attest::QuoteProblem::different_signer) << different.reason;

  // A quote that leaves out PCR 10 cannot vouch for the list.
  attest::RoundEvidence without_pcr10 = stale;
  const tpm::PcrSelection boot_only = {crypto::HashAlgo::sha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  without_pcr10.quote = agent.tpm.quote(nonce, boot_only);
  const auto missing = appraise(agent, nonce, attest::initial_progress(), without_pcr10);
  EXPECT_EQ(missing.kind, FailureKind::quote);
  EXPECT_EQ(missing.quote_problem, attest::QuoteProblem::selection) << missing.reason;
}

TEST(Appraisal, ViolationInTheListFailsThePolicy) {
  Agent agent;
  agent.list.record(agent.tpm, violation_entry("/etc/shadow"));
  const auto nonce = agent.next_nonce();
  const auto result = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  EXPECT_EQ(result.kind, FailureKind::policy) << result.reason;
  EXPECT_EQ(result.failing_entry, 4);
}

// Boot PCRs 0-7 are quoted every round; the policy's boot_pcrs say which values each may have
// (issue 16, finding 10). Without boot_pcrs nothing is judged, and the result says so.
TEST(Appraisal, BootPcrsAreJudgedOnlyAgainstThePolicysValues) {
  Agent agent;
  agent.tpm.reboot();  // firmware measures PCRs 0-7
  agent.list.entries.clear();
  agent.list.record_boot_aggregate(agent.tpm);
  agent.measure("/usr/bin/bash", "/usr/bin/bash");
  agent.policy = attest::generate_from_measurements(agent.list.entries);

  auto nonce = agent.next_nonce();
  auto unjudged = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(unjudged.verdict, Verdict::trusted) << unjudged.reason;
  EXPECT_TRUE(unjudged.boot_pcrs_checked.empty());
  EXPECT_EQ(unjudged.boot_pcrs_note, "not checked: the runtime policy lists no boot_pcrs");

  // The values this machine booted with, for PCRs 0 and 7; a second value allowed for 7.
  agent.policy.boot_pcrs[0] = {agent.tpm.pcr(0)};
  agent.policy.boot_pcrs[7] = {hash_of(crypto::HashAlgo::sha256, bytes_of("another good boot")), agent.tpm.pcr(7)};
  nonce = agent.next_nonce();
  auto judged = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  ASSERT_EQ(judged.verdict, Verdict::trusted) << judged.reason;
  EXPECT_EQ(judged.boot_pcrs_checked, (std::vector<uint32_t>{0, 7}));
  EXPECT_EQ(judged.boot_pcrs_note, "");

  // A boot that measured something else into PCR 7 (Secure Boot off, another bootloader).
  agent.tpm.extend(7, hash_of(crypto::HashAlgo::sha256, bytes_of("shim from somewhere else")));
  nonce = agent.next_nonce();
  auto other_boot = appraise(agent, nonce, judged.progress, round_evidence(agent.tpm, nonce, agent.list, 2));
  EXPECT_EQ(other_boot.verdict, Verdict::untrusted);
  EXPECT_EQ(other_boot.kind, FailureKind::boot);
  EXPECT_TRUE(other_boot.reason.starts_with("PCR 7 is sha256:" + agent.tpm.pcr(7).hex().substr(0, 16))) << other_boot.reason;
  EXPECT_NE(other_boot.reason.find("the policy allows sha256:"), std::string::npos) << other_boot.reason;
  EXPECT_EQ(other_boot.boot_pcrs_checked, (std::vector<uint32_t>{0}));
  EXPECT_EQ(other_boot.progress.entries_verified, judged.progress.entries_verified);  // unchanged
  EXPECT_EQ(attest::failure_kind_name(other_boot.kind), "boot");

  // A PCR the policy lists but the quote leaves out cannot pass.
  attest::RoundEvidence narrow;
  nonce = agent.next_nonce();
  const tpm::PcrSelection without_zero{crypto::HashAlgo::sha256, {1, 2, 3, 4, 5, 6, 7, 10}};
  narrow.quote = agent.tpm.quote(nonce, without_zero);
  narrow.entries = agent.list.from(0);
  agent.policy.boot_pcrs.erase(7);
  auto missing = appraise(agent, nonce, attest::initial_progress(), narrow);
  EXPECT_EQ(missing.kind, FailureKind::boot) << missing.reason;
  EXPECT_NE(missing.reason.find("PCR 0 is in the policy's boot_pcrs but not in the quote"), std::string::npos)
      << missing.reason;
}

// boot_aggregate, the list's first entry, is judged by the digests listed for it like any entry.
TEST(Appraisal, BootAggregatePassesUnlessThePolicyListsItsDigests) {
  Agent agent;
  auto nonce = agent.next_nonce();
  ASSERT_EQ(appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0)).verdict,
            Verdict::trusted);
  agent.policy.digests["boot_aggregate"] = {hash_of(crypto::HashAlgo::sha256, bytes_of("some other boot"))};
  nonce = agent.next_nonce();
  auto judged = appraise(agent, nonce, attest::initial_progress(), round_evidence(agent.tpm, nonce, agent.list, 0));
  EXPECT_EQ(judged.kind, FailureKind::policy) << judged.reason;
  EXPECT_EQ(judged.failing_path, "boot_aggregate");
}

}  // namespace
