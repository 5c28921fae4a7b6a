// ProcessTable::apply: events::Event -> the table's facts. Kept apart from the table so the
// table itself depends on nothing but its own facts structs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "events/event.h"
#include "state/process_table.h"

#include "state/path_resolution.h"

namespace vigil::state {

namespace {

TaskFacts facts_of(const events::TaskContext& task) {
  return TaskFacts{.timestamp_ns = task.timestamp_ns,
                   .pid = task.pid,
                   .tid = task.tid,
                   .ppid = task.ppid,
                   .uid = task.uid,
                   .gid = task.gid,
                   .cgroup_id = task.cgroup_id,
                   .mnt_ns = task.mnt_ns,
                   .pid_ns = task.pid_ns,
                   .comm = task.comm};
}

SocketAddress address_of(const events::SocketAddress& from) {
  SocketAddress address;
  address.family = from.family;
  address.port = from.port;
  std::copy_n(from.addr.begin(), std::min(from.addr.size(), address.addr.size()), address.addr.begin());
  if (from.family == AF_UNIX) address.unix_path.assign(from.unix_path);
  return address;
}

// close(fd), dup(oldfd), dup2/dup3(oldfd, newfd, flags): the registers of a proc record.
int fd_argument(const events::Event& event, std::size_t index) {
  const auto* proc = event.proc();
  if (proc == nullptr) return -1;
  return static_cast<int>(static_cast<std::int32_t>(proc->args[index]));
}

bool is_fd(std::int64_t value) { return value >= 0 && value <= 0x7fffffff; }

}  // namespace

void ProcessTable::apply(const events::Event& event) {
  const TaskFacts task = facts_of(event.task);
  using events::EventType;
  switch (event.type) {
    case EventType::fork:
      if (const auto* fork = event.fork()) on_fork(task, fork->child_pid, fork->child_vpid, fork->child_pid_ns);
      return;
    case EventType::procexec:
      // Only the lifecycle record (a successful exec, after the new program loaded) changes
      // the process; execve/execveat syscall records include failed attempts and only
      // refresh the header fields below.
      if (const auto* exec = event.exec()) {
        on_exec(task, ExecFacts{.filename = exec->filename,
                                .args = exec->args.raw(),
                                .argc = exec->argc,
                                .exe_ino = exec->exe_ino,
                                .exe_dev = exec->exe_dev,
                                .args_truncated = exec->args_truncated || exec->args_unreadable,
                                .exe_upper_layer = exec->exe_upper_layer,
                                .kernel = exec->has_kernel_facts ? &exec->kernel : nullptr});
      } else {
        on_task(task);
      }
      return;
    case EventType::procexit:
      if (const auto* exit = event.exit()) on_exit(task, exit->status);
      return;
    case EventType::setuid: case EventType::setgid: case EventType::setreuid: case EventType::setregid:
    case EventType::setresuid: case EventType::setresgid: case EventType::capset: {
      // new_creds are read at return: the task's credentials whether the call worked or not.
      const auto* cred = event.cred();
      if (cred == nullptr) {
        on_task(task);
        return;
      }
      on_credentials(task, CredFacts{.uid = cred->new_creds.uid,
                                     .euid = cred->new_creds.euid,
                                     .gid = cred->new_creds.gid,
                                     .egid = cred->new_creds.egid,
                                     .caps_known = true,
                                     .cap_effective = cred->new_creds.cap_effective,
                                     .cap_permitted = cred->new_creds.cap_permitted});
      return;
    }
    case EventType::chdir: case EventType::fchdir: {
      Process* process = on_task(task);
      if (process != nullptr && event.syscall.ret == 0) change_directory(*process, event);
      return;
    }
    default: break;
  }
  Process* process = on_task(task);
  if (process != nullptr && options_.track_fds) apply_fd_event(*process, event);
}

void ProcessTable::change_directory(Process& process, const events::Event& event) {
  const auto* file = event.file();
  if (file == nullptr) return;
  bool known = false;
  if (event.type == events::EventType::chdir) {
    known = !file->path_unreadable && !file->path_truncated &&
            resolve_path_of(&process, file->path, AT_FDCWD, resolved_path_, resolve_scratch_);
  } else if (const FdEntry* entry = process.fds.find(file->fd)) {
    known = entry->type == FdType::file && entry->path.starts_with('/');
    if (known) resolved_path_.assign(entry->path);
  }
  if (known) {
    process.cwd.assign(resolved_path_);
    return;
  }
  // Not derivable from what the table knows: the kernel's answer on a live host, else unknown
  // (a stale cwd would anchor later relative paths in the wrong place).
  if (!options_.fill_misses_from_proc || !reader_.read_cwd(process.pid, process.cwd)) process.cwd.clear();
}

void ProcessTable::apply_fd_event(Process& process, const events::Event& event) {
  using events::EventType;
  const std::int64_t ret = event.syscall.ret;
  FdTable& fds = process.fds;
  switch (event.type) {
    case EventType::open: case EventType::openat: case EventType::openat2: case EventType::creat: {
      const auto* file = event.file();
      if (file == nullptr || !is_fd(ret)) return;
      ++counters_.fd_events;
      resolve_path_of(&process, file->path, file->dirfd, resolved_path_, resolve_scratch_);
      FdEntry& entry = fds.put(static_cast<int>(ret));
      entry.type = FdType::file;
      entry.path.assign(resolved_path_);
      entry.cloexec = (file->open_flags & O_CLOEXEC) != 0;
      return;
    }
    case EventType::memfd_create: {
      const auto* proc = event.proc();
      if (proc == nullptr || !is_fd(ret)) return;
      ++counters_.fd_events;
      FdEntry& entry = fds.put(static_cast<int>(ret));
      entry.type = FdType::file;
      entry.path.assign("memfd:");
      entry.path.append(proc->str);
      entry.cloexec = (proc->args[1] & MFD_CLOEXEC) != 0;
      return;
    }
    case EventType::close: {
      // Linux releases the descriptor even when close reports an error, except EBADF.
      if (ret == -EBADF) return;
      ++counters_.fd_events;
      if (!fds.close(fd_argument(event, 0))) ++counters_.fd_misses;
      return;
    }
    case EventType::dup: case EventType::dup2: case EventType::dup3: {
      if (!is_fd(ret)) return;
      ++counters_.fd_events;
      const int oldfd = fd_argument(event, 0);
      if (fds.find(oldfd) == nullptr) ++counters_.fd_misses;
      const auto* proc = event.proc();
      const bool cloexec = event.type == EventType::dup3 && proc != nullptr && (proc->args[2] & O_CLOEXEC) != 0;
      fds.duplicate(oldfd, static_cast<int>(ret), cloexec);
      // The record says what oldfd really was; a table that missed a close (or the open) must
      // not pass a reused number off as the old descriptor.
      if (proc != nullptr && proc->fd_kind != 0) {
        FdEntry* copy = fds.find(static_cast<int>(ret));
        const bool socket = (proc->fd_mode() & S_IFMT) == S_IFSOCK;
        if (copy != nullptr && (socket != (copy->type == FdType::socket) ||
                                (socket && copy->family != proc->fd_family()))) {
          *copy = FdEntry{};
          copy->fd = static_cast<int>(ret);
          copy->cloexec = cloexec;
          copy->type = socket ? FdType::socket : FdType::unknown;
          copy->family = socket ? proc->fd_family() : 0;
        }
      }
      return;
    }
    case EventType::socket: {
      const auto* net = event.net();
      if (net == nullptr || !is_fd(ret)) return;
      ++counters_.fd_events;
      FdEntry& entry = fds.put(static_cast<int>(ret));
      entry.type = FdType::socket;
      const auto type = static_cast<std::uint32_t>(net->type);
      entry.family = static_cast<std::uint16_t>(net->domain);
      entry.socket_type = type & ~static_cast<std::uint32_t>(SOCK_CLOEXEC | SOCK_NONBLOCK);
      entry.protocol = static_cast<std::uint32_t>(net->protocol);
      entry.cloexec = (type & SOCK_CLOEXEC) != 0;
      return;
    }
    case EventType::bind: case EventType::connect: {
      const auto* net = event.net();
      const bool succeeded = ret == 0 || (event.type == EventType::connect && ret == -EINPROGRESS);
      if (net == nullptr || !succeeded || net->fd < 0) return;
      ++counters_.fd_events;
      FdEntry* entry = fds.find(net->fd);
      if (entry == nullptr) {
        ++counters_.fd_misses;
        entry = &fds.put(net->fd);
        entry->type = FdType::socket;
        entry->family = net->local.family != 0 ? net->local.family : net->remote.family;
      }
      // bind: the address asked for; connect: the peer asked for, and the local end the
      // kernel picked (when the probe could read it).
      if (net->local.family != 0) entry->local = address_of(net->local);
      if (event.type == EventType::connect && net->remote.family != 0) entry->remote = address_of(net->remote);
      // A client may bind its source address before it connects: connect decides.
      if (event.type == EventType::connect) {
        entry->role = SocketRole::client;
      } else if (entry->role == SocketRole::unknown) {
        entry->role = SocketRole::server;
      }
      return;
    }
    case EventType::listen: {
      const auto* net = event.net();
      if (net == nullptr || ret != 0 || net->fd < 0) return;
      if (FdEntry* entry = fds.find(net->fd); entry != nullptr && entry->type == FdType::socket) {
        ++counters_.fd_events;
        entry->role = SocketRole::server;
      }
      return;
    }
    case EventType::accept: case EventType::accept4: {
      const auto* net = event.net();
      if (net == nullptr || !is_fd(ret)) return;
      ++counters_.fd_events;
      SocketAddress local = address_of(net->local);
      std::uint16_t family = net->remote.family;
      std::uint32_t socket_type = 0, protocol = 0;
      if (const FdEntry* listener = fds.find(net->fd)) {
        if (!local.known()) local = listener->local;
        if (family == 0) family = listener->family;
        socket_type = listener->socket_type;
        protocol = listener->protocol;
      }
      FdEntry& entry = fds.put(static_cast<int>(ret));
      entry.type = FdType::socket;
      entry.family = family;
      entry.socket_type = socket_type;
      entry.protocol = protocol;
      entry.cloexec = (net->accept_flags & SOCK_CLOEXEC) != 0;
      entry.local = std::move(local);
      entry.remote = address_of(net->remote);
      entry.role = SocketRole::server;
      return;
    }
    default: return;
  }
}

}  // namespace vigil::state
