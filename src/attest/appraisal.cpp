// One attestation round judged (docs/attestation.md, "Verdicts"): the quote, then the list
// delta replayed once, O(n), to the quoted PCR 10, then the covered entries against the policy.
#include "attest/appraisal.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "common/path_text.h"

namespace vigil::attest {
namespace {

constexpr uint32_t kImaPcr = 10;
constexpr size_t kSha256Size = 32;

crypto::Digest zero_sha256() {
  crypto::Digest digest;
  digest.algo = crypto::HashAlgo::sha256;
  digest.size = kSha256Size;
  return digest;
}

std::string hex_prefix(const crypto::Digest& digest) {
  std::string text = digest.hex();
  if (text.size() > 16) text = text.substr(0, 16) + "...";
  return text;
}

RoundResult untrusted(const ListProgress& progress, FailureKind kind, std::string reason) {
  RoundResult result;
  result.verdict = Verdict::untrusted;
  result.kind = kind;
  result.reason = std::move(reason);
  result.progress = progress;
  return result;
}

// What IMA extends into the sha256 bank for an entry: its template hash, or all 0xff for a
// violation. The parsers (parse_binary_list) fill template_sha256 from the entry's fields.
void extend(crypto::Hasher& hasher, crypto::Digest& running, const ima::MeasurementEntry& entry) {
  std::array<uint8_t, 2 * kSha256Size> input;
  std::memcpy(input.data(), running.bytes.data(), kSha256Size);
  if (entry.violation) {
    std::fill(input.begin() + kSha256Size, input.end(), 0xff);
  } else {
    std::memcpy(input.data() + kSha256Size, entry.template_sha256.data(), kSha256Size);
  }
  if (auto next = hasher.of_bytes(crypto::HashAlgo::sha256, input)) running = *next;
}

}  // namespace

ListProgress initial_progress() {
  ListProgress progress;
  progress.pcr10 = zero_sha256();
  return progress;
}

std::string_view failure_kind_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::none: return "none";
    case FailureKind::quote: return "quote";
    case FailureKind::list_gap: return "list-gap";
    case FailureKind::list_replay: return "list-replay";
    case FailureKind::policy: return "policy";
    case FailureKind::boot: return "boot";
  }
  return "none";
}

RoundResult appraise_round(const tpm::TpmPublic& ak, std::span<const uint8_t> nonce, const ListProgress& progress,
                           const RoundEvidence& evidence, const RuntimePolicy& policy) {
  const QuoteCheck quote = check_quote(ak, nonce, evidence.quote);
  if (quote.problem != QuoteProblem::none) {
    RoundResult result = untrusted(progress, FailureKind::quote, quote.reason);
    result.quote_problem = quote.problem;
    return result;
  }
  const auto& selection = evidence.quote.selection;
  const auto pcr10_at = std::find(selection.pcrs.begin(), selection.pcrs.end(), kImaPcr);
  if (selection.bank != crypto::HashAlgo::sha256 || pcr10_at == selection.pcrs.end()) {
    RoundResult result = untrusted(progress, FailureKind::quote, "the quote does not cover PCR 10 of the sha256 bank");
    result.quote_problem = QuoteProblem::selection;
    return result;
  }
  // check_quote made sure there is one value per selected PCR, each of the bank's size.
  const crypto::Digest& quoted = evidence.quote.pcr_values[static_cast<size_t>(pcr10_at - selection.pcrs.begin())];

  // The boot state, where the policy says what it must be (the values are the quote's: signed).
  std::vector<uint32_t> boot_checked;
  for (const auto& [index, allowed] : policy.boot_pcrs) {
    const auto at = std::find(selection.pcrs.begin(), selection.pcrs.end(), index);
    if (at == selection.pcrs.end()) {
      return untrusted(progress, FailureKind::boot,
                       "PCR " + std::to_string(index) + " is in the policy's boot_pcrs but not in the quote");
    }
    const crypto::Digest& value = evidence.quote.pcr_values[static_cast<size_t>(at - selection.pcrs.begin())];
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      std::string reason = "PCR " + std::to_string(index) + " is sha256:" + hex_prefix(value) + ", the policy allows ";
      for (size_t i = 0; i < allowed.size() && i < 3; ++i) reason += (i ? ", " : "") + ("sha256:" + hex_prefix(allowed[i]));
      if (allowed.size() > 3) reason += " and " + std::to_string(allowed.size() - 3) + " more";
      RoundResult result = untrusted(progress, FailureKind::boot, reason);
      result.boot_pcrs_checked = boot_checked;
      return result;
    }
    boot_checked.push_back(index);
  }
  // Failures from here on happened with the boot PCRs judged (and matching).
  auto after_boot = [&](FailureKind kind, std::string reason) {
    RoundResult result = untrusted(progress, kind, std::move(reason));
    result.boot_pcrs_checked = boot_checked;
    return result;
  };

  // A TPM reset (reboot) resets PCR 10 and the list with it; resetCount never goes back.
  ListProgress start = progress;
  if (progress.seen_quote && quote.info.reset_count != progress.reset_count) {
    if (quote.info.reset_count < progress.reset_count) {
      return after_boot(FailureKind::boot, "TPM resetCount went back from " + std::to_string(progress.reset_count) +
                                               " to " + std::to_string(quote.info.reset_count));
    }
    if (evidence.list_start != 0) {
      return after_boot(FailureKind::list_gap,
                        "TPM was reset (resetCount " + std::to_string(progress.reset_count) + " -> " +
                            std::to_string(quote.info.reset_count) + ") but entries start at " +
                            std::to_string(evidence.list_start) + ", not 0");
    }
    start = initial_progress();
  }
  if (evidence.list_start != start.entries_verified) {
    return after_boot(FailureKind::list_gap, "entries start at " + std::to_string(evidence.list_start) +
                                                 ", verifier has verified " + std::to_string(start.entries_verified));
  }

  // The first prefix (the empty one included) that reaches the quoted value is what this quote
  // covers; entries after it were appended after the quote and wait for the next round.
  thread_local crypto::Hasher hasher;
  crypto::Digest running = start.pcr10.size == kSha256Size ? start.pcr10 : zero_sha256();
  const auto& entries = evidence.entries;
  size_t covered = 0;
  bool reached = running == quoted;
  for (size_t i = 0; i < entries.size() && !reached; ++i) {
    if (entries[i].pcr != kImaPcr) continue;
    extend(hasher, running, entries[i]);
    if (running == quoted) {
      reached = true;
      covered = i + 1;
    }
  }
  if (!reached) {
    return after_boot(FailureKind::list_replay,
                      "no prefix of the " + std::to_string(entries.size()) + " entries from " +
                          std::to_string(evidence.list_start) + " replays to the quoted PCR 10 (quoted " +
                          hex_prefix(quoted) + ", full replay gives " + hex_prefix(running) + ")");
  }

  for (size_t i = 0; i < covered; ++i) {
    const EntryVerdict verdict = check_entry(policy, entries[i]);
    if (!verdict.allowed) {
      const uint64_t index = evidence.list_start + i;
      RoundResult result = after_boot(
          FailureKind::policy, "entry " + std::to_string(index) + " " + printable_path(entries[i].path) + ": " + verdict.reason);
      result.failing_entry = static_cast<int64_t>(index);
      result.failing_path = entries[i].path;
      result.entries_checked = i;
      return result;
    }
  }

  RoundResult result;
  result.verdict = Verdict::trusted;
  result.kind = FailureKind::none;
  result.boot_pcrs_checked = std::move(boot_checked);
  if (policy.boot_pcrs.empty()) result.boot_pcrs_note = "not checked: the runtime policy lists no boot_pcrs";
  result.entries_checked = covered;
  result.progress.entries_verified = evidence.list_start + covered;
  result.progress.pcr10 = quoted;
  result.progress.reset_count = quote.info.reset_count;
  result.progress.seen_quote = true;
  return result;
}

}  // namespace vigil::attest
