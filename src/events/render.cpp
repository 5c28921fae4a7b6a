// Text forms of an Event. Not on the decoding hot path (only `vigil capture` and logs render), so
// these may allocate; strings from records are escaped (printable_path) in the line form.
#include "events/render.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <iterator>

#include <fmt/format.h>

#include "common/path_text.h"

namespace vigil::events {
namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

struct SplitTime {
  std::int64_t seconds;
  std::int64_t nanos;  // 0..999999999
};

SplitTime split(std::int64_t ns) {
  std::int64_t seconds = ns / kNanosPerSecond;
  std::int64_t nanos = ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  return {seconds, nanos};
}

std::tm utc(std::int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

std::string iso_time(std::int64_t wall_ns) {
  const SplitTime time = split(wall_ns);
  const std::tm tm = utc(time.seconds);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, time.nanos);
}

// An address as text: dotted quad, IPv6, or hex for anything else.
std::string address_text(std::uint16_t family, std::span<const std::uint8_t> addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET && addr.size() == 4 && ::inet_ntop(AF_INET, addr.data(), text, sizeof text)) return text;
  if (family == AF_INET6 && addr.size() == 16 && ::inet_ntop(AF_INET6, addr.data(), text, sizeof text)) return text;
  std::string hex;
  for (std::uint8_t b : addr) hex += fmt::format("{:02x}", b);
  return hex;
}

nlohmann::json address_json(const SocketAddress& address) {
  nlohmann::json out = {{"family", address.family}};
  if (!address.addr.empty()) out["addr"] = address_text(address.family, address.addr);
  if (address.family == AF_INET || address.family == AF_INET6) out["port"] = address.port;
  if (address.family == AF_UNIX) out["unix_path"] = std::string(address.unix_path);
  return out;
}

nlohmann::json credentials_json(const Credentials& creds) {
  return {{"uid", creds.uid},
          {"euid", creds.euid},
          {"suid", creds.suid},
          {"fsuid", creds.fsuid},
          {"gid", creds.gid},
          {"egid", creds.egid},
          {"sgid", creds.sgid},
          {"fsgid", creds.fsgid},
          {"cap_effective", creds.cap_effective},
          {"cap_permitted", creds.cap_permitted},
          {"cap_inheritable", creds.cap_inheritable}};
}

void add_payload_json(nlohmann::json& out, const Event& event) {
  if (const auto* exec = event.exec()) {
    out["filename"] = std::string(exec->filename);
    auto args = nlohmann::json::array();
    for (std::string_view arg : exec->args) args.push_back(std::string(arg));
    out["args"] = std::move(args);
    out["argc"] = exec->argc;
    out["exe_ino"] = exec->exe_ino;
    out["exe_dev"] = exec->exe_dev;
    out["env_size"] = exec->env_size;
    if (event.type == EventType::execveat) {
      out["dirfd"] = exec->dirfd;
      out["at_flags"] = exec->at_flags;
    }
    out["filename_truncated"] = exec->filename_truncated;
    out["args_truncated"] = exec->args_truncated;
    out["args_unreadable"] = exec->args_unreadable;
    if (event.type == EventType::procexec) out["exe_upper_layer"] = exec->exe_upper_layer;
    if (exec->has_kernel_facts) {
      const ExecKernelFacts& kernel = exec->kernel;
      std::string path;
      append_kernel_path(kernel.exe_path, kernel.exe_unlinked, path);
      out["exe_path"] = path;
      path.clear();
      append_kernel_path(kernel.cwd, false, path);
      out["cwd"] = path;
      out["exe_memfd"] = kernel.exe_memfd;
      out["exe_unlinked"] = kernel.exe_unlinked;
      out["exe_path_truncated"] = kernel.exe_path_truncated;
      out["exe_path_detached"] = kernel.exe_path_detached;
      out["cwd_truncated"] = kernel.cwd_truncated;
      out["cwd_detached"] = kernel.cwd_detached;
      out["creds"] = credentials_json(kernel.creds);
      out["exe_mtime_ns"] = kernel.exe_mtime_ns;
      out["exe_ctime_ns"] = kernel.exe_ctime_ns;
      out["vpid"] = kernel.vpid;
      out["vpgid"] = kernel.vpgid;
      out["vsid"] = kernel.vsid;
      out["loginuid"] = kernel.loginuid;
      out["stdio_kind"] = {kernel.stdio_kind[0], kernel.stdio_kind[1], kernel.stdio_kind[2]};
    }
  } else if (const auto* fork = event.fork()) {
    out["child_pid"] = fork->child_pid;
    out["child_tid"] = fork->child_tid;
    out["child_vpid"] = fork->child_vpid;
    out["child_pid_ns"] = fork->child_pid_ns;
  } else if (const auto* exit = event.exit()) {
    out["status"] = exit->status;
    if (exit->exited()) out["exit_code"] = exit->exit_code();
    if (exit->signaled()) {
      out["signal"] = exit->term_signal();
      out["core_dumped"] = exit->core_dumped();
    }
  } else if (const auto* file = event.file()) {
    out["path"] = std::string(file->path);
    out["path2"] = std::string(file->path2);
    if (!file->fstype.empty()) out["fstype"] = std::string(file->fstype);
    out["dirfd"] = file->dirfd;
    out["dirfd2"] = file->dirfd2;
    out["fd"] = file->fd;
    out["mode"] = file->mode;
    out["open_flags"] = file->open_flags;
    out["resolve"] = file->resolve;
    out["at_flags"] = file->at_flags;
    out["uid"] = file->uid;
    out["gid"] = file->gid;
    out["dev"] = file->dev;
    out["ino"] = file->ino;
    out["path_truncated"] = file->path_truncated;
    out["path_unreadable"] = file->path_unreadable;
    out["path2_truncated"] = file->path2_truncated;
    out["path2_unreadable"] = file->path2_unreadable;
  } else if (const auto* net = event.net()) {
    out["fd"] = net->fd;
    out["domain"] = net->domain;
    out["type"] = net->type;
    out["protocol"] = net->protocol;
    out["backlog"] = net->backlog;
    out["accept_flags"] = net->accept_flags;
    out["local"] = address_json(net->local);
    out["remote"] = address_json(net->remote);
    out["addr_unreadable"] = net->addr_unreadable;
  } else if (const auto* cred = event.cred()) {
    out["old_creds"] = credentials_json(cred->old_creds);
    out["new_creds"] = credentials_json(cred->new_creds);
    out["id_args"] = {cred->id_args[0], cred->id_args[1], cred->id_args[2]};
    if (event.type == EventType::capset) {
      out["cap_version"] = cred->cap_version;
      out["cap_pid"] = cred->cap_pid;
      out["cap_effective_arg"] = cred->cap_effective_arg;
      out["cap_permitted_arg"] = cred->cap_permitted_arg;
      out["cap_inheritable_arg"] = cred->cap_inheritable_arg;
    }
  } else if (const auto* proc = event.proc()) {
    out["args"] = {proc->args[0], proc->args[1], proc->args[2], proc->args[3], proc->args[4], proc->args[5]};
    out["ino"] = proc->ino;
    out["dev"] = proc->dev;
    if (event.type == EventType::bpf) out["bpf_type"] = proc->bpf_type;
    if (proc->fd_kind != 0) {
      out["fd_mode"] = proc->fd_mode();
      if (proc->fd_family() != 0) out["fd_family"] = proc->fd_family();
    }
    out["str"] = std::string(proc->str);
    out["str_truncated"] = proc->str_truncated;
    out["str_unreadable"] = proc->str_unreadable;
  }
}

// A record string in a line: escaped, and quoted when it is empty or has spaces or quotes, so
// the line splits back into the same fields.
void append_text(std::string& out, std::string_view text) {
  std::string escaped = printable_path(text);
  if (!escaped.empty() && escaped.find_first_of(" \"") == std::string::npos) {
    out += escaped;
    return;
  }
  out += '"';
  for (char c : escaped) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
}

void append_address(std::string& out, std::string_view name, const SocketAddress& address) {
  if (address.family == AF_INET || address.family == AF_INET6) {
    fmt::format_to(std::back_inserter(out), " {}={}{}{}:{}", name, address.family == AF_INET6 ? "[" : "",
                   address_text(address.family, address.addr), address.family == AF_INET6 ? "]" : "", address.port);
  } else if (address.family == AF_UNIX) {
    fmt::format_to(std::back_inserter(out), " {}=unix:", name);
    append_text(out, address.unix_path);
  } else if (address.family != 0) {
    fmt::format_to(std::back_inserter(out), " {}=family{}", name, address.family);
  }
}

void append_payload_line(std::string& out, const Event& event) {
  auto it = std::back_inserter(out);
  if (const auto* exec = event.exec()) {
    out += " filename=";
    append_text(out, exec->filename);
    out += " args=[";
    bool first = true;
    for (std::string_view arg : exec->args) {
      if (!first) out += ' ';
      first = false;
      append_text(out, arg);
    }
    out += ']';
    if (exec->args_truncated) out += "...";
    if (exec->args_unreadable) out += " args_unreadable";
    if (exec->exe_upper_layer) out += " exe_upper_layer";
    if (exec->has_kernel_facts) {
      std::string path;
      append_kernel_path(exec->kernel.exe_path, exec->kernel.exe_unlinked, path);
      out += " exe=";
      append_text(out, path);
      if (exec->kernel.exe_memfd) out += " memfd";
      fmt::format_to(it, " vpid={}", exec->kernel.vpid);
    }
  } else if (const auto* fork = event.fork()) {
    fmt::format_to(it, " child_pid={}", fork->child_pid);
    if (fork->child_vpid != fork->child_pid) fmt::format_to(it, " child_vpid={}", fork->child_vpid);
  } else if (const auto* exit = event.exit()) {
    if (exit->exited()) fmt::format_to(it, " exit_code={}", exit->exit_code());
    if (exit->signaled()) fmt::format_to(it, " signal={}{}", exit->term_signal(), exit->core_dumped() ? " core" : "");
  } else if (const auto* file = event.file()) {
    if (file->fd >= 0) fmt::format_to(it, " fd={}", file->fd);
    out += " path=";
    append_text(out, file->path);
    if (!file->path2.empty()) {
      out += " path2=";
      append_text(out, file->path2);
    }
    if (!file->fstype.empty()) {
      out += " fstype=";
      append_text(out, file->fstype);
    }
    fmt::format_to(it, " flags={:#x} mode={:#o}", file->open_flags, file->mode);
  } else if (const auto* net = event.net()) {
    fmt::format_to(it, " fd={} domain={} type={}", net->fd, net->domain, net->type);
    append_address(out, "local", net->local);
    append_address(out, "remote", net->remote);
  } else if (const auto* cred = event.cred()) {
    fmt::format_to(it, " args=[{} {} {}] uid={}->{} euid={}->{} gid={}->{} egid={}->{}", cred->id_args[0],
                   cred->id_args[1], cred->id_args[2], cred->old_creds.uid, cred->new_creds.uid, cred->old_creds.euid,
                   cred->new_creds.euid, cred->old_creds.gid, cred->new_creds.gid, cred->old_creds.egid,
                   cred->new_creds.egid);
  } else if (const auto* proc = event.proc()) {
    fmt::format_to(it, " args=[{:#x} {:#x} {:#x}]", proc->args[0], proc->args[1], proc->args[2]);
    if (!proc->str.empty()) {
      out += " str=";
      append_text(out, proc->str);
    }
  }
}

}  // namespace

nlohmann::json event_to_json(const Event& event, const TimeAnchor* anchor) {
  nlohmann::json out = nlohmann::json::object();
  if (anchor) out["time"] = iso_time(anchor->wall_ns_at(event.task.timestamp_ns));
  out["ts_ns"] = event.task.timestamp_ns;
  out["event"] = std::string(event_type_name(event.type));
  out["pid"] = event.task.pid;
  out["tid"] = event.task.tid;
  out["ppid"] = event.task.ppid;
  out["uid"] = event.task.uid;
  out["gid"] = event.task.gid;
  out["comm"] = std::string(event.task.comm);
  out["cgroup_id"] = event.task.cgroup_id;
  out["mnt_ns"] = event.task.mnt_ns;
  out["pid_ns"] = event.task.pid_ns;
  out["net_ns"] = event.task.net_ns;
  if (event.syscall.nr >= 0) {
    out["syscall_nr"] = event.syscall.nr;
    out["ret"] = event.syscall.ret;
  }
  add_payload_json(out, event);
  return out;
}

void append_event_line(std::string& out, const Event& event, const TimeAnchor* anchor) {
  auto it = std::back_inserter(out);
  if (anchor) {
    const SplitTime time = split(anchor->wall_ns_at(event.task.timestamp_ns));
    const std::tm tm = utc(time.seconds);
    fmt::format_to(it, "{:02}:{:02}:{:02}.{:09}", tm.tm_hour, tm.tm_min, tm.tm_sec, time.nanos);
  } else {
    const SplitTime time = split(static_cast<std::int64_t>(event.task.timestamp_ns));
    fmt::format_to(it, "[{}.{:09}]", time.seconds, time.nanos);
  }
  fmt::format_to(it, " {} pid={} tid={} ppid={} uid={} gid={} comm=", event_type_name(event.type), event.task.pid,
                 event.task.tid, event.task.ppid, event.task.uid, event.task.gid);
  append_text(out, event.task.comm);
  fmt::format_to(it, " cgroup={}", event.task.cgroup_id);
  if (event.syscall.nr >= 0) fmt::format_to(it, " ret={}", event.syscall.ret);
  append_payload_line(out, event);
}

std::string event_line(const Event& event, const TimeAnchor* anchor) {
  std::string out;
  append_event_line(out, event, anchor);
  return out;
}

}  // namespace vigil::events
