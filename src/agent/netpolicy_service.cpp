// The agent's network policy (see netpolicy_service.h).
#include "agent/netpolicy_service.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <chrono>
#include <filesystem>

#include "state/cgroup_paths.h"
#include "state/container_pattern.h"

namespace vigil::agent {
namespace {

constexpr std::size_t kMaxKnownExecutables = 65536;
constexpr std::size_t kMaxCgroupWalk = 1 << 16;

std::uint32_t kernel_dev_of(dev_t device) { return static_cast<std::uint32_t>(major(device) << 20 | minor(device)); }

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string address_text(std::uint8_t family, const std::uint8_t* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == VIGIL_NP_FAMILY_INET6 ? AF_INET6 : AF_INET, addr, text, sizeof(text));
  return text;
}

const char* hook_name(std::uint8_t hook) {
  switch (hook) {
    case VIGIL_NP_HOOK_CONNECT: return "connect";
    case VIGIL_NP_HOOK_SENDMSG: return "sendmsg";
    case VIGIL_NP_HOOK_SKB: return "skb";
    case VIGIL_NP_HOOK_XDP: return "xdp";
    case VIGIL_NP_HOOK_TC: return "tc";
  }
  return "?";
}

}  // namespace

Result<netpolicy::PolicySet> load_netpolicy_files(const std::vector<std::string>& files, bool audit_all) {
  std::vector<netpolicy::Diagnostic> diagnostics;
  netpolicy::PolicySet set = netpolicy::load_policy_files(files, diagnostics);
  if (!diagnostics.empty()) {
    std::string message = diagnostics.front().to_string();
    if (diagnostics.size() > 1) message += " (and " + std::to_string(diagnostics.size() - 1) + " more errors)";
    return fail(message);
  }
  if (audit_all)
    for (auto& policy : set.policies) policy.mode = netpolicy::Mode::audit;
  return set;
}

Result<std::unique_ptr<NetPolicyService>> NetPolicyService::start(const NetPolicyConfig& config, FlowSink sink,
                                                                  bool apply) {
  auto service = std::unique_ptr<NetPolicyService>(new NetPolicyService());
  service->config_ = config;
  service->sink_ = std::move(sink);
  service->boot_to_real_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
  auto root = state::CgroupPaths::find_cgroup2_mount();
  if (!root) return fail("netpolicy: " + root.error().message);
  service->cgroup_root_ = *root;
  auto set = load_netpolicy_files(config.files, config.audit_all);
  if (!set) return fail("netpolicy: " + set.error().message);
  service->set_ = std::move(*set);
  probe::NetPolicyKernelOptions options;
  options.pin_dir = config.pin_dir;
  options.cgroup_dir = config.cgroup;
  options.host_interfaces = config.host_interfaces;
  auto kernel = probe::NetPolicyKernel::open(options);
  if (!kernel) return fail("netpolicy: " + kernel.error().message);
  service->kernel_.emplace(std::move(*kernel));
  {
    std::lock_guard lock(service->mutex_);
    if (apply) {
      if (auto applied = service->apply_locked(true); !applied) return fail("netpolicy: " + applied.error().message);
    } else {
      // Names only: what these files compile to, for both generations.
      auto compiled = netpolicy::compile(service->set_, service->resolver_locked());
      if (compiled) service->compiled_[0] = service->compiled_[1] = std::move(*compiled);
    }
    service->apply_enabled_ = apply;
  }
  if (service->sink_) service->thread_ = std::thread([raw = service.get()] { raw->loop(); });
  return service;
}

NetPolicyService::~NetPolicyService() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Result<void> NetPolicyService::reload(const NetPolicyConfig& config) {
  auto set = load_netpolicy_files(config.files, config.audit_all);
  if (!set) return fail("netpolicy: " + set.error().message);
  std::lock_guard lock(mutex_);
  netpolicy::PolicySet previous = std::move(set_);
  set_ = std::move(*set);
  if (auto applied = apply_locked(true); !applied) {
    set_ = std::move(previous);
    return fail("netpolicy: " + applied.error().message);
  }
  config_.files = config.files;
  config_.audit_all = config.audit_all;
  return {};
}

std::uint32_t NetPolicyService::signer_id_locked(std::string_view keyring) {
  auto [it, inserted] = signer_ids_.try_emplace(std::string(keyring), static_cast<std::uint32_t>(signer_ids_.size() + 1));
  return it->second;
}

netpolicy::SubjectResolver NetPolicyService::resolver_locked() {
  netpolicy::SubjectResolver resolver;
  // One walk of the cgroup tree per apply: container id -> cgroup ids.
  auto containers = std::make_shared<std::vector<std::pair<std::string, std::uint64_t>>>();
  std::error_code error;
  std::size_t walked = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(
           cgroup_root_, std::filesystem::directory_options::skip_permission_denied, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (++walked > kMaxCgroupWalk) break;
    if (!it->is_directory(error)) continue;
    const std::string relative = it->path().string().substr(cgroup_root_.size());
    const auto match = state::match_container_cgroup(relative);
    if (!match) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    // Only the container's own cgroup (its sub-cgroups are found as descendants in the kernel).
    const std::string_view leaf = std::string_view(relative).substr(relative.rfind('/') + 1);
    if (leaf.find(match->full_id) == std::string_view::npos) continue;
    containers->emplace_back(std::string(match->full_id), st.st_ino);
  }
  const std::string root = cgroup_root_;
  resolver.cgroup_ids = [containers, root](const netpolicy::SubjectSelector& selector) {
    std::vector<std::uint64_t> ids;
    if (selector.kind == netpolicy::SubjectKind::cgroup) {
      struct stat st {};
      if (::stat((root + selector.value).c_str(), &st) == 0) ids.push_back(st.st_ino);
      return ids;
    }
    for (const auto& [id, cgroup] : *containers) {
      if (::fnmatch(selector.value.c_str(), id.c_str(), 0) == 0 ||
          ::fnmatch(selector.value.c_str(), id.substr(0, state::kShortContainerIdLength).c_str(), 0) == 0)
        ids.push_back(cgroup);
    }
    return ids;
  };
  resolver.signer_id = [this](std::string_view keyring) { return signer_id_locked(keyring); };
  resolver.exe_path_ids = [this](std::string_view glob) {
    std::vector<std::uint32_t> ids;
    const std::string pattern(glob);
    for (const auto& [path, id] : exe_path_ids_)
      if (::fnmatch(pattern.c_str(), path.c_str(), 0) == 0) ids.push_back(id);
    return ids;
  };
  return resolver;
}

Result<void> NetPolicyService::apply_locked(bool force) {
  auto resolver = resolver_locked();
  netpolicy::Capacity capacity = kernel_->capacity();
  auto compiled = netpolicy::compile(set_, resolver, capacity);
  if (!compiled) return std::unexpected(compiled.error());
  auto keys_equal = [](const std::vector<netpolicy::CompiledSubjectKey>& a,
                       const std::vector<netpolicy::CompiledSubjectKey>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i].kind != b[i].kind || a[i].value != b[i].value || a[i].identity != b[i].identity) return false;
    return true;
  };
  if (!force && keys_equal(compiled->subject_keys, applied_keys_)) return {};
  auto report = kernel_->apply(*compiled);
  if (!report) return std::unexpected(report.error());
  applied_keys_ = compiled->subject_keys;
  last_apply_ = {{"generation", report->generation},
                 {"write_us", report->write.count()},
                 {"retire_us", report->retire.count()},
                 {"prefixes", report->prefixes},
                 {"subjects", compiled->identities.size() - 1},
                 {"workloads", compiled->subject_keys.size()},
                 {"warnings", compiled->warnings}};
  compiled_[report->generation & 1] = std::move(*compiled);
  // Exe identities follow the new globs: every executable seen gets its facts again.
  for (const auto& [key, exe] : executables_) {
    std::uint32_t exe_id = 0;
    if (auto it = exe_path_ids_.find(exe.path); it != exe_path_ids_.end()) exe_id = it->second;
    (void)kernel_->set_exe_facts(exe.kernel_dev, exe.inode, exe.signer.empty() ? 0 : signer_id_locked(exe.signer), exe_id);
  }
  return {};
}

void NetPolicyService::on_exec(const ExecAppraisal& exec) {
  std::lock_guard lock(mutex_);
  const std::uint32_t kernel_dev = kernel_dev_of(exec.device);
  const auto key = std::make_pair(kernel_dev, static_cast<std::uint64_t>(exec.inode));
  auto it = executables_.find(key);
  if (it == executables_.end()) {
    if (executables_.size() >= kMaxKnownExecutables) executables_.erase(executables_.begin());
    it = executables_.emplace(key, KnownExe{kernel_dev, exec.inode, {}, {}}).first;
  }
  KnownExe& known = it->second;
  if (!exec.path.empty()) known.path = std::string(exec.path);
  // Only a pass names a signer: a failed (or changed, or unappraised) exec drops it.
  known.signer = exec.appraised && exec.passed ? std::string(exec.keyring) : std::string();
  std::uint32_t exe_id = 0;
  if (!known.path.empty()) {
    auto [path_it, inserted] =
        exe_path_ids_.try_emplace(known.path, static_cast<std::uint32_t>(exe_path_ids_.size() + 1));
    exe_id = path_it->second;
    if (inserted) {
      // A new path may match an exe subject: re-resolve (cheap when nothing changes).
      bool wanted = false;
      for (const auto& policy : set_.policies)
        if (policy.subject.kind == netpolicy::SubjectKind::exe &&
            ::fnmatch(policy.subject.value.c_str(), known.path.c_str(), 0) == 0)
          wanted = true;
      if (wanted) (void)apply_locked(false);
    }
  }
  (void)kernel_->set_exe_facts(kernel_dev, exec.inode, known.signer.empty() ? 0 : signer_id_locked(known.signer), exe_id);
}

nlohmann::json NetPolicyService::flow_json(const vigil_np_flow& flow) {
  const netpolicy::CompiledPolicy& names = compiled_[flow.gen & 1];
  const bool audit = flow.flags & VIGIL_NP_FLAG_AUDIT;
  const bool denied = flow.verdict == VIGIL_NP_VERDICT_DENY;
  nlohmann::json out = {
      {"time_ns", static_cast<std::int64_t>(flow.timestamp_ns) + boot_to_real_ns_},
      {"direction", flow.direction == VIGIL_NP_DIR_EGRESS ? "egress" : "ingress"},
      {"verdict", denied ? (audit ? "would-deny" : "deny") : "allow"},
      {"mode", audit ? "audit" : "enforce"},
      {"protocol", netpolicy::protocol_name(static_cast<netpolicy::Protocol>(flow.protocol))},
      {"family", flow.family == VIGIL_NP_FAMILY_INET6 ? "ipv6" : "ipv4"},
      {"remote_addr", address_text(flow.family, flow.remote_addr)},
      {"remote_port", flow.remote_port},
      {"local_port", flow.local_port},
      {"hook", hook_name(flow.hook)},
      {"pid", flow.pid},
      {"uid", flow.uid},
      {"comm", std::string(flow.comm, strnlen(flow.comm, sizeof(flow.comm)))},
      {"cgroup_id", flow.cgroup_id},
      {"policy", flow.policy < names.policies.size() ? names.policies[flow.policy] : ""},
      {"rule", flow.rule < names.rules.size() ? names.rules[flow.rule].id : ""},
      {"subject", flow.identity < names.identities.size() && flow.identity > 0
                      ? names.identities[flow.identity].subject.to_string()
                      : ""},
  };
  return out;
}

void NetPolicyService::loop() {
  auto next_resolve = std::chrono::steady_clock::now();
  while (!stop_) {
    std::vector<vigil_np_flow> flows;
    auto polled = kernel_->poll_flows(std::chrono::milliseconds(100), [&](const vigil_np_flow& flow) { flows.push_back(flow); });
    (void)polled;
    std::vector<nlohmann::json> named;
    {
      std::lock_guard lock(mutex_);
      for (const auto& flow : flows) named.push_back(flow_json(flow));
      if (apply_enabled_ && std::chrono::steady_clock::now() >= next_resolve) {
        // New containers get their identity here (and gone ones lose it).
        (void)apply_locked(false);
        next_resolve = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.resolve_interval_ms);
      }
    }
    if (sink_)
      for (const auto& flow : named) sink_(flow);
  }
}

nlohmann::json NetPolicyService::status() const {
  std::lock_guard lock(mutex_);
  const std::uint32_t gen = kernel_->generation();
  const netpolicy::CompiledPolicy& compiled = compiled_[gen & 1];
  nlohmann::json policies = nlohmann::json::array();
  for (std::uint32_t id = 1; id < compiled.policies.size(); ++id) {
    const auto counters = kernel_->counters(id);
    policies.push_back({{"name", compiled.policies[id]},
                        {"mode", netpolicy::mode_name(compiled.policy_modes[id])},
                        {"allowed", counters.allowed},
                        {"denied", counters.denied},
                        {"audited", counters.audited},
                        {"lost", counters.lost}});
  }
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& attachment : kernel_->host_attachments())
    hosts.push_back({{"interface", attachment.interface}, {"mode", attachment.mode}});
  return {{"enabled", true},
          {"files", config_.files},
          {"pin_dir", config_.pin_dir},
          {"generation", gen},
          {"policies", policies},
          {"host_interfaces", hosts},
          {"last_apply", last_apply_}};
}

}  // namespace vigil::agent
