#include "rules/replay.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "events/replay_source.h"
#include "state/cgroup_paths.h"
#include "state/container_resolver.h"
#include "state/process_table.h"

namespace vigil::rules {
namespace {

// The initial pid namespace's inode is fixed by the kernel (PROC_PID_INIT_INO).
constexpr std::uint32_t kInitialPidNamespace = 0xEFFFFFFCu;

// The mount namespace of the first record of the initial pid namespace: the host's, as far as
// the capture tells.
Result<std::uint32_t> host_mount_namespace(const std::string& path) {
  auto source = events::ReplaySource::open(path);
  if (!source) return std::unexpected(source.error());
  std::uint32_t found = 0;
  for (;;) {
    auto batch = events::next_batch(*source, std::chrono::milliseconds(0),
                                    [&](const events::Event& event, std::span<const std::uint8_t>) {
                                      if (found == 0 && event.task.pid_ns == kInitialPidNamespace)
                                        found = event.task.mnt_ns;
                                    });
    if (!batch || batch->end || found != 0) break;
  }
  return found;
}

}  // namespace

Result<ReplaySummary> replay_capture(RuleSet& rules, const std::string& capture_path,
                                     const std::function<void(const ReplayAlert&)>& on_alert) {
  auto host_mnt = host_mount_namespace(capture_path);
  if (!host_mnt) return std::unexpected(host_mnt.error());

  // Nothing of this host may leak into the capture's world: an empty directory stands for
  // /proc, the cgroup tree and the runtimes' state.
  std::error_code error;
  std::string pattern = (std::filesystem::temp_directory_path(error) / "vigil-replay.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return std::unexpected(Error{"cannot make an empty directory: " + pattern});
  const std::filesystem::path empty = pattern;
  struct RemoveAtExit {
    std::filesystem::path path;
    ~RemoveAtExit() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove_at_exit{empty};
  state::ContainerResolverOptions resolver_options;
  resolver_options.state_roots.clear();
  resolver_options.docker_containers_dir = (empty / "docker").string();
  resolver_options.proc_root = empty.string();
  resolver_options.host_namespaces =
      state::HostNamespaces{kInitialPidNamespace, *host_mnt, "replay: the initial pid namespace",
                            "replay: the first record in the initial pid namespace"};
  auto paths = std::make_unique<state::CgroupPaths>(
      empty.string(), state::CgroupPathsOptions{.use_file_handles = false, .min_walk_interval = std::chrono::seconds(0)});
  state::ContainerResolver resolver(std::move(paths), resolver_options);
  state::ProcessTableOptions table_options;
  table_options.proc_root = empty.string();
  table_options.fill_misses_from_proc = false;
  state::ProcessTable table(resolver, table_options);

  auto source = events::ReplaySource::open(capture_path);
  if (!source) return std::unexpected(source.error());
  const events::TimeAnchor anchor = source->time_anchor();
  const std::int64_t boot_to_wall = anchor.wall_ns - static_cast<std::int64_t>(anchor.boot_ns);
  ReplaySummary summary;
  ReplayAlert alert;
  for (;;) {
    auto batch = events::next_batch(
        *source, std::chrono::milliseconds(0), [&](const events::Event& event, std::span<const std::uint8_t>) {
          ++summary.events;
          rules.evaluate(EvalContext{event, &table, boot_to_wall}, [&](const Match& match) {
            ++summary.alerts;
            alert.rule.assign(match.rule);
            alert.priority = match.priority;
            alert.output.assign(match.output);
            alert.fields.clear();
            for (const OutputField& field : match.fields) alert.fields.emplace_back(field.name, field.value);
            alert.time_ns = anchor.wall_ns_at(event.task.timestamp_ns);
            alert.pid = event.task.pid;
            on_alert(alert);
          });
          table.apply(event);
        });
    if (!batch) return std::unexpected(batch.error());
    if (batch->end) break;
  }
  summary.decode_errors = source->counters().decode_errors;
  return summary;
}

}  // namespace vigil::rules
