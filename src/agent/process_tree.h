#pragma once
// A process and its ancestors as the console shows them (alerts' "process_tree").
#include <cstdint>

#include <nlohmann/json.hpp>

namespace vigil::state {
class ProcessTable;
struct Process;
}  // namespace vigil::state

namespace vigil::agent {

// [{"pid", "ppid", "name", "exe", "cmdline", "uid"}, ...]: `pid` first, then its parents, at
// most `depth` entries; empty when the table does not know `pid`.
nlohmann::json process_tree_json(const state::ProcessTable& table, std::uint32_t pid, std::size_t depth = 8);
// One process as /api/processes lists it; `boot_to_wall_ns` turns its start (boot clock) into
// wall-clock time.
nlohmann::json process_json(const state::Process& process, std::int64_t boot_to_wall_ns);

}  // namespace vigil::agent
