#pragma once
// One attestation round, judged: the quote (signature, signer, nonce, PCR digest), the
// measurement-list delta replayed to the quoted PCR 10, and every new entry against the runtime
// policy. Pure: no I/O, so the verifier, its tests and bench/verifier.sh share it.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attest/quote.h"
#include "attest/runtime_policy.h"
#include "crypto/crypto.h"
#include "ima/measurement_list.h"
#include "tpm/tpm_public.h"

namespace vigil::attest {

// What the verifier remembers about an agent's measurement list between rounds.
struct ListProgress {
  uint64_t entries_verified = 0;   // entries [0, n) were replayed and passed the policy
  crypto::Digest pcr10;            // PCR 10 (sha256 bank) after those entries; zeros at start
  uint32_t reset_count = 0;        // TPM resetCount at the last good quote (a reboot resets the list)
  bool seen_quote = false;
};
ListProgress initial_progress();

struct RoundEvidence {
  tpm::QuoteEvidence quote;
  uint64_t list_start = 0;                 // index of the first entry in `entries`
  // Parsed from binary_runtime_measurements records; the replay uses each entry's
  // template_sha256, which the parsers (and compute_template_hashes) fill from its fields.
  std::vector<ima::MeasurementEntry> entries;
};

enum class Verdict { trusted, untrusted };
enum class FailureKind { none, quote, list_gap, list_replay, policy, boot };
std::string_view failure_kind_name(FailureKind kind);  // "quote", "list-gap", "list-replay", "policy", "boot"

struct RoundResult {
  Verdict verdict = Verdict::untrusted;
  FailureKind kind = FailureKind::none;
  QuoteProblem quote_problem = QuoteProblem::none;
  std::string reason;                // one line naming what failed (the first failing entry for policy)
  int64_t failing_entry = -1;        // index in the agent's list, for policy failures
  std::string failing_path;
  ListProgress progress;             // the new progress (unchanged from input when untrusted)
  uint64_t entries_checked = 0;      // new entries replayed and checked this round
  // Boot PCRs compared with the policy's boot_pcrs (all matched when trusted); empty: the
  // policy lists none, and the boot state was not judged.
  std::vector<uint32_t> boot_pcrs_checked;
  std::string boot_pcrs_note;  // "not checked: ..." when the policy lists no boot PCRs
};

// list_start must equal progress.entries_verified (else list_gap), or be 0 with a quote whose
// resetCount is newer than progress.reset_count (a reboot: the list starts again). Entries are
// replayed in the sha256 bank from progress.pcr10; the first prefix whose value equals the quoted
// PCR 10 is the part covered by this quote (later entries were appended after the quote and are
// judged next round). No such prefix: list_replay (entries removed, reordered, altered, or PCR 10
// extended outside the list). Before the list, each boot PCR the policy lists (boot_pcrs) must
// be quoted with one of its allowed values, else `boot`.
RoundResult appraise_round(const tpm::TpmPublic& ak, std::span<const uint8_t> nonce, const ListProgress& progress,
                           const RoundEvidence& evidence, const RuntimePolicy& policy);

}  // namespace vigil::attest
