#include "rules/extractor.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "rules/event_args.h"
#include "state/path_resolution.h"
#include "state/process_table.h"

namespace vigil::rules {

namespace {

using events::EventType;

bool is_open_type(EventType type) {
  return type == EventType::open || type == EventType::openat || type == EventType::openat2 ||
         type == EventType::creat;
}

bool is_exec_type(EventType type) {
  return type == EventType::execve || type == EventType::execveat || type == EventType::procexec;
}

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

IpAddress ip_of(std::uint16_t family, const std::uint8_t* bytes, std::size_t size) {
  IpAddress ip;
  if (family == AF_INET && size >= 4) {
    ip.family = 4;
    std::copy_n(bytes, 4, ip.bytes.begin());
  } else if (family == AF_INET6 && size >= 16) {
    ip.family = 6;
    std::copy_n(bytes, 16, ip.bytes.begin());
  }
  return ip;
}

void append_ip(std::string& out, const IpAddress& ip) {
  char text[64];
  if (ip.family == 4) {
    std::snprintf(text, sizeof text, "%u.%u.%u.%u", ip.bytes[0], ip.bytes[1], ip.bytes[2], ip.bytes[3]);
    out.append(text);
  } else if (ip.family == 6) {
    // Full form without compression would be unreadable; inet_ntop is allocation-free.
    char buffer[64] = {};
    if (::inet_ntop(AF_INET6, ip.bytes.data(), buffer, sizeof buffer) != nullptr) out.append(buffer);
  }
}

}  // namespace

std::string_view NameCache::user(std::uint32_t uid) {
  auto it = users_.find(uid);
  if (it != users_.end()) return it->second;
  std::string name;
  struct passwd entry{};
  struct passwd* result = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &result) == 0 && result != nullptr) name = result->pw_name;
  return users_.emplace(uid, std::move(name)).first->second;
}

std::string_view NameCache::group(std::uint32_t gid) {
  auto it = groups_.find(gid);
  if (it != groups_.end()) return it->second;
  std::string name;
  struct group entry{};
  struct group* result = nullptr;
  char buffer[4096];
  if (::getgrgid_r(gid, &entry, buffer, sizeof buffer, &result) == 0 && result != nullptr) name = result->gr_name;
  return groups_.emplace(gid, std::move(name)).first->second;
}

void Extractor::begin(const EvalContext& context, std::uint64_t event_number) {
  context_ = &context;
  event_number_ = event_number;
  process_looked_up_ = false;
  process_ = nullptr;
  ancestors_known_ = 0;
  ancestors_complete_ = false;
  fd_computed_ = false;
}

const state::Process* Extractor::process() {
  if (!process_looked_up_) {
    process_looked_up_ = true;
    process_ = context_->processes != nullptr ? context_->processes->find(context_->event.task.pid) : nullptr;
  }
  return process_;
}

const state::Process* Extractor::parent() { return ancestor(1); }

const state::Process* Extractor::ancestor(int level) {
  if (level <= 0) return process();
  if (context_->processes == nullptr || level > static_cast<int>(ancestors_.size())) return nullptr;
  while (ancestors_known_ < level && !ancestors_complete_) {
    // Level 1 comes from the event's own header (fresher than the table's ppid).
    std::uint32_t pid = 0;
    std::uint32_t child = 0;
    if (ancestors_known_ == 0) {
      pid = context_->event.task.ppid;
      child = context_->event.task.pid;
    } else {
      const state::Process* last = ancestors_[ancestors_known_ - 1];
      pid = last->ppid;
      child = last->pid;
    }
    const state::Process* next = pid == 0 || pid == child ? nullptr : context_->processes->find(pid);
    // A loop in a stale table must end the walk.
    for (int i = 0; next != nullptr && i < ancestors_known_; ++i) {
      if (ancestors_[i] == next) next = nullptr;
    }
    if (next == nullptr) {
      ancestors_complete_ = true;
      break;
    }
    ancestors_[ancestors_known_++] = next;
  }
  return level <= ancestors_known_ ? ancestors_[level - 1] : nullptr;
}

std::string_view Extractor::resolve_path(std::string_view path, std::int32_t dirfd, std::string& out) {
  state::resolve_path_of(process(), path, dirfd, out, path_scratch_);
  return out;
}

void Extractor::fill_fd_from_entry(const state::FdEntry& entry) {
  fd_.present = true;
  switch (entry.type) {
    case state::FdType::file:
      fd_.is_file = true;
      fd_.typechar = 'f';
      fd_.type = "file";
      fd_.name = entry.path;
      fd_.nameraw = entry.path;
      return;
    case state::FdType::unknown:
      fd_.typechar = 'o';
      fd_.type = "unknown";
      if (!entry.path.empty()) fd_.name = fd_.nameraw = entry.path;
      return;
    case state::FdType::socket: break;
  }
  fd_.is_socket = true;
  fd_.family = entry.family;
  fd_.socket_type = entry.socket_type;
  fd_.protocol = entry.protocol;
  const auto endpoint = [](const state::SocketAddress& address) {
    Endpoint end;
    if (address.family == AF_INET || address.family == AF_INET6) {
      end.known = true;
      end.ip = ip_of(address.family, address.addr.data(), address.addr.size());
      end.port = address.port;
    }
    return end;
  };
  fd_.local = endpoint(entry.local);
  fd_.remote = endpoint(entry.remote);
  fd_.role = entry.role;
  // The role is not recorded: the end with the lower port is taken as the server (listeners
  // sit on well-known ports, clients on ephemeral ones).
  fd_.server_is_local = fd_.local.known && fd_.remote.known && fd_.local.port < fd_.remote.port;
  if (entry.family == AF_UNIX) {
    fd_.name = !entry.remote.unix_path.empty() ? std::string_view(entry.remote.unix_path)
                                               : std::string_view(entry.local.unix_path);
  }
}

void Extractor::fill_socket_name() {
  if (fd_.family == AF_INET) {
    fd_.typechar = '4';
    fd_.type = "ipv4";
  } else if (fd_.family == AF_INET6) {
    fd_.typechar = '6';
    fd_.type = "ipv6";
  } else if (fd_.family == AF_UNIX) {
    fd_.typechar = 'u';
    fd_.type = "unix";
    return;
  } else if (fd_.family == AF_NETLINK) {
    fd_.typechar = 'n';
    fd_.type = "netlink";
    return;
  } else {
    fd_.typechar = 'o';
    fd_.type = "unknown";
    return;
  }
  // Falco's tuple: client->server; one known end alone otherwise.
  const Endpoint& client = fd_.server_is_local ? fd_.remote : fd_.local;
  const Endpoint& server = fd_.server_is_local ? fd_.local : fd_.remote;
  fd_name_socket_.clear();
  const auto append_end = [&](const Endpoint& end) {
    if (end.ip.family == 6) fd_name_socket_.push_back('[');
    append_ip(fd_name_socket_, end.ip);
    if (end.ip.family == 6) fd_name_socket_.push_back(']');
    fd_name_socket_.push_back(':');
    append_number(fd_name_socket_, end.port);
  };
  if (client.known && server.known) {
    append_end(client);
    fd_name_socket_.append("->");
    append_end(server);
  } else if (client.known) {
    append_end(client);
  } else if (server.known) {
    append_end(server);
  }
  fd_.name = fd_name_socket_;
}

const Extractor::FdView& Extractor::fd() {
  if (fd_computed_) return fd_;
  fd_computed_ = true;
  fd_ = FdView{};
  const events::Event& event = context_->event;
  const std::int64_t ret = event.syscall.ret;
  const state::Process* self = process();
  const auto entry_of = [&](std::int64_t number) -> const state::FdEntry* {
    if (self == nullptr || number < 0 || number > 0x7fffffff) return nullptr;
    return self->fds.find(static_cast<int>(number));
  };
  if (is_open_type(event.type)) {
    const events::FilePayload* file = event.file();
    if (file == nullptr || file->path_unreadable) return fd_;
    fd_.present = true;
    fd_.is_file = true;
    fd_.num = ret < 0 ? -1 : ret;
    const bool directory = (file->open_flags & O_DIRECTORY) != 0 && (file->open_flags & O_TMPFILE) != O_TMPFILE;
    fd_.typechar = directory ? 'd' : 'f';
    fd_.type = directory ? "directory" : "file";
    fd_.nameraw = file->path;
    fd_.name = resolve_path(file->path, file->dirfd, fd_name_);
    return fd_;
  }
  switch (event.type) {
    case EventType::memfd_create: {
      const events::ProcPayload* proc = event.proc();
      if (proc == nullptr || ret < 0) return fd_;
      fd_.present = fd_.is_file = true;
      fd_.num = ret;
      fd_.typechar = 'f';
      fd_.type = "file";
      fd_name_.assign("memfd:");
      fd_name_.append(proc->str);
      fd_.name = fd_.nameraw = fd_name_;
      return fd_;
    }
    case EventType::socket: {
      const events::NetPayload* net = event.net();
      if (net == nullptr || ret < 0) return fd_;
      fd_.present = fd_.is_socket = true;
      fd_.num = ret;
      fd_.family = static_cast<std::uint16_t>(net->domain);
      fd_.socket_type = static_cast<std::uint32_t>(net->type) & 0xf;
      fd_.protocol = static_cast<std::uint32_t>(net->protocol);
      fill_socket_name();
      return fd_;
    }
    case EventType::connect: case EventType::bind: case EventType::listen: case EventType::accept:
    case EventType::accept4: {
      const events::NetPayload* net = event.net();
      if (net == nullptr) return fd_;
      const bool accepted = event.type == EventType::accept || event.type == EventType::accept4;
      if (accepted && ret < 0) return fd_;
      const state::FdEntry* socket = entry_of(net->fd);  // the listener for accept
      fd_.present = fd_.is_socket = true;
      fd_.num = accepted ? ret : net->fd;
      if (socket != nullptr && socket->type == state::FdType::socket) {
        fd_.family = socket->family;
        fd_.socket_type = socket->socket_type;
        fd_.protocol = socket->protocol;
      }
      const auto endpoint = [](const events::SocketAddress& address) {
        Endpoint end;
        if (address.family == AF_INET || address.family == AF_INET6) {
          end.ip = ip_of(address.family, address.addr.data(), address.addr.size());
          end.known = end.ip.family != 0;
          end.port = address.port;
        }
        return end;
      };
      fd_.local = endpoint(net->local);
      fd_.remote = endpoint(net->remote);
      if (!fd_.local.known && socket != nullptr && socket->local.known() && socket->local.family != AF_UNIX) {
        fd_.local.known = true;
        fd_.local.ip = ip_of(socket->local.family, socket->local.addr.data(), socket->local.addr.size());
        fd_.local.port = socket->local.port;
      }
      if (fd_.family == 0) {
        fd_.family = net->remote.family != 0 ? net->remote.family : net->local.family;
        if (fd_.family == 0) fd_.family = static_cast<std::uint16_t>(net->domain);
      }
      fd_.server_is_local = event.type != EventType::connect;
      fd_.role = event.type == EventType::connect ? state::SocketRole::client : state::SocketRole::server;
      if (fd_.family == AF_UNIX) {
        fd_.name = event.type == EventType::connect ? net->remote.unix_path : net->local.unix_path;
        if (fd_.name.empty() && socket != nullptr) {
          fd_.name = !socket->remote.unix_path.empty() ? std::string_view(socket->remote.unix_path)
                                                      : std::string_view(socket->local.unix_path);
        }
      }
      fill_socket_name();
      return fd_;
    }
    case EventType::dup: case EventType::dup2: case EventType::dup3: {
      // Falco: the new descriptor, a copy of oldfd.
      const events::ProcPayload* proc = event.proc();
      if (proc == nullptr || ret < 0) return fd_;
      const state::FdEntry* old = entry_of(static_cast<std::int32_t>(proc->args[0]));
      // The record says what oldfd really is (fd_kind): a table that missed how it was made,
      // or a close that freed the number, must not decide what is being duplicated.
      const bool kernel_knows = proc->fd_kind != 0;
      const bool kernel_socket = (proc->fd_mode() & S_IFMT) == S_IFSOCK;
      const bool agrees = old != nullptr && (!kernel_knows || (kernel_socket ? old->type == state::FdType::socket &&
                                                                                  old->family == proc->fd_family()
                                                                            : old->type != state::FdType::socket));
      if (agrees) {
        fill_fd_from_entry(*old);
        if (fd_.is_socket) fill_socket_name();
      } else {
        fd_.present = true;
        if (kernel_knows && kernel_socket) {
          fd_.is_socket = true;
          fd_.family = proc->fd_family();
          fill_socket_name();
        }
      }
      fd_.num = ret;
      return fd_;
    }
    case EventType::close: case EventType::setns: case EventType::finit_module: case EventType::mmap:
    case EventType::fchmod: case EventType::fchown: case EventType::fchdir: {
      std::int64_t number = -1;
      if (const events::ProcPayload* proc = event.proc()) {
        number = static_cast<std::int32_t>(proc->args[event.type == EventType::mmap ? 4 : 0]);
      } else if (const events::FilePayload* file = event.file()) {
        number = file->fd;
      }
      const state::FdEntry* entry = entry_of(number);
      if (entry == nullptr) return fd_;
      fill_fd_from_entry(*entry);
      if (fd_.is_socket) fill_socket_name();
      fd_.num = number;
      return fd_;
    }
    default: return fd_;
  }
}

bool Extractor::exec_event_args(std::string_view& argv0, std::string_view& raw_args) const {
  const events::Event& event = context_->event;
  if (!is_exec_type(event.type) || event.syscall.ret != 0) return false;
  const events::ExecPayload* exec = event.exec();
  if (exec == nullptr || exec->args_unreadable) return false;
  raw_args = exec->args.raw();
  argv0 = exec->args.empty() ? std::string_view{} : *exec->args.begin();
  return true;
}

std::string_view Extractor::exe_of(const state::Process& process) const {
  const std::string_view args = process.args;
  return args.substr(0, args.find('\0'));
}

void Extractor::append_args_of(std::string_view raw_args, std::string& out) const {
  // argv[1..], each NUL-terminated (the last may lack it).
  std::size_t start = raw_args.find('\0');
  if (start == std::string_view::npos) return;
  ++start;
  bool first = true;
  while (start < raw_args.size()) {
    std::size_t end = raw_args.find('\0', start);
    if (end == std::string_view::npos) end = raw_args.size();
    if (!first) out.push_back(' ');
    out.append(raw_args.substr(start, end - start));
    first = false;
    start = end + 1;
  }
}

bool Extractor::process_exe(std::string_view& out) {
  std::string_view raw;
  if (exec_event_args(out, raw)) return !out.empty();
  const state::Process* self = process();
  if (self == nullptr || self->args.empty()) return false;
  out = exe_of(*self);
  return true;
}

bool Extractor::process_args(std::string& out) {
  std::string_view argv0, raw;
  if (!exec_event_args(argv0, raw)) {
    const state::Process* self = process();
    if (self == nullptr) return false;
    raw = self->args;
  }
  append_args_of(raw, out);
  return true;
}

bool Extractor::process_exepath(std::string_view& out) {
  const state::Process* self = process();
  if (self != nullptr && !self->exe.empty()) {
    out = self->exe;
    return true;
  }
  const events::Event& event = context_->event;
  if (is_exec_type(event.type) && event.syscall.ret == 0) {
    if (const events::ExecPayload* exec = event.exec(); exec != nullptr && !exec->filename.empty()) {
      out = exec->filename;
      return true;
    }
  }
  return false;
}

void Extractor::extract_ancestors(const FieldRef& field, std::size_t slot, Values& out) {
  std::string& scratch = scratch_[slot];
  scratch.clear();
  // The requested levels: one, or every known ancestor (proc.aname without index).
  int first = field.index, last = field.index;
  if (field.index < 0) {
    first = 1;
    last = static_cast<int>(kMaxValues);
  }
  // Strings of several levels share the scratch buffer: reserve so views stay valid.
  if (field.id == FieldId::proc_acmdline && field.index < 0) scratch.reserve(64 * 1024);
  for (int level = first; level <= last; ++level) {
    const state::Process* ancestor = level == 0 ? process() : this->ancestor(level);
    if (level == 0 && field.id == FieldId::proc_aname) {
      out.add_text(process_name());
      continue;
    }
    if (ancestor == nullptr) break;
    switch (field.id) {
      case FieldId::proc_aname: out.add_text(name_of(*ancestor)); break;
      case FieldId::proc_apid: out.add_integer(ancestor->pid); break;
      case FieldId::proc_aexe:
        if (!ancestor->args.empty()) out.add_text(exe_of(*ancestor));
        break;
      case FieldId::proc_aexepath:
        if (!ancestor->exe.empty()) out.add_text(ancestor->exe);
        break;
      case FieldId::proc_acmdline: {
        // Several levels share one buffer: stop rather than let it move under earlier views.
        const std::string_view name = name_of(*ancestor);
        if (field.index < 0 && scratch.size() + name.size() + ancestor->args.size() + 1 > scratch.capacity())
          break;
        const std::size_t begin = scratch.size();
        scratch.append(name);
        const std::size_t before = scratch.size();
        scratch.push_back(' ');
        append_args_of(ancestor->args, scratch);
        if (scratch.size() == before + 1) scratch.pop_back();
        out.add_text(std::string_view(scratch).substr(begin));
        break;
      }
      default: break;
    }
  }
}

void Extractor::extract_fd(const FieldRef& field, std::size_t slot, Values& out) {
  const FdView& view = fd();
  if (!view.present) return;
  const Endpoint& client = view.server_is_local ? view.remote : view.local;
  const Endpoint& server = view.server_is_local ? view.local : view.remote;
  const auto add_ip = [&](const Endpoint& end) {
    if (view.is_socket && end.known) out.add_ip(end.ip);
  };
  const auto add_port = [&](const Endpoint& end) {
    if (view.is_socket && end.known) out.add_integer(end.port);
  };
  switch (field.id) {
    case FieldId::fd_num: out.add_integer(view.num); return;
    case FieldId::fd_name:
      if (!view.name.empty() || view.is_socket) out.add_text(view.name);
      return;
    case FieldId::fd_nameraw:
      if (view.is_file) out.add_text(view.nameraw.empty() ? view.name : view.nameraw);
      return;
    case FieldId::fd_directory: case FieldId::fd_filename: {
      if (!view.is_file || view.name.empty()) return;
      const auto slash = view.name.rfind('/');
      if (field.id == FieldId::fd_filename) {
        out.add_text(slash == std::string_view::npos ? view.name : view.name.substr(slash + 1));
      } else if (slash == std::string_view::npos) {
        return;
      } else {
        out.add_text(slash == 0 ? std::string_view("/") : view.name.substr(0, slash));
      }
      return;
    }
    case FieldId::fd_typechar: {
      std::string& scratch = scratch_[slot];
      scratch.assign(1, view.typechar);
      out.add_text(scratch);
      return;
    }
    case FieldId::fd_type: out.add_text(view.type); return;
    case FieldId::fd_sockfamily:
      if (view.family == AF_INET || view.family == AF_INET6) out.add_text("ip");
      if (view.family == AF_UNIX) out.add_text("unix");
      return;
    case FieldId::fd_l4proto: {
      if (!view.is_socket || (view.family != AF_INET && view.family != AF_INET6)) return;
      if (view.protocol == 6 || (view.protocol == 0 && view.socket_type == SOCK_STREAM)) {
        out.add_text("tcp");
      } else if (view.protocol == 17 || (view.protocol == 0 && view.socket_type == SOCK_DGRAM)) {
        out.add_text("udp");
      } else if (view.protocol == 1 || view.protocol == 58) {
        out.add_text("icmp");
      } else if (view.socket_type == SOCK_RAW) {
        out.add_text("raw");
      }
      return;
    }
    case FieldId::fd_connected:
      if (view.is_socket) out.add_bool(view.remote.known || (view.family == AF_UNIX && !view.name.empty()));
      return;
    case FieldId::fd_sip: case FieldId::fd_dip: case FieldId::fd_snet: add_ip(server); return;
    case FieldId::fd_cip: case FieldId::fd_cnet: add_ip(client); return;
    case FieldId::fd_lip: case FieldId::fd_lnet: add_ip(view.local); return;
    case FieldId::fd_rip: case FieldId::fd_rnet: add_ip(view.remote); return;
    case FieldId::fd_ip: case FieldId::fd_net:
      add_ip(view.local);
      add_ip(view.remote);
      return;
    case FieldId::fd_sport: case FieldId::fd_dport: add_port(server); return;
    case FieldId::fd_cport: add_port(client); return;
    case FieldId::fd_lport: add_port(view.local); return;
    case FieldId::fd_rport: add_port(view.remote); return;
    case FieldId::fd_port:
      add_port(view.local);
      add_port(view.remote);
      return;
    case FieldId::fd_is_server:
      if (view.is_socket && view.role != state::SocketRole::unknown) out.add_bool(view.role == state::SocketRole::server);
      return;
    default: return;
  }
}

void Extractor::extract_event(const FieldRef& field, std::size_t slot, Values& out) {
  const events::Event& event = context_->event;
  const std::int64_t ret = event.syscall.ret;
  std::string& scratch = scratch_[slot];
  const events::FilePayload* file = event.file();
  // creat is open(O_CREAT|O_WRONLY|O_TRUNC).
  const std::uint64_t open_flags = event.type == EventType::creat ? (O_CREAT | O_WRONLY | O_TRUNC)
                                   : file != nullptr               ? file->open_flags
                                                                   : 0;
  switch (field.id) {
    case FieldId::evt_type: out.add_text(events::event_type_name(event.type)); return;
    case FieldId::evt_dir: out.add_text("<"); return;
    case FieldId::evt_time:
      out.add_integer(static_cast<std::int64_t>(event.task.timestamp_ns) + context_->boot_to_wall_ns);
      return;
    case FieldId::evt_rawtime: out.add_integer(static_cast<std::int64_t>(event.task.timestamp_ns)); return;
    case FieldId::evt_num: out.add_integer(static_cast<std::int64_t>(event_number_)); return;
    case FieldId::evt_arg: {
      const int index = field.arg_index[static_cast<std::size_t>(event.type)];
      if (index >= 0 && render_event_arg(event, index, scratch)) out.add_text(scratch);
      return;
    }
    case FieldId::evt_args: render_event_args(event, scratch, path_scratch_); out.add_text(scratch); return;
    case FieldId::evt_res:
      if (ret >= 0) {
        out.add_text("SUCCESS");
      } else if (const std::string_view name = errno_name(ret); !name.empty()) {
        out.add_text(name);
      } else {
        scratch.clear();
        append_number(scratch, ret);
        out.add_text(scratch);
      }
      return;
    case FieldId::evt_rawres: out.add_integer(ret); return;
    case FieldId::evt_failed: out.add_bool(ret < 0); return;
    case FieldId::evt_is_open_read:
      out.add_bool(is_open_type(event.type) && (open_flags & O_ACCMODE) != O_WRONLY);
      return;
    case FieldId::evt_is_open_write:
      out.add_bool(is_open_type(event.type) && (open_flags & O_ACCMODE) != O_RDONLY);
      return;
    case FieldId::evt_is_open_exec: {
      const std::uint32_t mode = file != nullptr ? file->mode : 0;
      out.add_bool(is_open_type(event.type) && (open_flags & O_CREAT) != 0 && (mode & 0111) != 0);
      return;
    }
    case FieldId::evt_hostname:
      if (hostname_.empty()) {
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) == 0) hostname_ = name;
      }
      out.add_text(hostname_);
      return;
    case FieldId::evt_source: out.add_text("syscall"); return;
    default: return;
  }
}

void Extractor::extract_process(const FieldRef& field, std::size_t slot, Values& out) {
  const events::Event& event = context_->event;
  std::string& scratch = scratch_[slot];
  const state::Process* self = process();
  const events::CredPayload* cred = event.cred();
  switch (field.id) {
    case FieldId::proc_name: out.add_text(process_name()); return;
    case FieldId::proc_comm: out.add_text(event.task.comm); return;
    case FieldId::proc_pid: out.add_integer(event.task.pid); return;
    case FieldId::proc_ppid: out.add_integer(event.task.ppid); return;
    case FieldId::thread_tid: out.add_integer(event.task.tid); return;
    case FieldId::proc_exe: {
      std::string_view exe;
      if (process_exe(exe)) out.add_text(exe);
      return;
    }
    case FieldId::proc_exepath: {
      std::string_view path;
      if (process_exepath(path)) out.add_text(path);
      return;
    }
    case FieldId::proc_is_exe_from_memfd: {
      if (self != nullptr && self->exe_memfd) {
        out.add_bool(true);
        return;
      }
      std::string_view path;
      if (!process_exepath(path)) return;
      out.add_bool(path.starts_with("memfd:") || path.starts_with("/memfd:"));
      return;
    }
    case FieldId::proc_vpid:
      if (self != nullptr && self->vpid != 0) out.add_integer(self->vpid);
      return;
    case FieldId::proc_pvpid:
      if (const state::Process* up = parent(); up != nullptr && up->vpid != 0) out.add_integer(up->vpid);
      return;
    case FieldId::proc_vpgid:
      if (self != nullptr && self->vpgid != 0) out.add_integer(self->vpgid);
      return;
    case FieldId::proc_is_vpgid_leader:
      if (self != nullptr && self->vpid != 0 && self->vpgid != 0) out.add_bool(self->vpid == self->vpgid);
      return;
    case FieldId::proc_exe_ino:
      if (self != nullptr && self->exe_ino != 0) out.add_integer(static_cast<std::int64_t>(self->exe_ino));
      return;
    case FieldId::proc_exe_ino_ctime:
      if (self != nullptr && self->exe_ctime_ns != 0) out.add_integer(static_cast<std::int64_t>(self->exe_ctime_ns));
      return;
    case FieldId::proc_exe_ino_mtime:
      if (self != nullptr && self->exe_mtime_ns != 0) out.add_integer(static_cast<std::int64_t>(self->exe_mtime_ns));
      return;
    case FieldId::proc_exe_ino_ctime_duration_proc_start:
      // How long after its executable last changed the process started (Falco: a binary
      // dropped and run at once has a small value).
      if (self != nullptr && self->exe_ctime_ns != 0 && self->start_time_ns != 0) {
        const std::int64_t start_wall = static_cast<std::int64_t>(self->start_time_ns) + context_->boot_to_wall_ns;
        const std::int64_t duration = start_wall - static_cast<std::int64_t>(self->exe_ctime_ns);
        if (duration >= 0) out.add_integer(duration);
      }
      return;
    case FieldId::proc_stdin_type: case FieldId::proc_stdout_type: case FieldId::proc_stderr_type:
    case FieldId::proc_stdin_name: case FieldId::proc_stdout_name: case FieldId::proc_stderr_name:
    case FieldId::proc_stdin_is_server: case FieldId::proc_stdout_is_server: case FieldId::proc_stderr_is_server:
      extract_stdio(field, slot, out);
      return;
    case FieldId::proc_is_exe_upper_layer: {
      const state::Process* self = process();
      out.add_bool(self != nullptr && self->exe_upper_layer);
      return;
    }
    case FieldId::proc_args:
      scratch.clear();
      if (process_args(scratch)) out.add_text(scratch);
      return;
    case FieldId::proc_cmdline: {
      scratch.assign(process_name());
      std::string_view argv0, raw;
      if (!exec_event_args(argv0, raw)) {
        if (self == nullptr) {
          out.add_text(scratch);
          return;
        }
        raw = self->args;
      }
      scratch.push_back(' ');
      const std::size_t before = scratch.size();
      append_args_of(raw, scratch);
      if (scratch.size() == before) scratch.pop_back();
      out.add_text(scratch);
      return;
    }
    case FieldId::proc_pname: case FieldId::proc_pexe: case FieldId::proc_pexepath: case FieldId::proc_pcmdline: {
      const state::Process* up = parent();
      if (up == nullptr) return;
      if (field.id == FieldId::proc_pname) out.add_text(name_of(*up));
      if (field.id == FieldId::proc_pexe && !up->args.empty()) out.add_text(exe_of(*up));
      if (field.id == FieldId::proc_pexepath && !up->exe.empty()) out.add_text(up->exe);
      if (field.id == FieldId::proc_pcmdline) {
        scratch.assign(name_of(*up));
        scratch.push_back(' ');
        const std::size_t before = scratch.size();
        append_args_of(up->args, scratch);
        if (scratch.size() == before) scratch.pop_back();
        out.add_text(scratch);
      }
      return;
    }
    case FieldId::proc_tty:
      if (self != nullptr) out.add_integer(self->tty);
      return;
    case FieldId::proc_cwd:
      if (self != nullptr && !self->cwd.empty()) out.add_text(self->cwd);
      return;
    case FieldId::proc_duration:
      if (self != nullptr && self->start_time_ns != 0 && event.task.timestamp_ns >= self->start_time_ns)
        out.add_integer(static_cast<std::int64_t>(event.task.timestamp_ns - self->start_time_ns));
      return;
    case FieldId::thread_cap_effective: case FieldId::thread_cap_permitted: {
      std::uint64_t mask = 0;
      if (cred != nullptr && event.syscall.ret >= 0) {
        mask = field.id == FieldId::thread_cap_effective ? cred->new_creds.cap_effective
                                                         : cred->new_creds.cap_permitted;
      } else if (self != nullptr && self->caps_known) {
        mask = field.id == FieldId::thread_cap_effective ? self->cap_effective : self->cap_permitted;
      } else {
        return;
      }
      scratch.clear();
      append_capabilities(scratch, mask);
      out.add_text(scratch);
      return;
    }
    case FieldId::user_uid: case FieldId::user_name: {
      std::uint32_t uid = event.task.uid;
      if (cred != nullptr && event.syscall.ret >= 0) {
        uid = cred->new_creds.euid;
      } else if (self != nullptr && self->euid != state::kUnknownId) {
        uid = self->euid;
      }
      if (field.id == FieldId::user_uid) {
        out.add_integer(uid);
      } else if (const std::string_view name = names_.user(uid); !name.empty()) {
        out.add_text(name);
      }
      return;
    }
    case FieldId::user_loginuid: case FieldId::user_loginname: {
      const std::uint32_t loginuid = self != nullptr ? self->loginuid : state::kUnknownId;
      if (field.id == FieldId::user_loginuid) {
        out.add_integer(loginuid == state::kUnknownId ? -1 : static_cast<std::int64_t>(loginuid));
      } else if (loginuid != state::kUnknownId) {
        if (const std::string_view name = names_.user(loginuid); !name.empty()) out.add_text(name);
      }
      return;
    }
    case FieldId::group_gid: case FieldId::group_name: {
      std::uint32_t gid = event.task.gid;
      if (cred != nullptr && event.syscall.ret >= 0) {
        gid = cred->new_creds.egid;
      } else if (self != nullptr && self->egid != state::kUnknownId) {
        gid = self->egid;
      }
      if (field.id == FieldId::group_gid) {
        out.add_integer(gid);
      } else if (const std::string_view name = names_.group(gid); !name.empty()) {
        out.add_text(name);
      }
      return;
    }
    default: return;
  }
}

std::string_view Extractor::name_of(const state::Process& process) const {
  return process.exec_name.empty() ? std::string_view(process.comm) : std::string_view(process.exec_name);
}

std::string_view Extractor::process_name() {
  // The name as of exec: what a process cannot rename after the fact. A successful exec's own
  // record carries it in its header; without an entry in the table (no state, or a record
  // before its exec was seen) the header's comm is all there is.
  const events::Event& event = context_->event;
  if (is_exec_type(event.type) && event.syscall.ret == 0) return event.task.comm;
  if (const state::Process* self = process(); self != nullptr && !self->exec_name.empty()) return self->exec_name;
  return event.task.comm;
}

void Extractor::extract_stdio(const FieldRef& field, std::size_t slot, Values& out) {
  const state::Process* self = process();
  if (self == nullptr) return;
  int fd = 0;
  switch (field.id) {
    case FieldId::proc_stdout_type: case FieldId::proc_stdout_name: case FieldId::proc_stdout_is_server: fd = 1; break;
    case FieldId::proc_stderr_type: case FieldId::proc_stderr_name: case FieldId::proc_stderr_is_server: fd = 2; break;
    default: break;
  }
  const state::FdEntry* entry = self->fds.find(fd);
  if (entry == nullptr) return;
  // The same view fd.* gives of a descriptor, in this field's own scratch (fd_ belongs to the
  // event's descriptor).
  const FdView saved = fd_;
  const bool saved_computed = fd_computed_;
  fd_ = FdView{};
  fill_fd_from_entry(*entry);
  if (fd_.is_socket) fill_socket_name();
  switch (field.id) {
    case FieldId::proc_stdin_type: case FieldId::proc_stdout_type: case FieldId::proc_stderr_type:
      out.add_text(fd_.type);
      break;
    case FieldId::proc_stdin_name: case FieldId::proc_stdout_name: case FieldId::proc_stderr_name: {
      std::string& scratch = scratch_[slot];
      scratch.assign(fd_.name);
      if (!scratch.empty() || fd_.is_socket) out.add_text(scratch);
      break;
    }
    default:
      if (fd_.is_socket && fd_.role != state::SocketRole::unknown) out.add_bool(fd_.role == state::SocketRole::server);
      break;
  }
  fd_ = saved;
  fd_computed_ = saved_computed;
  // fill_socket_name wrote fd_name_socket_, which a computed fd_ of the event may view: redo it.
  if (fd_computed_ && fd_.is_socket) fill_socket_name();
}

namespace {

// container.mount*[selector]: a number is an index into the mounts; any other text is a glob
// ('*' crosses '/', as in Falco) matched against the mount's source (destination for
// container.mount.source).
const state::ContainerMount* select_mount(const state::ContainerInfo& info, const FieldRef& field, bool by_destination) {
  const auto& mounts = info.metadata.mounts;
  if (field.index >= 0) return static_cast<std::size_t>(field.index) < mounts.size() ? &mounts[field.index] : nullptr;
  for (const state::ContainerMount& mount : mounts) {
    const std::string& candidate = by_destination ? mount.destination : mount.source;
    if (::fnmatch(field.arg_name.c_str(), candidate.c_str(), 0) == 0) return &mount;
  }
  return nullptr;
}

void append_mount(std::string& out, const state::ContainerMount& mount) {
  out.append(mount.source);
  out.push_back(':');
  out.append(mount.destination);
  out.push_back(':');
  out.append(mount.mode);
  out.push_back(':');
  out.append(mount.read_write ? "true" : "false");
  out.push_back(':');
  out.append(mount.propagation);
}

void append_key_values(std::string& out, const state::KeyValues& values) {
  for (const auto& [key, value] : values) {
    if (!out.empty()) out.push_back(',');
    out.append(key);
    out.push_back(':');
    out.append(value);
  }
}

}  // namespace

void Extractor::extract_container(const FieldRef& field, std::size_t slot, Values& out) {
  const state::Process* self = process();
  if (self == nullptr || !self->container) return;
  const state::ContainerInfo& info = *self->container;
  std::string& scratch = scratch_[slot];
  const state::ContainerMetadata& meta = info.metadata;
  const auto add_if = [&](const std::string& text) {
    if (!text.empty()) out.add_text(text);
  };
  switch (field.id) {
    case FieldId::container_id: add_if(info.id); return;
    case FieldId::container_name: add_if(info.name); return;
    case FieldId::container_info:
      if (info.id.empty()) return;
      scratch.assign("container_id=");
      scratch.append(info.id);
      scratch.append(" container_name=");
      scratch.append(info.name.empty() ? std::string_view("<NA>") : std::string_view(info.name));
      out.add_text(scratch);
      return;
    case FieldId::container_type:
      if (info.resolved) out.add_text(state::to_string(info.runtime));
      return;
    case FieldId::container_full_id:
      if (info.is_host()) out.add_text("host");
      else add_if(info.full_id);
      return;
    default: break;
  }
  // What follows describes containers only (Falco: no value on the host).
  if (!info.is_container()) return;
  const bool known = info.metadata_known;
  switch (field.id) {
    case FieldId::container_image: add_if(meta.image); return;
    case FieldId::container_image_id: add_if(meta.image_id); return;
    case FieldId::container_image_repository: add_if(meta.image_repository); return;
    case FieldId::container_image_tag: add_if(meta.image_tag); return;
    case FieldId::container_image_digest: add_if(meta.image_digest); return;
    case FieldId::container_privileged: if (known) out.add_bool(meta.privileged); return;
    case FieldId::container_host_pid: if (known) out.add_bool(meta.host_pid); return;
    case FieldId::container_host_network: if (known) out.add_bool(meta.host_network); return;
    case FieldId::container_host_ipc: if (known) out.add_bool(meta.host_ipc); return;
    case FieldId::container_mounts:
      if (!known) return;
      scratch.clear();
      for (const state::ContainerMount& mount : meta.mounts) {
        if (!scratch.empty()) scratch.push_back(',');
        append_mount(scratch, mount);
      }
      out.add_text(scratch);
      return;
    case FieldId::container_mount: {
      if (!known) return;
      const state::ContainerMount* mount = select_mount(info, field, /*by_destination=*/false);
      scratch.clear();
      if (mount != nullptr) append_mount(scratch, *mount);
      else scratch.assign("none");  // Falco's documented value when nothing matches
      out.add_text(scratch);
      return;
    }
    case FieldId::container_mount_source: case FieldId::container_mount_dest: case FieldId::container_mount_mode:
    case FieldId::container_mount_rdwr: case FieldId::container_mount_propagation: {
      const state::ContainerMount* mount =
          select_mount(info, field, /*by_destination=*/field.id == FieldId::container_mount_source);
      if (mount == nullptr) return;
      switch (field.id) {
        case FieldId::container_mount_source: out.add_text(mount->source); break;
        case FieldId::container_mount_dest: out.add_text(mount->destination); break;
        case FieldId::container_mount_mode: out.add_text(mount->mode); break;
        case FieldId::container_mount_rdwr: out.add_text(mount->read_write ? "true" : "false"); break;
        default: out.add_text(mount->propagation); break;
      }
      return;
    }
    case FieldId::container_start_ts:
      if (meta.created_ns > 0) out.add_integer(meta.created_ns);
      return;
    case FieldId::container_duration:
      if (meta.created_ns > 0) {
        const std::int64_t now = static_cast<std::int64_t>(context_->event.task.timestamp_ns) + context_->boot_to_wall_ns;
        if (now >= meta.created_ns) out.add_integer(now - meta.created_ns);
      }
      return;
    case FieldId::container_label:
      if (const std::string* value = state::find_value(meta.labels, field.arg_name)) out.add_text(*value);
      return;
    case FieldId::k8s_pod_name: add_if(meta.k8s_pod_name); return;
    case FieldId::k8s_ns_name: add_if(meta.k8s_namespace); return;
    case FieldId::k8s_pod_uid: add_if(meta.k8s_pod_uid); return;
    case FieldId::k8s_pod_label:
      if (const std::string* value = state::find_value(meta.k8s_pod_labels, field.arg_name)) out.add_text(*value);
      return;
    case FieldId::k8s_pod_labels:
      if (meta.k8s_pod_labels.empty()) return;
      scratch.clear();
      append_key_values(scratch, meta.k8s_pod_labels);
      out.add_text(scratch);
      return;
    default: return;
  }
}

void Extractor::extract(const FieldRef& field, std::size_t slot, Values& out) {
  out.clear();
  const auto id = static_cast<std::uint16_t>(field.id);
  if (field.id == FieldId::proc_aname || field.id == FieldId::proc_apid || field.id == FieldId::proc_aexe ||
      field.id == FieldId::proc_aexepath || field.id == FieldId::proc_acmdline) {
    extract_ancestors(field, slot, out);
  } else if (id >= static_cast<std::uint16_t>(FieldId::fd_num) &&
             id <= static_cast<std::uint16_t>(FieldId::fd_is_server)) {
    extract_fd(field, slot, out);
  } else if (id <= static_cast<std::uint16_t>(FieldId::evt_source)) {
    extract_event(field, slot, out);
  } else if (id >= static_cast<std::uint16_t>(FieldId::container_id)) {
    extract_container(field, slot, out);
  } else {
    extract_process(field, slot, out);
  }
}

bool Extractor::render(const FieldRef& field, std::size_t slot, std::string& out) {
  out.clear();
  Values values;
  extract(field, slot, values);
  for (std::size_t i = 0; i < values.count; ++i) {
    if (i > 0) out.push_back(' ');
    const Value& value = values[i];
    switch (value.kind) {
      case Value::Kind::integer: append_number(out, value.integer); break;
      case Value::Kind::boolean: out.append(value.integer != 0 ? "true" : "false"); break;
      case Value::Kind::string: out.append(value.text); break;
      case Value::Kind::ip: append_ip(out, value.ip); break;
    }
  }
  return values.count > 0;
}

}  // namespace vigil::rules
