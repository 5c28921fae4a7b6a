#pragma once
// The fields conditions and outputs can name: vigil's own table (name, type, argument) and
// the names Falco knows but vigil does not implement (so a rule using them is skipped with a
// warning instead of failing as a typo would).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/event.h"

namespace vigil::rules {

enum class FieldType : std::uint8_t { integer, string, boolean, ip, ipnet };
std::string_view field_type_name(FieldType type) noexcept;

enum class FieldId : std::uint16_t {
  evt_type, evt_dir, evt_time, evt_rawtime, evt_num, evt_arg, evt_args, evt_res, evt_rawres, evt_failed,
  evt_is_open_read, evt_is_open_write, evt_is_open_exec, evt_hostname, evt_source,
  proc_name, proc_comm, proc_exe, proc_exepath, proc_cmdline, proc_args, proc_pid, proc_ppid, proc_pname,
  proc_pcmdline, proc_pexe, proc_pexepath, proc_aname, proc_apid, proc_aexe, proc_aexepath, proc_acmdline, proc_tty,
  proc_cwd, proc_duration, proc_is_exe_from_memfd, proc_is_exe_upper_layer,
  proc_vpid, proc_pvpid, proc_vpgid, proc_is_vpgid_leader,
  proc_exe_ino, proc_exe_ino_ctime, proc_exe_ino_mtime, proc_exe_ino_ctime_duration_proc_start,
  proc_stdin_type, proc_stdout_type, proc_stderr_type, proc_stdin_name, proc_stdout_name, proc_stderr_name,
  proc_stdin_is_server, proc_stdout_is_server, proc_stderr_is_server,
  thread_tid, thread_cap_effective, thread_cap_permitted,
  user_uid, user_name, user_loginuid, user_loginname, group_gid, group_name,
  fd_num, fd_name, fd_nameraw, fd_directory, fd_filename, fd_typechar, fd_type, fd_sockfamily, fd_l4proto,
  fd_connected, fd_sip, fd_cip, fd_lip, fd_rip, fd_dip, fd_ip, fd_sport, fd_cport, fd_lport, fd_rport, fd_dport,
  fd_port, fd_net, fd_snet, fd_cnet, fd_lnet, fd_rnet, fd_is_server,
  // Container and Kubernetes fields (extract_container): keep them last, container_id first.
  container_id, container_name, container_info, container_full_id, container_type, container_image,
  container_image_id, container_image_repository, container_image_tag, container_image_digest,
  container_privileged, container_host_pid, container_host_network, container_host_ipc, container_mounts,
  container_mount, container_mount_source, container_mount_dest, container_mount_mode, container_mount_rdwr,
  container_mount_propagation, container_start_ts, container_duration, container_label,
  k8s_pod_name, k8s_ns_name, k8s_pod_uid, k8s_pod_label, k8s_pod_labels,
  count_
};

// How a field takes its argument (the part in brackets, or after evt.arg.).
enum class FieldArg : std::uint8_t {
  none,            // no argument allowed
  ancestor,        // proc.aname[N]: optional level; without it, any ancestor
  event_argument,  // evt.arg.NAME or evt.arg[N]: required
  key,             // container.mount.dest[/proc*], container.label[app]: required, a number (index)
                   // or text (arg_name)
};

struct FieldInfo {
  std::string_view name;
  FieldId id;
  FieldType type;
  FieldArg arg = FieldArg::none;
};

// A field as written in a condition or output, resolved.
struct FieldRef {
  FieldId id = FieldId::evt_type;
  FieldType type = FieldType::string;
  std::string text;              // as written: "proc.aname[2]", "evt.arg.flags"
  std::string arg_name;          // evt.arg.NAME; the text of a key argument
  int index = -1;                // evt.arg[N], proc.aname[N]; -1: none
  // evt.arg: the argument's position per event type (-1: that type has none), resolved once.
  std::array<std::int8_t, events::kEventTypeCount> arg_index{};
  bool multi_valued() const;     // proc.aname (any ancestor), fd.ip, fd.port, fd.net
};

enum class FieldLookup : std::uint8_t {
  found,
  unsupported,  // a Falco field vigil does not implement
  unknown,      // neither vigil nor Falco know it (or a bad argument: see error)
};

// Resolves "name", "name[arg]" or "evt.arg.NAME". On unknown, error says why.
FieldLookup lookup_field(std::string_view text, FieldRef& out, std::string& error);

}  // namespace vigil::rules
