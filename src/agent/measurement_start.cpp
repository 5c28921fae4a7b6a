#include "agent/measurement_start.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/unique_fd.h"

namespace vigil::agent {
namespace {

using PcrValues = std::map<std::pair<std::uint32_t, crypto::HashAlgo>, crypto::Digest>;

bool all_zero(const crypto::Digest& digest) {
  return std::all_of(digest.view().begin(), digest.view().end(), [](uint8_t byte) { return byte == 0; });
}

// The boot_aggregate over PCRs 0-7 (SHA-1) or 0-9 of the bank matching the digest algorithm
// (a sha256 bank when the TPM has none for it); all zeros without a TPM, as the kernel records it.
ima::MeasurementEntry make_boot_aggregate(tpm::PcrBackend& pcrs, const MeasurementStartOptions& options) {
  std::vector<crypto::Digest> values;
  crypto::HashAlgo hash = options.hash;
  if (!options.software_pcrs) {
    const auto banks = pcrs.banks();
    crypto::HashAlgo bank = hash;
    if (std::find(banks.begin(), banks.end(), bank) == banks.end()) bank = crypto::HashAlgo::sha256;
    if (std::find(banks.begin(), banks.end(), bank) != banks.end()) {
      const uint32_t count = bank == crypto::HashAlgo::sha1 ? 8 : 10;
      for (uint32_t pcr = 0; pcr < count; ++pcr) {
        auto value = pcrs.read(pcr, bank);
        if (!value) {
          values.clear();
          break;
        }
        values.push_back(*value);
      }
      hash = bank;
    }
  }
  ima::MeasurementEntry entry = ima::boot_aggregate_entry(hash, values);
  entry.pcr = options.pcr;
  ima::compute_template_hashes(entry);
  return entry;
}

// The PCRs a list touches, with the one boot_aggregate goes to.
std::set<std::uint32_t> pcrs_of(std::span<const ima::MeasurementEntry> entries, std::uint32_t measurement_pcr) {
  std::set<std::uint32_t> pcrs{measurement_pcr};
  for (const auto& entry : entries) pcrs.insert(entry.pcr);
  return pcrs;
}

// Every bank of every PCR in `pcrs` that vigil can replay (it can hash the bank's algorithm).
Result<PcrValues> read_pcrs(tpm::PcrBackend& backend, const std::set<std::uint32_t>& pcrs) {
  PcrValues values;
  for (const auto pcr : pcrs) {
    for (const auto bank : backend.banks()) {
      if (crypto::hash_md(bank) == nullptr) continue;
      auto value = backend.read(pcr, bank);
      if (!value) return fail("reading PCR " + std::to_string(pcr) + " to replay the measurement list: " + value.error().message);
      values.emplace(std::pair{pcr, bank}, *value);
    }
  }
  return values;
}

// The first PCR/bank where `entries` replays to something else than `values`, or "".
std::string first_mismatch(std::span<const ima::MeasurementEntry> entries, const PcrValues& values) {
  for (const auto& [key, value] : values) {
    const auto replayed = ima::replay_pcr(entries, key.first, key.second);
    if (replayed.size == 0) continue;
    if (!(replayed == value)) {
      return "PCR " + std::to_string(key.first) + " (" + std::string(crypto::hash_name(key.second)) + ") holds " +
             value.hex() + ", the list replays to " + replayed.hex();
    }
  }
  return {};
}

std::string utc_now_compact() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  ::gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &parts);
  return text;
}

// Moves the old list aside under a name saying why, never over an earlier one.
Result<std::string> set_aside_unreplayable(const std::string& dir) {
  const std::string stamp = "unreplayable-" + utc_now_compact();
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string suffix = attempt == 0 ? stamp : stamp + "-" + std::to_string(attempt);
    auto moved = ima::MeasurementLog::set_aside(dir, suffix);
    if (moved || moved.error().sys_errno != EEXIST) return moved;
  }
  return fail(dir + ": too many lists set aside within one second");
}

// The entry that says, inside the new list, which list did not replay: named by the set-aside
// file, with that file's digest.
Result<ima::MeasurementEntry> break_entry(const std::string& set_aside_path, const MeasurementStartOptions& options) {
  UniqueFd fd(::open(set_aside_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return fail_errno(set_aside_path);
  crypto::Hasher hasher;
  auto digest = hasher.of_fd(options.hash, fd.get());
  if (!digest) return fail(set_aside_path + ": " + digest.error().message);
  ima::MeasurementEntry entry;
  entry.pcr = options.pcr;
  entry.template_name = ima::TemplateName::ima_ng;
  std::error_code error;
  const auto absolute = std::filesystem::absolute(set_aside_path, error);
  entry.path = error ? set_aside_path : absolute.lexically_normal().string();
  entry.file_digest = *digest;
  ima::compute_template_hashes(entry);
  return entry;
}

}  // namespace

std::string_view outcome_name(ListStartOutcome outcome) {
  switch (outcome) {
    case ListStartOutcome::new_list: return "new";
    case ListStartOutcome::continued: return "continued";
    case ListStartOutcome::new_boot: return "new-boot";
    case ListStartOutcome::software_restart: return "software-pcrs";
    case ListStartOutcome::unreplayable: return "unreplayable";
  }
  return "new";
}

Result<MeasurementStart> start_measurement_list(const MeasurementStartOptions& options, tpm::PcrBackend& pcrs) {
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  auto existing = ima::MeasurementLog::read_existing(options.dir);
  if (!existing) return std::unexpected(existing.error());
  MeasurementStart start;
  const size_t previous = existing->entries.size();
  const uint64_t tail_bytes = existing->file_bytes - existing->parsed_bytes;
  start.report = {{"pcr", options.pcr}, {"previous_entries", previous}};
  if (tail_bytes != 0) {
    start.report["tail_bytes"] = tail_bytes;
    start.report["tail_error"] = existing->tail_error;
  }
  const bool had_list = existing->found && existing->file_bytes != 0;

  auto start_new = [&](ListStartOutcome outcome) -> Result<void> {
    auto log = ima::MeasurementLog::open(options.dir);
    if (!log) return std::unexpected(log.error());
    start.log = std::move(*log);
    start.outcome = outcome;
    start.to_record.push_back(make_boot_aggregate(pcrs, options));
    return {};
  };
  auto finish = [&]() -> Result<MeasurementStart> {
    start.report["outcome"] = outcome_name(start.outcome);
    start.report["entries"] = start.log->size();
    return std::move(start);
  };

  if (options.software_pcrs) {
    // Software PCRs are zero again: only a new list replays to them.
    if (auto started = start_new(had_list ? ListStartOutcome::software_restart : ListStartOutcome::new_list); !started) {
      return std::unexpected(started.error());
    }
    return finish();
  }

  const std::set<std::uint32_t> used = pcrs_of(existing->entries, options.pcr);
  auto values = read_pcrs(pcrs, used);
  if (!values) return std::unexpected(values.error());
  const bool reset = std::all_of(values->begin(), values->end(), [](const auto& item) { return all_zero(item.second); });

  std::string mismatch;
  if (had_list && !existing->entries.empty()) {
    mismatch = first_mismatch(existing->entries, *values);
    bool complete_last_extend = false;
    // Appended, then the crash before the extend: the list without its last entry replays.
    // Not when bytes follow that entry (a torn record was the one in flight), nor for a lone
    // boot_aggregate on reset PCRs (a reboot since, which a new list handles as well).
    if (!mismatch.empty() && tail_bytes == 0 && (existing->entries.size() >= 2 || !reset)) {
      const auto all = std::span<const ima::MeasurementEntry>(existing->entries);
      complete_last_extend = first_mismatch(all.first(all.size() - 1), *values).empty();
    }
    if (mismatch.empty() || complete_last_extend) {
      if (complete_last_extend) {
        const ima::MeasurementEntry& last = existing->entries.back();
        std::vector<crypto::Digest> digests;
        for (const auto bank : pcrs.banks()) digests.push_back(ima::extend_digest(last, bank));
        if (auto extended = pcrs.extend(last.pcr, digests); !extended) {
          return fail("completing the extend of the list's last entry (a crash came between its append and its "
                      "extend): " + extended.error().message);
        }
        start.report["completed_extend"] = true;
      }
      bool ascii_rewritten = false;
      auto log = ima::MeasurementLog::continue_list(options.dir, std::move(*existing), &ascii_rewritten);
      if (!log) return std::unexpected(log.error());
      start.log = std::move(*log);
      start.outcome = ListStartOutcome::continued;
      if (ascii_rewritten) start.report["ascii_rewritten"] = true;
      return finish();
    }
  }
  if (reset) {
    // A reboot since the list was written (or no list yet): a new list, as the kernel's.
    if (auto started = start_new(had_list ? ListStartOutcome::new_boot : ListStartOutcome::new_list); !started) {
      return std::unexpected(started.error());
    }
    return finish();
  }

  // The PCRs hold extends the list cannot explain.
  std::string reason = !had_list ? "there is no measurement list, but PCR " + std::to_string(options.pcr) +
                                       " is not at its reset value (the list was removed, or something else "
                                       "extends that PCR)"
                                 : existing->entries.empty()
                                       ? "the measurement list has no whole record (" + existing->tail_error + ")"
                                       : "the measurement list does not replay: " + mismatch;
  std::string set_aside;
  if (had_list) {
    auto moved = set_aside_unreplayable(options.dir);
    if (!moved) return std::unexpected(moved.error());
    set_aside = *moved;
  }
  if (auto started = start_new(ListStartOutcome::unreplayable); !started) return std::unexpected(started.error());
  if (!set_aside.empty()) {
    auto entry = break_entry(set_aside, options);
    if (!entry) return std::unexpected(entry.error());
    start.to_record.push_back(std::move(*entry));
    start.report["set_aside"] = set_aside;
  }
  start.report["reason"] = reason;
  start.warning = reason + "; a new list starts" +
                  (set_aside.empty() ? std::string() : " (the old one is kept as " + set_aside + ")") +
                  ", and a verifier cannot trust this host until its TPM is reset (a reboot)";
  return finish();
}

Result<std::optional<std::set<std::uint32_t>>> kernel_ima_pcrs(const std::string& kernel_list) {
  struct stat st {};
  if (::stat(kernel_list.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::set<std::uint32_t>>();
    return fail_errno(kernel_list);
  }
  std::set<std::uint32_t> pcrs{10};  // CONFIG_IMA_MEASURE_PCR_IDX: its boot_aggregate's
  std::ifstream in(kernel_list);
  if (!in) return std::optional<std::set<std::uint32_t>>(pcrs);  // unreadable: at least 10
  for (std::string line; std::getline(in, line);) {
    // "%2d " first: the PCR, perhaps after a space.
    size_t at = line.find_first_not_of(' ');
    std::uint32_t pcr = 0;
    size_t digits = 0;
    while (at != std::string::npos && at < line.size() && digits < 3 && line[at] >= '0' && line[at] <= '9') {
      pcr = pcr * 10 + static_cast<std::uint32_t>(line[at] - '0');
      ++at;
      ++digits;
    }
    if (digits != 0 && pcr <= ima::kMaxMeasurementPcr) pcrs.insert(pcr);
  }
  return std::optional<std::set<std::uint32_t>>(pcrs);
}

Result<void> refuse_pcrs_of_kernel_ima(const std::string& kernel_list, const std::set<std::uint32_t>& pcrs) {
  auto kernel = kernel_ima_pcrs(kernel_list);
  if (!kernel) return std::unexpected(kernel.error());
  if (!*kernel) return {};
  for (const auto pcr : pcrs) {
    if ((*kernel)->contains(pcr)) {
      return fail("the kernel's IMA extends PCR " + std::to_string(pcr) + " (its list is " + kernel_list +
                  "), and two writers on one PCR can never both replay: set measurement.pcr (and any pcr= in the "
                  "policy) to a PCR nothing else extends, or use tpm: none");
    }
  }
  return {};
}

}  // namespace vigil::agent
