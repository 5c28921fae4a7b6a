#include "state/process_table.h"

#include <sys/stat.h>

#include <algorithm>

namespace vigil::state {

ProcessTable::ProcessTable(ContainerResolver& containers, ProcessTableOptions options)
    : containers_(containers), options_(std::move(options)), reader_(options_.proc_root) {}

std::uint32_t ProcessTable::allocate(std::uint32_t pid) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& entry = slots_[slot];
  entry.used = true;
  entry.process.pid = pid;
  entry.process.exited = false;
  entry.process.exit_time_ns = 0;
  entry.process.exit_status = 0;
  index_.insert(pid, slot);
  return slot;
}

void ProcessTable::release(std::uint32_t slot) {
  Slot& entry = slots_[slot];
  if (!entry.used) return;
  if (entry.process.exited) --exited_count_;
  index_.erase(entry.process.pid);
  entry.used = false;
  ++entry.generation;
  // Strings and the fd vector keep their capacity for the next process in this slot.
  entry.process.fds.clear();
  entry.process.container.reset();
  free_slots_.push_back(slot);
}

const Process* ProcessTable::find(std::uint32_t pid) const {
  const auto slot = index_.find(pid);
  return slot ? &slots_[*slot].process : nullptr;
}

const Process* ProcessTable::find_live(std::uint32_t pid) const {
  const Process* process = find(pid);
  return process != nullptr && !process->exited ? process : nullptr;
}

Process* ProcessTable::live(std::uint32_t pid) { return const_cast<Process*>(find_live(pid)); }

void ProcessTable::set_container(Process& process, const TaskFacts& task) {
  // An exiting task has dropped its namespaces (the header says 0): keep what was known.
  const std::uint64_t cgroup_id = task.cgroup_id != 0 ? task.cgroup_id : process.cgroup_id;
  const std::uint32_t mnt_ns = task.mnt_ns != 0 ? task.mnt_ns : process.mnt_ns;
  const std::uint32_t pid_ns = task.pid_ns != 0 ? task.pid_ns : process.pid_ns;
  if (cgroup_id == 0 && mnt_ns == 0 && pid_ns == 0) return;
  const bool same = process.cgroup_id == cgroup_id && process.mnt_ns == mnt_ns && process.pid_ns == pid_ns;
  if (same && process.container && !process.container->provisional) return;
  process.cgroup_id = cgroup_id;
  process.mnt_ns = mnt_ns;
  process.pid_ns = pid_ns;
  process.container = containers_.resolve(ContainerKey{cgroup_id, mnt_ns, pid_ns}, process.pid);
}

void ProcessTable::attribute_from_proc(Process& process, std::string_view cgroup_path) {
  process.cgroup_id = 0;
  if (!cgroup_path.empty()) {
    if (auto id = containers_.paths().id_of(cgroup_path)) process.cgroup_id = *id;
  }
  process.container =
      containers_.resolve(ContainerKey{process.cgroup_id, process.mnt_ns, process.pid_ns}, process.pid, cgroup_path);
}

void ProcessTable::refresh_header(Process& process, const TaskFacts& task) {
  if (task.ppid != 0) process.ppid = task.ppid;
  process.uid = task.uid;
  process.gid = task.gid;
  if (!task.comm.empty() && process.comm != task.comm) process.comm.assign(task.comm);
  set_container(process, task);
}

Process* ProcessTable::adopt(const TaskFacts& task) {
  ++counters_.misses;
  const std::uint32_t slot = allocate(task.pid);
  Process& process = slots_[slot].process;
  process.origin = ProcessOrigin::event;
  bool filled = false;
  if (options_.fill_misses_from_proc) {
    // /proc may already show a later process with this pid: only trust it if it started
    // before the event.
    if (reader_.read(task.pid, process, scratch_path_) && process.start_time_ns <= task.timestamp_ns) {
      filled = true;
      ++counters_.misses_filled_from_proc;
      attribute_from_proc(process, scratch_path_);
      if (options_.track_fds && options_.seed_fds) {
        if (!reader_.read_fds(task.pid, process.fds)) process.fds.clear();
      }
    }
  }
  if (!filled) {
    process.pid = task.pid;
    process.ppid = 0;
    process.comm.clear();
    process.exec_name.assign(task.comm);
    process.exe.clear();
    process.args.clear();
    process.argc = 0;
    process.args_truncated = false;
    process.cwd.clear();
    process.euid = kUnknownId;
    process.egid = kUnknownId;
    process.tty = 0;
    process.start_time_ns = 0;  // unknown
    process.exe_ino = process.exe_dev = 0;
    process.exe_upper_layer = process.exe_memfd = false;
    process.exe_mtime_ns = process.exe_ctime_ns = 0;
    process.vpid = process.vpgid = process.vsid = 0;
    process.mnt_ns = process.pid_ns = 0;
    process.cgroup_id = 0;
    process.container.reset();
    process.fds.clear();
    process.origin = ProcessOrigin::event;
  }
  refresh_header(process, task);
  if (!process.container) process.container = containers_.resolve(ContainerKey{process.cgroup_id, process.mnt_ns, process.pid_ns}, process.pid);
  return &process;
}

Process* ProcessTable::resolve(const TaskFacts& task) {
  if (task.pid == 0) return nullptr;
  expire(task.timestamp_ns);
  Process* process = live(task.pid);
  if (process == nullptr) {
    if (const auto slot = index_.find(task.pid)) {
      // An exited entry in its grace period. Records written before its exit are late records
      // of that process (it stays exited); a later one belongs to a new process that reused
      // the pid and whose fork was not seen.
      if (task.timestamp_ns <= slots_[*slot].process.exit_time_ns) return nullptr;
      release(*slot);
    }
    return adopt(task);
  }
  if (process->start_time_ns > task.timestamp_ns) {
    ++counters_.stale_events;
    return nullptr;
  }
  refresh_header(*process, task);
  return process;
}

Process* ProcessTable::on_task(const TaskFacts& task) { return resolve(task); }

Result<void> ProcessTable::seed() {
  auto pids = reader_.list_pids();
  if (!pids) return std::unexpected(pids.error());
  for (const std::uint32_t pid : *pids) {
    if (const auto existing = index_.find(pid)) release(*existing);
    const std::uint32_t slot = allocate(pid);
    Process& process = slots_[slot].process;
    if (!reader_.read(pid, process, scratch_path_)) {
      ++counters_.seed_failures;
      release(slot);
      continue;
    }
    // A zombie has exited already (its exit record, if any, came before the probe could see
    // it) and is gone when reaped, which makes no event: it is not a live process.
    if (process.state == 'Z' || process.state == 'X') {
      ++counters_.seed_zombies;
      release(slot);
      continue;
    }
    attribute_from_proc(process, scratch_path_);
    process.fds.clear();
    if (options_.track_fds && options_.seed_fds) {
      if (!reader_.read_fds(pid, process.fds)) process.fds.clear();
    }
    ++counters_.seeded;
  }
  return {};
}

void ProcessTable::on_fork(const TaskFacts& parent_task, std::uint32_t child_pid, std::uint32_t child_vpid,
                           std::uint32_t child_pid_ns) {
  ++counters_.forks;
  if (child_pid == 0) return;
  const bool parent_known = live(parent_task.pid) != nullptr;
  if (!parent_known) ++counters_.parent_misses;
  Process* parent = resolve(parent_task);
  if (parent == nullptr) return;
  const std::uint32_t parent_slot = *index_.find(parent_task.pid);

  if (Process* existing = live(child_pid)) {
    if (existing->start_time_ns > parent_task.timestamp_ns) {
      ++counters_.stale_events;  // the pid already belongs to a younger process
      return;
    }
    if (existing->origin == ProcessOrigin::proc) {
      // Read from /proc after this fork happened: already at least as current as a copy of
      // the parent would be.
      existing->ppid = parent_task.pid;
      return;
    }
  }
  if (const auto old = index_.find(child_pid)) release(*old);  // exited entry: the pid was reused

  const std::uint32_t child_slot = allocate(child_pid);
  // allocate() may have moved the slots: look both up again by index.
  const Process& from = slots_[parent_slot].process;
  Process& child = slots_[child_slot].process;
  child.ppid = parent_task.pid;
  child.comm.assign(from.comm);
  child.exec_name.assign(from.exec_name);
  child.exe.assign(from.exe);
  child.args.assign(from.args);
  child.argc = from.argc;
  child.args_truncated = from.args_truncated;
  child.cwd.assign(from.cwd);
  child.uid = from.uid;
  child.euid = from.euid;
  child.gid = from.gid;
  child.egid = from.egid;
  child.tty = from.tty;
  child.loginuid = from.loginuid;
  child.cap_effective = from.cap_effective;
  child.cap_permitted = from.cap_permitted;
  child.caps_known = from.caps_known;
  child.start_time_ns = parent_task.timestamp_ns;
  child.cgroup_id = from.cgroup_id;
  child.mnt_ns = from.mnt_ns;
  child.pid_ns = from.pid_ns;
  child.vpid = child_vpid != 0 ? child_vpid : (from.pid_ns == 0 ? 0 : child_pid);
  // Until it calls setpgid/setsid (not seen), a child is in its parent's group and session.
  child.vpgid = from.vpgid;
  child.vsid = from.vsid;
  child.exe_ino = from.exe_ino;
  child.exe_dev = from.exe_dev;
  child.exe_upper_layer = from.exe_upper_layer;
  child.exe_memfd = from.exe_memfd;
  child.exe_mtime_ns = from.exe_mtime_ns;
  child.exe_ctime_ns = from.exe_ctime_ns;
  child.container = from.container;
  child.origin = ProcessOrigin::fork;
  // A child in another pid namespace than its parent's (clone(CLONE_NEWPID), or a parent that
  // joined a container's with setns, as `runc exec` and nsenter do) is attributed by its own
  // namespaces from the start: rules judge its first record by what the table holds before
  // that record refreshes it, and the parent's container may not be the child's.
  if (child_pid_ns != 0 && child_pid_ns != from.pid_ns) {
    child.pid_ns = child_pid_ns;
    if (from.pid_ns != 0) {
      child.container = containers_.resolve(ContainerKey{child.cgroup_id, child.mnt_ns, child_pid_ns}, child_pid);
    }
  }
  if (options_.track_fds) {
    child.fds = from.fds;
  } else {
    child.fds.clear();
  }
}

// The probe read the new program's facts in the kernel: nothing here depends on the process
// still being there (a short program exits before its record is read).
void ProcessTable::apply_kernel_exec_facts(Process& process, const events::ExecKernelFacts& kernel,
                                           std::string_view filename) {
  // A deleted file keeps the path it had (no " (deleted)" as /proc writes it): it was there,
  // and allowlists by path must not break when a package upgrade replaces a running program.
  if (!kernel.exe_path_truncated && !kernel.exe_path.empty()) {
    process.exe.clear();
    events::append_kernel_path(kernel.exe_path, false, process.exe);
  } else {
    ++counters_.exec_without_kernel_path;
    assign_exe_from_filename(process, filename);
  }
  process.cwd.clear();
  if (!kernel.cwd_truncated) events::append_kernel_path(kernel.cwd, false, process.cwd);
  process.uid = kernel.creds.uid;
  process.euid = kernel.creds.euid;
  process.gid = kernel.creds.gid;
  process.egid = kernel.creds.egid;
  process.cap_effective = kernel.creds.cap_effective;
  process.cap_permitted = kernel.creds.cap_permitted;
  process.caps_known = true;
  process.loginuid = kernel.loginuid;
  process.vpid = kernel.vpid;
  process.vpgid = kernel.vpgid;
  process.vsid = kernel.vsid;
  process.exe_memfd = kernel.exe_memfd;
  process.exe_mtime_ns = kernel.exe_mtime_ns;
  process.exe_ctime_ns = kernel.exe_ctime_ns;
  // What stdio really is: the table may have missed how it got there (a socket made, or a
  // descriptor closed, by a call that is not captured). A descriptor whose kind disagrees
  // with the table's entry becomes what the kernel says; one the kernel has closed goes.
  if (options_.track_fds) {
    for (int fd = 0; fd < 3; ++fd) {
      const std::uint32_t kind = kernel.stdio_kind[fd];
      FdEntry* entry = process.fds.find(fd);
      if (kind == 0) {
        if (entry != nullptr) process.fds.close(fd);
        continue;
      }
      const bool socket = (kind & S_IFMT) == S_IFSOCK;
      const auto family = static_cast<std::uint16_t>(kind >> 16);
      const bool agrees = entry != nullptr && (socket ? entry->type == FdType::socket && entry->family == family
                                                      : entry->type != FdType::socket);
      if (agrees) continue;
      FdEntry& fresh = process.fds.put(fd);
      fresh = FdEntry{};
      fresh.fd = fd;
      fresh.type = socket ? FdType::socket : FdType::unknown;
      fresh.family = socket ? family : 0;
    }
  }
}

// No path from the kernel: the filename as passed to exec. fexecve(3) and execveat(fd, "",
// AT_EMPTY_PATH) name the file "/dev/fd/N": the fd table may know what N was (memfd_create,
// open), and the kernel names the task after the file's dentry ("memfd:NAME" for a memfd).
void ProcessTable::assign_exe_from_filename(Process& process, std::string_view filename) {
  std::string_view number;
  for (std::string_view prefix : {std::string_view("/dev/fd/"), std::string_view("/proc/self/fd/")}) {
    if (filename.starts_with(prefix)) number = filename.substr(prefix.size());
  }
  int fd = -1;
  if (!number.empty() && number.size() <= 9 && number.find_first_not_of("0123456789") == std::string_view::npos) {
    fd = 0;
    for (const char digit : number) fd = fd * 10 + (digit - '0');
  }
  if (fd >= 0) {
    if (const FdEntry* entry = process.fds.find(fd); entry != nullptr && !entry->path.empty()) {
      process.exe.assign(entry->path);
      return;
    }
    if (process.comm.starts_with("memfd:")) {
      process.exe.assign(process.comm);
      return;
    }
  }
  process.exe.assign(filename);
}

void ProcessTable::on_exec(const TaskFacts& task, const ExecFacts& exec) {
  ++counters_.execs;
  Process* process = resolve(task);
  if (process == nullptr) return;
  process->exec_name.assign(task.comm);
  process->args.assign(exec.args);
  process->argc = exec.argc;
  process->args_truncated = exec.args_truncated;
  process->exe_ino = exec.exe_ino;
  process->exe_dev = exec.exe_dev;
  process->exe_upper_layer = exec.exe_upper_layer;
  if (exec.kernel != nullptr) {
    apply_kernel_exec_facts(*process, *exec.kernel, exec.filename);
  } else {
    assign_exe_from_filename(*process, exec.filename);
    process->exe_memfd = process->exe.starts_with("memfd:") || process->exe.starts_with("/memfd:");
  }
  process->fds.close_on_exec();
}

void ProcessTable::on_exit(const TaskFacts& task, std::uint32_t wait_status) {
  ++counters_.exits;
  expire(task.timestamp_ns);
  Process* process = live(task.pid);
  if (process == nullptr) {
    ++counters_.exit_misses;
    return;
  }
  if (process->start_time_ns > task.timestamp_ns) {
    ++counters_.stale_events;
    return;
  }
  refresh_header(*process, task);
  process->exited = true;
  process->exit_time_ns = task.timestamp_ns;
  process->exit_status = wait_status;
  process->fds.clear();
  ++exited_count_;
  const std::uint32_t slot = *index_.find(task.pid);
  exited_.push_back(ExitedRef{task.pid, slot, slots_[slot].generation, task.timestamp_ns});
  while (exited_count_ > options_.max_exited && !exited_.empty()) {
    const ExitedRef oldest = exited_.front();
    exited_.pop_front();
    if (slots_[oldest.slot].used && slots_[oldest.slot].generation == oldest.generation &&
        slots_[oldest.slot].process.exited) {
      release(oldest.slot);
      ++counters_.exited_evicted;
    }
  }
}

void ProcessTable::on_credentials(const TaskFacts& task, const CredFacts& creds) {
  ++counters_.cred_events;
  Process* process = resolve(task);
  if (process == nullptr) return;
  if (creds.uid != kUnknownId) process->uid = creds.uid;
  if (creds.euid != kUnknownId) process->euid = creds.euid;
  if (creds.gid != kUnknownId) process->gid = creds.gid;
  if (creds.egid != kUnknownId) process->egid = creds.egid;
  if (creds.caps_known) {
    process->cap_effective = creds.cap_effective;
    process->cap_permitted = creds.cap_permitted;
    process->caps_known = true;
  }
}

void ProcessTable::expire(std::uint64_t now_ns) {
  // Containers nobody refers to any more are forgotten after their own grace (checked once a
  // second of event time: a pass looks at every cached container).
  if (now_ns >= last_container_expire_ns_ + 1'000'000'000ull) {
    last_container_expire_ns_ = now_ns;
    containers_.expire(now_ns);
  }
  while (!exited_.empty()) {
    const ExitedRef& oldest = exited_.front();
    if (oldest.exit_time_ns + options_.exit_grace_ns > now_ns) break;
    Slot& slot = slots_[oldest.slot];
    if (slot.used && slot.generation == oldest.generation && slot.process.exited) release(oldest.slot);
    exited_.pop_front();
  }
}

std::size_t ProcessTable::ancestors(std::uint32_t pid, std::span<const Process*> out) const {
  std::size_t count = 0;
  const Process* current = find(pid);
  while (current != nullptr && count < out.size()) {
    const std::uint32_t parent_pid = current->ppid;
    if (parent_pid == 0 || parent_pid == current->pid) break;
    const Process* parent = find(parent_pid);
    if (parent == nullptr) break;
    // A loop (stale ppids after pid reuse) must not repeat entries.
    if (parent->pid == pid || std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(count), parent) !=
                                  out.begin() + static_cast<std::ptrdiff_t>(count)) {
      break;
    }
    out[count++] = parent;
    current = parent;
  }
  return count;
}

std::vector<const Process*> ProcessTable::ancestors(std::uint32_t pid, std::size_t depth) const {
  std::vector<const Process*> out(depth);
  out.resize(ancestors(pid, std::span<const Process*>(out)));
  return out;
}

}  // namespace vigil::state
