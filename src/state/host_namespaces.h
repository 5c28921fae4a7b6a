#pragma once
// The host's pid and mount namespaces: what "not in a container" means when no runtime says
// otherwise (docs/state.md, "Containers"). Read once, when the agent starts.
#include <cstdint>
#include <string>

namespace vigil::state {

struct HostNamespaces {
  std::uint32_t pid_ns = 0;  // inode of the initial pid namespace; 0 unknown
  std::uint32_t mnt_ns = 0;  // inode of the host's mount namespace; 0 unknown
  std::string pid_source;    // where each came from, for status and logs
  std::string mnt_source;

  bool known() const { return pid_ns != 0 && mnt_ns != 0; }

  // pid: the initial pid namespace, i.e. the agent's own when it runs in it (its
  // /proc/self/status NSpid has one number; it must, to see the host's pids), else PID 1's.
  // mount: PID 1's when /proc/1/ns/mnt can be read (the init system's: the agent itself may run
  // in a private one, e.g. under systemd's ProtectSystem=), else the agent's own.
  static HostNamespaces detect(const std::string& proc_root = "/proc");
};

}  // namespace vigil::state
