#pragma once
// How the agent's measurement list starts. A TPM keeps its PCRs across agent restarts (a crash,
// an OOM kill, an upgrade), so a list started afresh at every start would never again replay to
// them and a verifier would call the host untrusted until the next reboot. So the list an
// earlier run left is read back and replayed against the PCRs, in every bank:
//
// - it replays: appending goes on after it (no second boot_aggregate). Bytes after its last
//   whole record (a record torn by a crash) are cut off and reported; so is the ascii list
//   written again when it is not exactly the binary list's entries;
// - it replays without its last entry, and nothing follows that entry: the crash came between
//   the append and the extend (the sink does both under one lock, so only the last entry can be
//   in that state); the extend is done now and appending goes on;
// - every PCR it uses is at its reset value: a reboot since; a new list starts, as the kernel's;
// - otherwise it does not replay: that is reported (audit record, status, stderr), the old list
//   is kept beside the new one as NAME.unreplayable-<UTC time>, and the new list records the
//   break in its second entry (named by the set-aside file, its digest the file's). A verifier
//   cannot trust the host again until the PCRs are reset (a reboot): nothing in the list can
//   explain what the PCRs hold.
//
// With software PCRs (`tpm: none`) the PCRs start at zero in every run (persisting them would
// let anyone who can write the state directory forge them, and nothing can quote them), so a
// new list, matching them, is the only one that replays.
//
// A kernel with IMA extends PCR 10 itself (its list is in securityfs); two writers on one PCR
// can never both replay, so with a TPM the agent refuses to start when its PCRs (measurement.pcr
// and every pcr= of the policy) include one the kernel's list uses. docs/agent.md, "Restarts".
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "crypto/crypto.h"
#include "ima/measurement_list.h"
#include "tpm/tpm.h"

namespace vigil::agent {

struct MeasurementStartOptions {
  std::string dir;                                   // where the list files are (state_dir)
  bool software_pcrs = true;                         // tpm: none
  std::uint32_t pcr = 10;                            // measurement.pcr: where boot_aggregate goes
  crypto::HashAlgo hash = crypto::HashAlgo::sha256;  // file digests (boot_aggregate, the break entry)
};

enum class ListStartOutcome { new_list, continued, new_boot, software_restart, unreplayable };
std::string_view outcome_name(ListStartOutcome outcome);  // "new", "continued", "new-boot", ...

struct MeasurementStart {
  std::unique_ptr<ima::MeasurementLog> log;
  ListStartOutcome outcome = ListStartOutcome::new_list;
  // To record (append and extend) first, in order: boot_aggregate for a new list, then the
  // break entry after an unreplayable one; empty when the list goes on.
  std::vector<ima::MeasurementEntry> to_record;
  nlohmann::json report;  // {"outcome", "entries", ...}: the `measurement-list` audit record and status
  std::string warning;    // set when the list did not replay: for stderr
};

Result<MeasurementStart> start_measurement_list(const MeasurementStartOptions& options, tpm::PcrBackend& pcrs);

// The PCRs the kernel's IMA extends, from its ascii list at `kernel_list` (PCR 10, where its
// boot_aggregate always is, plus every PCR its lines name); nullopt when the file does not exist
// (no IMA in the kernel).
Result<std::optional<std::set<std::uint32_t>>> kernel_ima_pcrs(const std::string& kernel_list);

// An error naming the PCR when `pcrs` (what the agent would extend) shares one with the kernel's
// IMA; fine when the kernel has no IMA.
Result<void> refuse_pcrs_of_kernel_ima(const std::string& kernel_list, const std::set<std::uint32_t>& pcrs);

}  // namespace vigil::agent
