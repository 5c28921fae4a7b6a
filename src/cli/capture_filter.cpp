#include "cli/capture_filter.h"

#include <algorithm>
#include <cctype>

#include "cli/commands.h"

namespace vigil::cli {

void CaptureFilter::add_type_name(const std::string& name) {
  const events::EventType type = events::event_type_from_name(name);
  if (type == events::EventType::unknown) {
    std::string valid;
    for (std::size_t i = 1; i < events::kEventTypeCount; ++i) {
      if (!valid.empty()) valid += ' ';
      valid += events::event_type_name(static_cast<events::EventType>(i));
    }
    throw UsageError("--syscall " + name + ": not an event vigil records; one of: " + valid);
  }
  types_.set(static_cast<std::size_t>(type));
}

void CaptureFilter::add_container(const std::string& id_or_name) {
  if (id_or_name.empty()) throw UsageError("--container: empty container ID or name");
  if (!resolver_) {
    auto resolver = state::ContainerResolver::for_host();
    if (!resolver) throw UsageError("--container needs a cgroup v2 hierarchy: " + resolver.error().message);
    resolver_ = std::move(*resolver);
  }
  containers_.push_back(id_or_name);
}

std::vector<events::EventType> CaptureFilter::types() const {
  std::vector<events::EventType> types;
  for (std::size_t i = 0; i < events::kEventTypeCount; ++i) {
    if (types_.test(i)) types.push_back(static_cast<events::EventType>(i));
  }
  return types;
}

bool CaptureFilter::in_container(const events::TaskContext& task) {
  const state::ContainerRef container =
      resolver_->resolve(state::ContainerKey{task.cgroup_id, task.mnt_ns, task.pid_ns}, task.pid);
  if (!container->is_container()) return false;
  return std::any_of(containers_.begin(), containers_.end(), [&](const std::string& wanted) {
    if (container->name == wanted) return true;
    // IDs as `docker ps` prints them: a prefix of the full ID, case-insensitive.
    if (wanted.size() < 4 || wanted.size() > container->full_id.size()) return false;
    return std::equal(wanted.begin(), wanted.end(), container->full_id.begin(),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  });
}

bool CaptureFilter::matches(const events::Event& event) {
  if (excluded_pid_ != 0 && event.task.pid == excluded_pid_) return false;
  if (types_.any() && !types_.test(static_cast<std::size_t>(event.type))) return false;
  if (!pids_.empty()) {
    const auto* fork = event.fork();
    const bool pid_matches = std::any_of(pids_.begin(), pids_.end(), [&](std::uint32_t pid) {
      return event.task.pid == pid || (fork && fork->child_pid == pid);
    });
    if (!pid_matches) return false;
  }
  if (!containers_.empty() && !in_container(event.task)) return false;
  return true;
}

}  // namespace vigil::cli
