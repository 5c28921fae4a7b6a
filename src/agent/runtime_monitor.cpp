#include "agent/runtime_monitor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "agent/activity_recorder.h"
#include "agent/console_feed.h"
#include "agent/detection.h"
#include "agent/process_tree.h"
#include "common/time_text.h"
#include "events/counters.h"
#include "events/live/live_source.h"
#include "state/container_resolver.h"
#include "state/process_table.h"

namespace vigil::agent {

struct RuntimeMonitor::Pipeline {
  std::unique_ptr<events::LiveSource> source;
  std::unique_ptr<state::ContainerResolver> containers;
  std::unique_ptr<state::ProcessTable> table;
  std::unique_ptr<Detection> detection;  // null when rules are off
  ConsoleFeed* console = nullptr;
  std::unique_ptr<ActivityRecorder> activity;  // with a console
  nlohmann::json interest;               // what the rules asked of the kernel
  std::int64_t boot_to_wall_ns = 0;
  std::string source_error;  // a failure that stopped the thread
  // Guards the table's counters and size for status(); held per batch, not per event.
  mutable std::mutex table_mutex;
};

Result<std::unique_ptr<RuntimeMonitor>> RuntimeMonitor::start(const RuntimeConfig& config, ConsoleFeed* console,
                                                             unsigned events_sampled_per_bucket) {
  auto pipeline = std::make_unique<Pipeline>();
  pipeline->console = console;
  events::LiveSourceOptions options;
  options.ring_buffer_bytes = config.ring_buffer_bytes;
  options.types = config.syscalls;
  if (config.rules.enabled) {
    auto detection = Detection::start(config, console ? console->alert_sink() : nullptr);
    if (!detection) return std::unexpected(detection.error());
    pipeline->detection = std::move(*detection);
    // Only what the rules need, plus whatever the config asks for on top.
    auto wanted = pipeline->detection->wanted_types();
    if (!wanted || config.all_syscalls) {
      options.types.reset();
    } else if (config.syscalls) {
      for (events::EventType type : *config.syscalls)
        if (std::ranges::find(*wanted, type) == wanted->end()) wanted->push_back(type);
      options.types = std::move(wanted);
    } else {
      options.types = std::move(wanted);
    }
  }
  auto source = events::LiveSource::open(options);
  if (!source) return fail("runtime: cannot open the eBPF probes: " + source.error().message);
  pipeline->source = std::make_unique<events::LiveSource>(std::move(*source));
  if (pipeline->detection) {
    const auto filters = pipeline->detection->path_filters();
    if (auto filtered = pipeline->source->set_path_filters(filters); !filtered)
      return fail("runtime: cannot set the in-kernel path filters: " + filtered.error().message);
    const auto kill_types = pipeline->detection->kernel_kill_types();
    if (auto killing = pipeline->source->set_kill_on_exit(kill_types); !killing)
      return fail("runtime: cannot set the in-kernel kill: " + killing.error().message);
    nlohmann::json interest;
    interest["syscalls"] = nlohmann::json::array();
    if (options.types) {
      for (events::EventType type : *options.types) interest["syscalls"].push_back(events::event_type_name(type));
    } else {
      interest["syscalls"].push_back("all");
    }
    interest["kill_on_exit"] = nlohmann::json::array();
    for (events::EventType type : kill_types) interest["kill_on_exit"].push_back(events::event_type_name(type));
    interest["path_filters"] = nlohmann::json::object();
    for (const auto& [type, filter] : filters) {
      interest["path_filters"][std::string(events::event_type_name(type))] = {{"prefixes", filter.prefixes},
                                                                              {"write_prefixes", filter.write_prefixes}};
    }
    std::fprintf(stderr, "vigil agent: runtime: %zu syscalls leave the kernel, %zu with a path filter\n",
                 options.types ? options.types->size() : probe::EventProbe::supported_syscalls().size(), filters.size());
    pipeline->interest = std::move(interest);
  }
  const events::TimeAnchor anchor = pipeline->source->time_anchor();
  pipeline->boot_to_wall_ns = anchor.wall_ns - static_cast<std::int64_t>(anchor.boot_ns);
  if (console) pipeline->activity = std::make_unique<ActivityRecorder>(console->store(), events_sampled_per_bucket, anchor);

  auto containers = state::ContainerResolver::for_host();
  if (!containers) {
    return fail("runtime: no cgroup v2 hierarchy (container attribution needs one): " + containers.error().message);
  }
  pipeline->containers = std::move(*containers);
  pipeline->table = std::make_unique<state::ProcessTable>(*pipeline->containers);
  // Seeded after the probes are attached, so no process falls between the two.
  if (auto seeded = pipeline->table->seed(); !seeded) return fail("runtime: " + seeded.error().message);

  auto monitor = std::unique_ptr<RuntimeMonitor>(new RuntimeMonitor(std::move(pipeline)));
  monitor->thread_ = std::thread([raw = monitor.get()] { raw->run(); });
  return monitor;
}

RuntimeMonitor::RuntimeMonitor(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}

RuntimeMonitor::~RuntimeMonitor() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (pipeline_->activity) pipeline_->activity->flush();
  record_rule_hits();
}

void RuntimeMonitor::run() {
  Pipeline& p = *pipeline_;
  while (!stopping_.load(std::memory_order_relaxed)) {
    std::unique_lock lock(p.table_mutex, std::defer_lock);
    auto batch = events::next_batch(*p.source, std::chrono::milliseconds(100),
                                    [&](const events::Event& event, std::span<const std::uint8_t>) {
                                      if (!lock.owns_lock()) lock.lock();
                                      if (p.detection) p.detection->on_event(event, *p.table, p.boot_to_wall_ns);
                                      if (p.activity) p.activity->on_event(event, *p.table);
                                      p.table->apply(event);
                                    });
    if (p.activity && p.activity->tick(wall_clock_ns())) record_rule_hits();
    if (!batch) {
      std::lock_guard guard(p.table_mutex);
      p.source_error = batch.error().message;
      std::fprintf(stderr, "vigil agent: runtime events stopped: %s\n", batch.error().message.c_str());
      return;
    }
  }
}

void RuntimeMonitor::record_rule_hits() {
  Pipeline& p = *pipeline_;
  if (!p.detection || !p.console) return;
  for (const Detection::RuleHit& hit : p.detection->rule_hits()) {
    if (hit.hits == 0) continue;
    p.console->store().set_rule_hits(
        store::RuleHits{.rule = hit.rule, .hits = static_cast<std::int64_t>(hit.hits), .last_hit_ns = hit.last_hit_ns});
  }
}

nlohmann::json RuntimeMonitor::processes_json(const std::optional<std::string>& container_id) const {
  nlohmann::json items = nlohmann::json::array();
  std::lock_guard lock(pipeline_->table_mutex);
  std::vector<const state::Process*> live;
  pipeline_->table->for_each_live([&](const state::Process& process) {
    if (container_id) {
      const bool on_host = !process.container || process.container->id == "host" || process.container->id.empty();
      if (container_id->empty() ? !on_host : (on_host || process.container->id != *container_id)) return;
    }
    live.push_back(&process);
  });
  std::ranges::sort(live, {}, &state::Process::pid);
  for (const state::Process* process : live) items.push_back(process_json(*process, pipeline_->boot_to_wall_ns));
  return items;
}

nlohmann::json RuntimeMonitor::running_containers_json() const {
  nlohmann::json containers = nlohmann::json::object();
  std::lock_guard lock(pipeline_->table_mutex);
  pipeline_->table->for_each_live([&](const state::Process& process) {
    const bool on_host = !process.container || process.container->id == "host" || process.container->id.empty();
    const std::string id = on_host ? "" : process.container->id;
    nlohmann::json& entry = containers[id];
    if (entry.is_null()) entry = {{"name", on_host ? "host" : process.container->name}, {"processes", 0}};
    entry["processes"] = entry["processes"].get<std::int64_t>() + 1;
  });
  return containers;
}

nlohmann::json RuntimeMonitor::process_tree_json(std::uint32_t pid) const {
  std::lock_guard lock(pipeline_->table_mutex);
  return agent::process_tree_json(*pipeline_->table, pid);
}

std::optional<nlohmann::json> RuntimeMonitor::rules_json() const {
  if (!pipeline_->detection) return std::nullopt;
  // The rule counters are plain integers the pipeline thread raises while it holds this lock
  // (per batch); status() reads them under it too.
  std::lock_guard lock(pipeline_->table_mutex);
  return pipeline_->detection->rules_json();
}

nlohmann::json RuntimeMonitor::status() const {
  const events::CounterSnapshot counters = pipeline_->source->counters();
  nlohmann::json by_type = nlohmann::json::object();
  for (std::size_t i = 0; i < counters.events_by_type.size(); ++i) {
    if (counters.events_by_type[i] != 0) {
      by_type[std::string(events::event_type_name(static_cast<events::EventType>(i)))] = counters.events_by_type[i];
    }
  }
  nlohmann::json status = {{"records", counters.records},
                           {"events", counters.events},
                           {"events_by_type", by_type},
                           {"decode_errors", counters.decode_errors},
                           {"drops", counters.drops},
                           {"drops_per_cpu", counters.drops_per_cpu}};
  if (counters.ring_buffer_fill) {
    status["ring_buffer"] = {{"pending_bytes", counters.ring_buffer_fill->pending_bytes},
                             {"capacity_bytes", counters.ring_buffer_fill->capacity_bytes}};
  }
  std::lock_guard lock(pipeline_->table_mutex);
  const state::ProcessTableCounters& table = pipeline_->table->counters();
  status["processes"] = {{"live", pipeline_->table->live_count()},
                         {"exited_in_grace", pipeline_->table->exited_count()},
                         {"seeded", table.seeded},
                         {"forks", table.forks},
                         {"execs", table.execs},
                         {"exits", table.exits},
                         {"misses", table.misses},
                         {"stale_events", table.stale_events}};
  if (pipeline_->detection) {
    status["rules"] = pipeline_->detection->status();
    status["interest"] = pipeline_->interest;
  }
  if (auto filtered = pipeline_->source->filtered_by_path()) status["filtered_by_path"] = *filtered;
  if (!pipeline_->source_error.empty()) status["error"] = pipeline_->source_error;
  return status;
}

}  // namespace vigil::agent
