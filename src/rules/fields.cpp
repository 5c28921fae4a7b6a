#include "rules/fields.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "rules/event_args.h"

namespace vigil::rules {

namespace {

using enum FieldId;
constexpr FieldType I = FieldType::integer, S = FieldType::string, B = FieldType::boolean, IP = FieldType::ip,
                    NET = FieldType::ipnet;

// vigil's fields. docs/rules.md says what each one means.
constexpr std::array kFields{
    FieldInfo{"evt.type", evt_type, S},
    FieldInfo{"evt.dir", evt_dir, S},
    FieldInfo{"evt.time", evt_time, I},
    FieldInfo{"evt.rawtime", evt_rawtime, I},
    FieldInfo{"evt.num", evt_num, I},
    FieldInfo{"evt.arg", evt_arg, S, FieldArg::event_argument},
    FieldInfo{"evt.args", evt_args, S},
    FieldInfo{"evt.res", evt_res, S},
    FieldInfo{"evt.rawres", evt_rawres, I},
    FieldInfo{"evt.failed", evt_failed, B},
    FieldInfo{"evt.is_open_read", evt_is_open_read, B},
    FieldInfo{"evt.is_open_write", evt_is_open_write, B},
    FieldInfo{"evt.is_open_exec", evt_is_open_exec, B},
    FieldInfo{"evt.hostname", evt_hostname, S},
    FieldInfo{"evt.source", evt_source, S},
    FieldInfo{"proc.name", proc_name, S},
    FieldInfo{"proc.comm", proc_comm, S},
    FieldInfo{"proc.exe", proc_exe, S},
    FieldInfo{"proc.exepath", proc_exepath, S},
    FieldInfo{"proc.cmdline", proc_cmdline, S},
    FieldInfo{"proc.args", proc_args, S},
    FieldInfo{"proc.pid", proc_pid, I},
    FieldInfo{"proc.ppid", proc_ppid, I},
    FieldInfo{"proc.pname", proc_pname, S},
    FieldInfo{"proc.pcmdline", proc_pcmdline, S},
    FieldInfo{"proc.pexe", proc_pexe, S},
    FieldInfo{"proc.pexepath", proc_pexepath, S},
    FieldInfo{"proc.aname", proc_aname, S, FieldArg::ancestor},
    FieldInfo{"proc.apid", proc_apid, I, FieldArg::ancestor},
    FieldInfo{"proc.aexe", proc_aexe, S, FieldArg::ancestor},
    FieldInfo{"proc.aexepath", proc_aexepath, S, FieldArg::ancestor},
    FieldInfo{"proc.acmdline", proc_acmdline, S, FieldArg::ancestor},
    FieldInfo{"proc.tty", proc_tty, I},
    FieldInfo{"proc.cwd", proc_cwd, S},
    FieldInfo{"proc.duration", proc_duration, I},
    FieldInfo{"proc.is_exe_from_memfd", proc_is_exe_from_memfd, B},
    FieldInfo{"proc.is_exe_upper_layer", proc_is_exe_upper_layer, B},
    FieldInfo{"proc.vpid", proc_vpid, I},
    FieldInfo{"proc.pvpid", proc_pvpid, I},
    FieldInfo{"proc.vpgid", proc_vpgid, I},
    FieldInfo{"proc.is_vpgid_leader", proc_is_vpgid_leader, B},
    FieldInfo{"proc.exe_ino", proc_exe_ino, I},
    FieldInfo{"proc.exe_ino.ctime", proc_exe_ino_ctime, I},
    FieldInfo{"proc.exe_ino.mtime", proc_exe_ino_mtime, I},
    FieldInfo{"proc.exe_ino.ctime_duration_proc_start", proc_exe_ino_ctime_duration_proc_start, I},
    FieldInfo{"proc.stdin.type", proc_stdin_type, S},
    FieldInfo{"proc.stdout.type", proc_stdout_type, S},
    FieldInfo{"proc.stderr.type", proc_stderr_type, S},
    FieldInfo{"proc.stdin.name", proc_stdin_name, S},
    FieldInfo{"proc.stdout.name", proc_stdout_name, S},
    FieldInfo{"proc.stderr.name", proc_stderr_name, S},
    FieldInfo{"proc.stdin.is_server", proc_stdin_is_server, B},
    FieldInfo{"proc.stdout.is_server", proc_stdout_is_server, B},
    FieldInfo{"proc.stderr.is_server", proc_stderr_is_server, B},
    FieldInfo{"thread.tid", thread_tid, I},
    FieldInfo{"thread.cap_effective", thread_cap_effective, S},
    FieldInfo{"thread.cap_permitted", thread_cap_permitted, S},
    FieldInfo{"user.uid", user_uid, I},
    FieldInfo{"user.name", user_name, S},
    FieldInfo{"user.loginuid", user_loginuid, I},
    FieldInfo{"user.loginname", user_loginname, S},
    FieldInfo{"group.gid", group_gid, I},
    FieldInfo{"group.name", group_name, S},
    FieldInfo{"fd.num", fd_num, I},
    FieldInfo{"fd.name", fd_name, S},
    FieldInfo{"fd.nameraw", fd_nameraw, S},
    FieldInfo{"fd.directory", fd_directory, S},
    FieldInfo{"fd.filename", fd_filename, S},
    FieldInfo{"fd.typechar", fd_typechar, S},
    FieldInfo{"fd.type", fd_type, S},
    FieldInfo{"fd.sockfamily", fd_sockfamily, S},
    FieldInfo{"fd.l4proto", fd_l4proto, S},
    FieldInfo{"fd.connected", fd_connected, B},
    FieldInfo{"fd.sip", fd_sip, IP},
    FieldInfo{"fd.cip", fd_cip, IP},
    FieldInfo{"fd.lip", fd_lip, IP},
    FieldInfo{"fd.rip", fd_rip, IP},
    FieldInfo{"fd.dip", fd_dip, IP},
    FieldInfo{"fd.ip", fd_ip, IP},
    FieldInfo{"fd.sport", fd_sport, I},
    FieldInfo{"fd.cport", fd_cport, I},
    FieldInfo{"fd.lport", fd_lport, I},
    FieldInfo{"fd.rport", fd_rport, I},
    FieldInfo{"fd.dport", fd_dport, I},
    FieldInfo{"fd.port", fd_port, I},
    FieldInfo{"fd.net", fd_net, NET},
    FieldInfo{"fd.snet", fd_snet, NET},
    FieldInfo{"fd.cnet", fd_cnet, NET},
    FieldInfo{"fd.lnet", fd_lnet, NET},
    FieldInfo{"fd.rnet", fd_rnet, NET},
    FieldInfo{"fd.is_server", fd_is_server, B},
    FieldInfo{"container.id", container_id, S},
    FieldInfo{"container.name", container_name, S},
    FieldInfo{"container.info", container_info, S},
    FieldInfo{"container.full_id", container_full_id, S},
    FieldInfo{"container.type", container_type, S},
    FieldInfo{"container.image", container_image, S},
    FieldInfo{"container.image.id", container_image_id, S},
    FieldInfo{"container.image.repository", container_image_repository, S},
    FieldInfo{"container.image.tag", container_image_tag, S},
    FieldInfo{"container.image.digest", container_image_digest, S},
    FieldInfo{"container.privileged", container_privileged, B},
    FieldInfo{"container.host_pid", container_host_pid, B},
    FieldInfo{"container.host_network", container_host_network, B},
    FieldInfo{"container.host_ipc", container_host_ipc, B},
    FieldInfo{"container.mounts", container_mounts, S},
    FieldInfo{"container.mount", container_mount, S, FieldArg::key},
    FieldInfo{"container.mount.source", container_mount_source, S, FieldArg::key},
    FieldInfo{"container.mount.dest", container_mount_dest, S, FieldArg::key},
    FieldInfo{"container.mount.mode", container_mount_mode, S, FieldArg::key},
    FieldInfo{"container.mount.rdwr", container_mount_rdwr, S, FieldArg::key},
    FieldInfo{"container.mount.propagation", container_mount_propagation, S, FieldArg::key},
    FieldInfo{"container.start_ts", container_start_ts, I},
    FieldInfo{"container.duration", container_duration, I},
    FieldInfo{"container.label", container_label, S, FieldArg::key},
    FieldInfo{"k8s.pod.name", k8s_pod_name, S},
    FieldInfo{"k8s.ns.name", k8s_ns_name, S},
    FieldInfo{"k8s.pod.uid", k8s_pod_uid, S},
    FieldInfo{"k8s.pod.id", k8s_pod_uid, S},  // Falco's older name of k8s.pod.uid
    FieldInfo{"k8s.pod.label", k8s_pod_label, S, FieldArg::key},
    FieldInfo{"k8s.pod.labels", k8s_pod_labels, S},
};
// Every FieldId has one entry, plus k8s.pod.id (an alias).
static_assert(kFields.size() == static_cast<std::size_t>(FieldId::count_) + 1);

// Falco's syscall-source fields vigil does not implement (from Falco's field reference).
constexpr std::string_view kFalcoOnlyFields[] = {
    "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.datetime.s", "evt.rawtime.s", "evt.rawtime.ns",
    "evt.reltime", "evt.reltime.s", "evt.reltime.ns", "evt.pluginname", "evt.plugininfo", "evt.is_async",
    "evt.asynctype", "evt.latency", "evt.latency.s", "evt.latency.ns", "evt.latency.human", "evt.deltatime",
    "evt.deltatime.s", "evt.deltatime.ns", "evt.outputtime", "evt.type.is", "syscall.type", "evt.category",
    "evt.cpu", "evt.rawarg", "evt.info", "evt.buffer", "evt.buflen", "evt.is_io", "evt.is_io_read",
    "evt.is_io_write", "evt.io_dir", "evt.is_wait", "evt.wait_latency", "evt.is_syslog", "evt.count",
    "evt.count.error", "evt.count.error.file", "evt.count.error.net", "evt.count.error.memory",
    "evt.count.error.other", "evt.count.exit", "evt.around", "evt.abspath", "evt.abspath.src", "evt.abspath.dst",
    "evt.is_open_create", "proc.exe_ino.ctime_duration_pidns_start", "proc.pidns_init_start_ts", "proc.cmdnargs",
    "proc.cmdlenargs", "proc.exeline", "proc.env", "proc.aenv", "proc.loginshellid", "proc.sid", "proc.sname",
    "proc.sid.exe", "proc.sid.exepath", "proc.vpgid.name", "proc.vpgid.exe", "proc.vpgid.exepath", "proc.pgid",
    "proc.pgid.name", "proc.pgid.exe", "proc.pgid.exepath", "proc.ppid.duration", "proc.pid.ts", "proc.ppid.ts",
    "proc.is_exe_writable", "proc.is_sid_leader", "proc.is_pgid_leader", "proc.fdopencount", "proc.fdlimit",
    "proc.fdusage", "proc.vmsize", "proc.vmrss", "proc.vmswap", "proc.nthreads", "proc.nchilds",
    "proc.is_container_healthcheck", "proc.is_container_liveness_probe", "proc.is_container_readiness_probe",
    "thread.pfmajor", "thread.pfminor", "thread.ismain", "thread.vtid", "thread.exectime", "thread.totexectime",
    "thread.cgroups", "thread.cgroup", "thread.cpu", "thread.cpu.user", "thread.cpu.system", "thread.vmsize",
    "thread.vmrss", "thread.cap_inheritable", "user.homedir", "user.shell", "container.healthcheck",
    "container.liveness_probe", "container.readiness_probe", "container.ip", "container.cni.json", "fd.uid",
    "fd.containername", "fd.containerdirectory", "fd.proto", "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto",
    "fd.name_changed", "fd.cip.name", "fd.sip.name", "fd.lip.name", "fd.rip.name", "fd.dev", "fd.dev.major",
    "fd.dev.minor", "fd.ino", "fd.types", "fd.is_upper_layer", "fd.is_lower_layer",
};

// Whole families of Falco fields (other plugins and sources, orchestrator metadata).
constexpr std::string_view kFalcoOnlyPrefixes[] = {
    "k8s.", "ka.", "k8smeta.", "mesos.", "marathon.", "span.", "evtin.", "jevt.", "fdlist.", "syslog.",
    "fs.path.", "cloudtrail.", "json.", "container.label.", "evt.rawarg.",
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

bool parse_index(std::string_view text, int& out) {
  if (text.empty() || text.size() > 6) return false;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size() && out >= 0;
}

void resolve_arg_positions(FieldRef& field) {
  for (std::size_t type = 0; type < events::kEventTypeCount; ++type) {
    const auto event_type = static_cast<events::EventType>(type);
    int position = -1;
    if (!field.arg_name.empty()) {
      position = event_arg_index(event_type, field.arg_name);
    } else if (field.index >= 0 && field.index < event_arg_count(event_type)) {
      position = field.index;
    }
    field.arg_index[type] = static_cast<std::int8_t>(position);
  }
}

}  // namespace

std::string_view field_type_name(FieldType type) noexcept {
  switch (type) {
    case FieldType::integer: return "number";
    case FieldType::string: return "string";
    case FieldType::boolean: return "bool";
    case FieldType::ip: return "ip address";
    case FieldType::ipnet: return "ip network";
  }
  return "?";
}

bool FieldRef::multi_valued() const {
  switch (id) {
    case FieldId::proc_aname: case FieldId::proc_apid: case FieldId::proc_aexe: case FieldId::proc_aexepath:
    case FieldId::proc_acmdline:
      return index < 0;
    case FieldId::fd_ip: case FieldId::fd_port: case FieldId::fd_net: return true;
    default: return false;
  }
}

FieldLookup lookup_field(std::string_view text, FieldRef& out, std::string& error) {
  std::string_view name = text;
  std::string_view argument;
  bool has_argument = false;
  if (const auto open = text.find('['); open != std::string_view::npos) {
    if (text.back() != ']') {
      error = "malformed field '" + std::string(text) + "': missing ']'";
      return FieldLookup::unknown;
    }
    name = text.substr(0, open);
    argument = text.substr(open + 1, text.size() - open - 2);
    has_argument = true;
  }
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
    error = "malformed field name '" + std::string(text) + "'";
    return FieldLookup::unknown;
  }
  out = FieldRef{};
  out.text.assign(text);
  // evt.arg.NAME: the argument is part of the name.
  if (!has_argument && name.starts_with("evt.arg.") && name.size() > 8) {
    out.id = FieldId::evt_arg;
    out.type = FieldType::string;
    out.arg_name.assign(name.substr(8));
    resolve_arg_positions(out);
    return FieldLookup::found;
  }
  for (const FieldInfo& info : kFields) {
    if (info.name != name) continue;
    out.id = info.id;
    out.type = info.type;
    switch (info.arg) {
      case FieldArg::none:
        if (has_argument) {
          error = "field '" + std::string(name) + "' takes no argument";
          return FieldLookup::unknown;
        }
        return FieldLookup::found;
      case FieldArg::ancestor:
        if (has_argument && !parse_index(argument, out.index)) {
          error = "field '" + std::string(name) + "' needs a number in brackets, not '" + std::string(argument) + "'";
          return FieldLookup::unknown;
        }
        return FieldLookup::found;
      case FieldArg::key:
        if (!has_argument || argument.empty()) {
          error = "field '" + std::string(name) + "' needs an argument in brackets: " + std::string(name) + "[N] or " +
                  std::string(name) + "[text]";
          return FieldLookup::unknown;
        }
        if (!parse_index(argument, out.index)) {
          out.index = -1;
          out.arg_name.assign(argument);
        }
        return FieldLookup::found;
      case FieldArg::event_argument:
        if (!has_argument) {
          error = "field 'evt.arg' needs an argument: evt.arg.NAME or evt.arg[N]";
          return FieldLookup::unknown;
        }
        if (!parse_index(argument, out.index)) out.arg_name.assign(argument);
        resolve_arg_positions(out);
        return FieldLookup::found;
    }
  }
  if (std::find(std::begin(kFalcoOnlyFields), std::end(kFalcoOnlyFields), name) != std::end(kFalcoOnlyFields))
    return FieldLookup::unsupported;
  for (std::string_view prefix : kFalcoOnlyPrefixes) {
    if (name.starts_with(prefix)) return FieldLookup::unsupported;
  }
  error = "unknown field '" + std::string(text) + "'";
  return FieldLookup::unknown;
}

}  // namespace vigil::rules
