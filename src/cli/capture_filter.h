#pragma once
// Which events `vigil capture` keeps: by type (--syscall), process (--pid) and container
// (--container, attributed by src/state's ContainerResolver). Empty criteria match everything;
// criteria of different kinds must all match.
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "events/event.h"
#include "state/container_resolver.h"

namespace vigil::cli {

class CaptureFilter {
 public:
  // Throws UsageError for a name that is not an event type (listing the valid ones).
  void add_type_name(const std::string& name);
  void add_pid(std::uint32_t pid) { pids_.push_back(pid); }
  // A container ID (or a prefix of at least 4 hex digits) or name. Throws UsageError when this
  // host has no cgroup v2 hierarchy to attribute events with.
  void add_container(const std::string& id_or_name);
  // Events of this process never match (live capture leaves out its own syscalls).
  void exclude_pid(std::uint32_t pid) { excluded_pid_ = pid; }

  // The event types asked for (empty: all), for narrowing what the kernel records.
  std::vector<events::EventType> types() const;
  bool filters_anything() const { return types_.any() || !pids_.empty() || !containers_.empty(); }

  // --pid N keeps the events of process N and the fork that created it.
  bool matches(const events::Event& event);

 private:
  bool in_container(const events::TaskContext& task);

  std::bitset<events::kEventTypeCount> types_;
  std::vector<std::uint32_t> pids_;
  std::uint32_t excluded_pid_ = 0;
  std::vector<std::string> containers_;
  std::unique_ptr<state::ContainerResolver> resolver_;
};

}  // namespace vigil::cli
