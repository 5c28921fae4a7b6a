#include "state/host_namespaces.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace vigil::state {

namespace {

std::uint32_t namespace_inode(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint32_t>(st.st_ino);
}

// Whether /proc/self/status says this process is in the initial pid namespace: its NSpid line
// has one number (one per level of nesting).
bool in_initial_pid_namespace(const std::string& proc_root) {
  std::ifstream status(proc_root + "/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("NSpid:")) continue;
    std::istringstream numbers(line.substr(6));
    int count = 0;
    std::string number;
    while (numbers >> number) ++count;
    return count == 1;
  }
  return false;
}

}  // namespace

HostNamespaces HostNamespaces::detect(const std::string& proc_root) {
  HostNamespaces host;
  if (in_initial_pid_namespace(proc_root)) {
    host.pid_ns = namespace_inode(proc_root + "/self/ns/pid");
    host.pid_source = "the agent's own (initial pid namespace)";
  }
  if (host.pid_ns == 0) {
    host.pid_ns = namespace_inode(proc_root + "/1/ns/pid");
    host.pid_source = "PID 1's";
  }
  host.mnt_ns = namespace_inode(proc_root + "/1/ns/mnt");
  host.mnt_source = "PID 1's";
  if (host.mnt_ns == 0) {
    host.mnt_ns = namespace_inode(proc_root + "/self/ns/mnt");
    host.mnt_source = "the agent's own (PID 1's cannot be read)";
  }
  return host;
}

}  // namespace vigil::state
