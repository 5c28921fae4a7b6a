// vigil netpolicy show|apply|flows|detach: the pinned kernel programs, directly or through a
// running agent (agent.ready in its state directory holds its pid).
#include "cli/netpolicy_live.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/config.h"
#include "agent/netpolicy_service.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "probe/netpolicy_kernel.h"

namespace vigil::cli {
namespace {

struct LiveArgs {
  std::vector<std::string> files;
  std::string pin_dir = "/sys/fs/bpf/vigil/netpolicy";
  std::string cgroup;
  std::vector<std::string> host_interfaces;
  std::string state_dir;  // a running agent's
  bool audit = false;
  bool json = false;
  double seconds = 0;  // flows: stop after this long (0: until interrupted)
};

// The pid of the agent whose state directory this is, or 0.
pid_t agent_pid(const std::string& state_dir) {
  std::ifstream ready(state_dir + "/agent.ready");
  long pid = 0;
  if (!(ready >> pid) || pid <= 0) return 0;
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return 0;
  return static_cast<pid_t>(pid);
}

agent::NetPolicyConfig config_of(const LiveArgs& args) {
  agent::NetPolicyConfig config;
  config.enabled = true;
  config.files = args.files;
  config.audit_all = args.audit;
  config.pin_dir = args.pin_dir;
  config.cgroup = args.cgroup;
  config.host_interfaces = args.host_interfaces;
  return config;
}

nlohmann::json agent_status(const std::string& state_dir, pid_t pid) {
  const std::string path = state_dir + "/status.json";
  const auto before = std::filesystem::exists(path) ? std::filesystem::last_write_time(path) : std::filesystem::file_time_type{};
  ::kill(pid, SIGUSR1);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    if (std::filesystem::exists(path) && std::filesystem::last_write_time(path) != before) break;
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto status = nlohmann::json::parse(text.str(), nullptr, false);
  if (status.is_discarded()) throw UsageError("cannot read " + path);
  return status;
}

void print_status(const nlohmann::json& netpolicy, bool json) {
  if (json) return print_json(netpolicy);
  if (!netpolicy.value("enabled", false)) {
    std::printf("network policy: not enabled\n");
    return;
  }
  std::printf("network policy: generation %d, pinned at %s\n", netpolicy.value("generation", 0),
              netpolicy.value("pin_dir", "").c_str());
  std::printf("%-32s %-8s %12s %12s %12s %8s\n", "POLICY", "MODE", "ALLOWED", "DENIED", "WOULD-DENY", "LOST");
  for (const auto& policy : netpolicy["policies"])
    std::printf("%-32s %-8s %12llu %12llu %12llu %8llu\n", policy["name"].get<std::string>().c_str(),
                policy["mode"].get<std::string>().c_str(), policy["allowed"].get<unsigned long long>(),
                policy["denied"].get<unsigned long long>(), policy["audited"].get<unsigned long long>(),
                policy["lost"].get<unsigned long long>());
  for (const auto& host : netpolicy["host_interfaces"])
    std::printf("host deny list on %s (%s)\n", host["interface"].get<std::string>().c_str(),
                host["mode"].get<std::string>().c_str());
  if (netpolicy.contains("last_apply") && netpolicy["last_apply"].is_object()) {
    const auto& last = netpolicy["last_apply"];
    std::printf("last apply: %zu prefixes, in force after %.3f s, old generation retired in %.3f s\n",
                last.value("prefixes", std::size_t{0}), last.value("write_us", 0) / 1e6, last.value("retire_us", 0) / 1e6);
    for (const auto& warning : last.value("warnings", nlohmann::json::array()))
      std::printf("warning: %s\n", warning.get<std::string>().c_str());
  }
}

// Through a running agent: the files its config names are checked here first (file:line
// errors, nothing is sent), then SIGHUP makes the agent re-read and apply them; this waits for
// the agent's reload count to move and reports its result. A signal, not the console API: only
// root or the agent's own user can send it, and the console stays read-only (a leaked console
// token cannot open the network).
int apply_through_agent(const LiveArgs& args) {
  if (!args.files.empty())
    throw UsageError("with --state-dir the agent applies the files its config names (netpolicy.files): edit those");
  const pid_t pid = agent_pid(args.state_dir);
  if (pid == 0) throw UsageError("no agent runs with state directory " + args.state_dir);
  const nlohmann::json before = agent_status(args.state_dir, pid);
  const nlohmann::json& netpolicy = before.contains("netpolicy") ? before["netpolicy"] : nlohmann::json::object();
  if (!netpolicy.value("enabled", false)) throw UsageError("the agent runs without netpolicy.enabled");
  std::vector<std::string> files;
  for (const auto& file : netpolicy.value("files", nlohmann::json::array()))
    if (file.is_string()) files.push_back(file.get<std::string>());
  std::vector<netpolicy::Diagnostic> diagnostics;
  const netpolicy::PolicySet set = netpolicy::load_policy_files(files, diagnostics);
  if (!diagnostics.empty()) {
    for (const auto& d : diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    std::fprintf(stderr, "vigil netpolicy apply: not sent to the agent; the policy in force stays\n");
    return kExitFailures;
  }
  const auto reload_count = [](const nlohmann::json& status) {
    const auto reload = status.find("reload");
    return reload != status.end() && reload->is_object() ? reload->value("count", std::uint64_t{0}) : 0;
  };
  const std::uint64_t count_before = reload_count(before);
  ::kill(pid, SIGHUP);
  nlohmann::json after;
  // The agent takes signals in order: the status it writes after this SIGHUP follows the reload.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    after = agent_status(args.state_dir, pid);
    if (reload_count(after) > count_before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  if (reload_count(after) <= count_before) {
    std::fprintf(stderr, "vigil netpolicy apply: the agent did not report the reload within 10 s\n");
    return kExitFailures;
  }
  const nlohmann::json& reload = after["reload"];
  if (reload.value("result", "") != "ok") {
    std::fprintf(stderr, "vigil netpolicy apply: the agent refused it, the policy in force stays: %s\n",
                 reload.value("error", "").c_str());
    return kExitFailures;
  }
  print_status(after.value("netpolicy", nlohmann::json::object()), args.json);
  return kExitOk;
}

int run_apply(const LiveArgs& args) {
  if (!args.state_dir.empty()) return apply_through_agent(args);
  if (args.files.empty()) throw UsageError("apply needs policy files (or --state-dir of a running agent)");
  auto service = agent::NetPolicyService::start(config_of(args), nullptr);
  if (!service) {
    std::fprintf(stderr, "vigil netpolicy apply: %s\n", service.error().message.c_str());
    return kExitFailures;
  }
  print_status((*service)->status(), args.json);
  return kExitOk;
}

int run_show(const LiveArgs& args) {
  if (!args.state_dir.empty()) {
    const pid_t pid = agent_pid(args.state_dir);
    if (pid == 0) throw UsageError("no agent runs with state directory " + args.state_dir);
    print_status(agent_status(args.state_dir, pid).value("netpolicy", nlohmann::json::object()), args.json);
    return kExitOk;
  }
  if (!probe::NetPolicyKernel::pinned(args.pin_dir)) {
    print_status({{"enabled", false}}, args.json);
    return kExitOk;
  }
  // Names come from the files given (the policy in force is not stored by name in the kernel).
  auto service = agent::NetPolicyService::start(config_of(args), nullptr, /*apply=*/false);
  if (!service) {
    std::fprintf(stderr, "vigil netpolicy show: %s\n", service.error().message.c_str());
    return kExitFailures;
  }
  print_status((*service)->status(), args.json);
  return kExitOk;
}

std::atomic<bool> interrupted{false};

int run_flows(const LiveArgs& args) {
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  auto print = [&](const nlohmann::json& flow) {
    if (args.json) {  // one line per flow, flushed: a pipe reader sees each as it happens
      print_json(flow);
      std::fflush(stdout);
      return;
    }
    std::printf("%s %-10s %-7s %s %s:%d port %d %s/%s subject %s pid %d %s\n", flow["direction"].get<std::string>().c_str(),
                flow["verdict"].get<std::string>().c_str(), flow["protocol"].get<std::string>().c_str(),
                flow["family"].get<std::string>().c_str(), flow["remote_addr"].get<std::string>().c_str(),
                flow["remote_port"].get<int>(), flow["local_port"].get<int>(), flow["policy"].get<std::string>().c_str(),
                flow["rule"].get<std::string>().c_str(), flow["subject"].get<std::string>().c_str(), flow["pid"].get<int>(),
                flow["comm"].get<std::string>().c_str());
    std::fflush(stdout);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(args.seconds * 1000));
  if (!args.state_dir.empty()) {
    // A running agent consumes the kernel's records; follow its audit log.
    const std::string path = args.state_dir + "/audit.jsonl";
    std::ifstream in(path);
    if (!in) throw UsageError("cannot read " + path);
    in.seekg(0, std::ios::end);
    std::string line;
    while (!interrupted && (args.seconds <= 0 || std::chrono::steady_clock::now() < deadline)) {
      if (!std::getline(in, line)) {
        in.clear();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      auto record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_discarded() && record.value("event", "") == "netflow") print(record);
    }
    return kExitOk;
  }
  if (!probe::NetPolicyKernel::pinned(args.pin_dir)) throw UsageError("no network policy is pinned at " + args.pin_dir);
  auto service = agent::NetPolicyService::start(config_of(args), print, /*apply=*/false);
  if (!service) {
    std::fprintf(stderr, "vigil netpolicy flows: %s\n", service.error().message.c_str());
    return kExitFailures;
  }
  while (!interrupted && (args.seconds <= 0 || std::chrono::steady_clock::now() < deadline))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return kExitOk;
}

void add_common(CLI::App* command, LiveArgs& args) {
  command->add_option("--pin-dir", args.pin_dir, "bpffs directory of the pinned programs and maps");
  command->add_option("--state-dir", args.state_dir, "State directory of a running agent: go through it");
  command->add_flag("--json", args.json, "JSON output");
}

}  // namespace

void add_netpolicy_live_commands(CLI::App& netpolicy, int& exit_code) {
  auto apply_args = std::make_shared<LiveArgs>();
  CLI::App* apply = netpolicy.add_subcommand(
      "apply", "Apply policy files to the kernel (pinned, atomic), or make a running agent re-read its own (--state-dir)");
  add_common(apply, *apply_args);
  apply->add_option("files", apply_args->files, "Policy files");
  apply->add_option("--cgroup", apply_args->cgroup, "cgroup v2 directory to attach to (default: the root)");
  apply->add_option("--host-interface", apply_args->host_interfaces, "Host interface for the deny list (XDP, TC fallback)");
  apply->add_flag("--audit", apply_args->audit, "Every policy only audits (logs would-deny, lets through)");
  apply->callback([apply_args, &exit_code] { exit_code = run_apply(*apply_args); });

  auto show_args = std::make_shared<LiveArgs>();
  CLI::App* show = netpolicy.add_subcommand("show", "What is in force, with counters per policy");
  add_common(show, *show_args);
  show->add_option("files", show_args->files, "Policy files in force (for names)");
  show->callback([show_args, &exit_code] { exit_code = run_show(*show_args); });

  auto flows_args = std::make_shared<LiveArgs>();
  CLI::App* flows = netpolicy.add_subcommand("flows", "Flow records as they happen: denied, would-deny, allowed (sampled)");
  add_common(flows, *flows_args);
  flows->add_option("files", flows_args->files, "Policy files in force (for names)");
  flows->add_option("--seconds", flows_args->seconds, "Stop after this many seconds");
  flows->callback([flows_args, &exit_code] { exit_code = run_flows(*flows_args); });

  auto detach_args = std::make_shared<LiveArgs>();
  CLI::App* detach = netpolicy.add_subcommand("detach", "Remove the pinned programs and maps: the network is open again");
  detach->add_option("--pin-dir", detach_args->pin_dir, "bpffs directory of the pinned programs and maps");
  detach->callback([detach_args, &exit_code] {
    auto detached = probe::NetPolicyKernel::detach(detach_args->pin_dir);
    if (!detached) std::fprintf(stderr, "vigil netpolicy detach: %s\n", detached.error().message.c_str());
    exit_code = detached ? kExitOk : kExitFailures;
  });
}

}  // namespace vigil::cli
