#pragma once
// Rules over a capture file, offline and without root (`vigil rules replay`, as Falco reads a
// trace file): every event of the capture is evaluated against the rules, then applied to a
// process table built from the capture alone (its fork/exec records; nothing is read from this
// host's /proc, which knows other processes). Containers are attributed by the records' own
// namespaces: a process whose pid and mount namespaces both differ from the host's is in one
// (id pidns-N), as the agent does for runtimes it has no state of; the host's are the initial
// pid namespace and the mount namespace of the first record in it. Runtime names and metadata
// are not in a capture: container.name and the like are missing.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "rules/rules.h"

namespace vigil::rules {

struct ReplayAlert {
  std::string rule;
  Priority priority = Priority::warning;
  std::string output;
  std::vector<std::pair<std::string, std::string>> fields;  // every %field of the output, in order
  std::int64_t time_ns = 0;  // wall time (the capture's anchor), ns since the epoch
  std::uint32_t pid = 0;
};

struct ReplaySummary {
  std::uint64_t events = 0;          // decoded and evaluated
  std::uint64_t decode_errors = 0;   // records that did not decode (skipped)
  std::uint64_t alerts = 0;
};

// Fails only when the capture cannot be opened or its framing breaks before the end.
Result<ReplaySummary> replay_capture(RuleSet& rules, const std::string& capture_path,
                                     const std::function<void(const ReplayAlert&)>& on_alert);

}  // namespace vigil::rules
