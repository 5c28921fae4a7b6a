#pragma once
// NetPolicyKernel: the network policy programs (bpf/netpolicy_*.bpf.c) loaded, attached and
// pinned, and the shared maps they read. Programs, links and maps are pinned under a bpffs
// directory: they keep enforcing the last policy applied after the process that loaded them
// exits or crashes, and the next open() takes them over (same maps, links switched to the new
// programs). detach() removes them. docs/netpolicy.md ("Agent stop and crash").
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "netpolicy/netpolicy.h"
#include "netpolicy_maps.h"

namespace vigil::probe {

struct NetPolicyKernelOptions {
  std::string pin_dir = "/sys/fs/bpf/vigil/netpolicy";  // on a bpffs mount
  // The cgroup v2 directory the socket and packet programs attach to: every process in it or
  // below is judged. Empty: the hierarchy's root (every process on the host).
  std::string cgroup_dir;
  // Host interfaces whose inbound packets are checked against the host deny list: XDP, or TC
  // (tcx) where XDP cannot attach.
  std::vector<std::string> host_interfaces;
  bool force_tc = false;  // skip XDP (tests of the fallback)
};

struct NetPolicyApplyReport {
  std::uint32_t generation = 0;       // now in force
  std::chrono::microseconds write{};  // new generation written beside the old one
  std::chrono::microseconds retire{}; // grace period + old generation deleted
  std::size_t prefixes = 0;
};

struct NetPolicyCounters {
  std::uint64_t allowed = 0, denied = 0, audited = 0, lost = 0;
};

struct HostAttachment {
  std::string interface;
  std::string mode;  // "xdp" or "tc"
};

class NetPolicyKernel {
 public:
  static Result<NetPolicyKernel> open(const NetPolicyKernelOptions& options);
  // Detaches every pinned link under pin_dir and removes the pins (maps included).
  static Result<void> detach(const std::string& pin_dir);
  // Whether programs are pinned (enforcing) under pin_dir.
  static bool pinned(const std::string& pin_dir);

  NetPolicyKernel(NetPolicyKernel&&) noexcept;
  NetPolicyKernel& operator=(NetPolicyKernel&&) noexcept;
  ~NetPolicyKernel();  // closes handles; the pinned programs keep enforcing

  // Prefix entries free for the next policy beside the one in force.
  std::size_t free_prefixes() const;
  netpolicy::Capacity capacity() const;
  // Writes `compiled` (its host deny list included) as the next generation, switches to it in one
  // map update, waits for an RCU grace period, deletes the old generation. On error (a map
  // full) the new generation's entries are deleted and the old policy stays in force.
  Result<NetPolicyApplyReport> apply(const netpolicy::CompiledPolicy& compiled);
  std::uint32_t generation() const;

  // What the agent knows of an executable (kernel dev encoding, inode): the signer id of the
  // keyring its appraisal passed with and the id of its path, 0 for none (both 0: forgotten).
  Result<void> set_exe_facts(std::uint32_t kernel_dev, std::uint64_t inode, std::uint32_t signer, std::uint32_t exe_path);

  // Counters of policy `policy` of the generation in force, summed over CPUs.
  NetPolicyCounters counters(std::uint32_t policy) const;

  // Waits up to `timeout` for flow records; returns how many were handed to on_flow.
  Result<std::size_t> poll_flows(std::chrono::milliseconds timeout, const std::function<void(const vigil_np_flow&)>& on_flow);

  const std::vector<HostAttachment>& host_attachments() const;

 private:
  struct State;
  explicit NetPolicyKernel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vigil::probe
