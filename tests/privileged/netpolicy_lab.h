#pragma once
// A network lab for the network policy tests: runc busybox containers, each in its own network
// namespace, joined by veth pairs to a bridge in a namespace the lab creates. Addresses only
// from 198.18.0.0/15 (IPv4 benchmarking range) and 2001:2::/48 (IPv6 benchmarking range), only
// inside those namespaces. The programs attach to a cgroup the lab creates (the containers'
// parent), pinned under a bpffs directory of its own. Everything is removed by the destructor,
// also when a test fails.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netpolicy/netpolicy.h"
#include "probe/netpolicy_kernel.h"
#include "support/runc_container.h"

namespace vigil::test {

struct LabWorkload {
  std::unique_ptr<RuncContainer> container;
  std::string ipv4;        // 198.18.0.(10 + index)
  std::string ipv6;        // 2001:2::(10 + index)
  std::string cgroup_dir;  // in the cgroup v2 hierarchy
  std::string host_veth;   // the bridge side, in the bridge namespace
  std::uint64_t cgroup_id = 0;
};

// Result of a socket operation run inside a workload: 0 or an errno value (ETIMEDOUT: no answer).
struct ProbeResult {
  int error = -1;
  pid_t pid = 0;
};

class NetLab {
 public:
  NetLab();
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // "" or why the lab cannot be built here (then the test skips, or fails under CI).
  const std::string& unavailable() const { return unavailable_; }

  LabWorkload& add_workload();
  std::vector<std::unique_ptr<LabWorkload>>& workloads() { return workloads_; }

  // Opens (or takes over) the kernel programs, attached to the lab's cgroup. Host interfaces
  // are names in the bridge namespace.
  Result<probe::NetPolicyKernel> open_kernel(std::vector<std::string> host_interfaces = {}, bool force_tc = false);
  const std::string& pin_dir() const { return pin_dir_; }
  const std::string& bridge_netns() const { return bridge_netns_; }

  // A resolver that knows the lab's containers (container id globs) and cgroup paths.
  netpolicy::SubjectResolver resolver() const;
  // Parses, checks and compiles policy text (fails the test on an error).
  netpolicy::CompiledPolicy compile(const std::string& text) const;

  // Runs `body` in a child process that joined the workload's cgroup and network namespace;
  // its return value (0 or an errno) comes back. Killed after `timeout`.
  ProbeResult run_in(const LabWorkload& workload, const std::function<int()>& body,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Starts a server child in the workload (TCP listeners on `ports`, IPv4 and IPv6, and a UDP
  // echo on each port); killed by the destructor.
  void serve(const LabWorkload& workload, const std::vector<int>& ports);

 private:
  std::string tag_;
  std::string unavailable_;
  std::string cgroup_root_;
  std::string lab_cgroup_;
  std::string pin_dir_;
  std::string bridge_netns_;
  bool netns_created_ = false;
  std::vector<std::unique_ptr<LabWorkload>> workloads_;
  std::vector<pid_t> servers_;
};

// Socket operations for run_in bodies: 0 or an errno value.
int tcp_connect(const std::string& address, int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));
// Sends one datagram and waits for the echo.
int udp_exchange(const std::string& address, int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));
// One ICMP echo over a raw socket; waits for the reply.
int icmp_echo(const std::string& address, std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));

}  // namespace vigil::test
