#pragma once
// The agent's network policy (docs/netpolicy.md): loads the policy files, resolves subjects on
// this host (containers and cgroups to cgroup ids, keyrings and executable paths to the ids the
// kernel's exe facts carry), applies them to the pinned kernel programs, keeps container
// identities current, names the kernel's flow records and hands them on.
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/integrity_engine.h"
#include "common/error.h"
#include "netpolicy/netpolicy.h"
#include "probe/netpolicy_kernel.h"

namespace vigil::agent {

// Loads, checks and compiles without touching the kernel (also `vigil netpolicy check`'s view
// of a config). `audit_all`: every policy only audits.
Result<netpolicy::PolicySet> load_netpolicy_files(const std::vector<std::string>& files, bool audit_all);

class NetPolicyService {
 public:
  // Called with each flow record, named (flow_json below), on the service's thread.
  using FlowSink = std::function<void(const nlohmann::json& flow)>;

  // Opens (or takes over) the pinned programs and applies the files. Without a sink no thread
  // runs (`vigil netpolicy apply`); `apply` false leaves the policy in force untouched and only
  // names records with the files' names (`vigil netpolicy flows`).
  static Result<std::unique_ptr<NetPolicyService>> start(const NetPolicyConfig& config, FlowSink sink, bool apply = true);
  ~NetPolicyService();  // stops the thread; the pinned programs keep enforcing the last policy

  // Re-reads the files and applies them atomically; on error the policy in force stays.
  Result<void> reload(const NetPolicyConfig& config);
  // The integrity engine's exec decisions: signer and exe identities of executables.
  void on_exec(const ExecAppraisal& exec);
  // Policies in force with their counters, generation, last apply.
  nlohmann::json status() const;
  const nlohmann::json& last_apply() const { return last_apply_; }

 private:
  NetPolicyService() = default;
  Result<void> apply_locked(bool force);
  netpolicy::SubjectResolver resolver_locked();
  std::uint32_t signer_id_locked(std::string_view keyring);
  void loop();
  nlohmann::json flow_json(const vigil_np_flow& flow);

  mutable std::mutex mutex_;
  NetPolicyConfig config_;
  std::optional<probe::NetPolicyKernel> kernel_;
  netpolicy::PolicySet set_;
  netpolicy::CompiledPolicy compiled_[2];  // by generation: names of both, for records in flight
  std::vector<netpolicy::CompiledSubjectKey> applied_keys_;
  std::map<std::string, std::uint32_t> signer_ids_;
  std::map<std::string, std::uint32_t> exe_path_ids_;
  struct KnownExe {
    std::uint32_t kernel_dev = 0;
    std::uint64_t inode = 0;
    std::string path;
    std::string signer;  // keyring its appraisal passed with, "" for none
  };
  std::map<std::pair<std::uint32_t, std::uint64_t>, KnownExe> executables_;
  nlohmann::json last_apply_;
  std::string cgroup_root_;
  std::int64_t boot_to_real_ns_ = 0;
  FlowSink sink_;
  bool apply_enabled_ = true;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace vigil::agent
