#include "agent/process_tree.h"

#include "common/time_text.h"
#include "state/process_table.h"

namespace vigil::agent {

namespace {

nlohmann::json id_or_null(std::uint32_t id) {
  return id == state::kUnknownId ? nlohmann::json(nullptr) : nlohmann::json(id);
}

nlohmann::json tree_entry(const state::Process& process) {
  return {{"pid", process.pid},        {"ppid", process.ppid},         {"name", process.comm},
          {"exe", process.exe},        {"cmdline", process.cmdline()}, {"uid", id_or_null(process.uid)}};
}

}  // namespace

nlohmann::json process_tree_json(const state::ProcessTable& table, std::uint32_t pid, std::size_t depth) {
  nlohmann::json tree = nlohmann::json::array();
  const state::Process* process = table.find(pid);
  if (process == nullptr || depth == 0) return tree;
  tree.push_back(tree_entry(*process));
  for (const state::Process* parent : table.ancestors(pid, depth - 1)) tree.push_back(tree_entry(*parent));
  return tree;
}

nlohmann::json process_json(const state::Process& process, std::int64_t boot_to_wall_ns) {
  nlohmann::json item = tree_entry(process);
  item["gid"] = id_or_null(process.gid);
  item["tty"] = process.tty;
  const std::int64_t started_ns = static_cast<std::int64_t>(process.start_time_ns) + boot_to_wall_ns;
  item["start_time_ns"] = started_ns;
  item["start_time"] = rfc3339_ns(started_ns);
  const bool in_container = process.container && process.container->id != "host";
  item["container"] = {{"id", in_container ? process.container->id : "host"},
                       {"name", in_container ? process.container->name : "host"}};
  return item;
}

}  // namespace vigil::agent
