#pragma once
// vigil agent configuration (YAML). Every key is optional; defaults are safe (log mode).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "events/event.h"
#include "outputs/config.h"

namespace vigil::agent {

enum class Mode { enforce, log, fix };
// Kernel-side verdict cache (docs/agent.md): fanotify ignore marks guarded by eBPF.
enum class KernelCache { automatic, on, off };
// What a `watch` entry marks (docs/agent.md, "What a watch entry covers"): the whole filesystem
// (FAN_MARK_FILESYSTEM: every mount of it in every mount namespace, bind mounts included), or
// only that mount in the agent's namespace (FAN_MARK_MOUNT, an opt-in with a documented gap).
enum class WatchMarks { filesystem, mount };
std::string_view mode_name(Mode mode);

// The runtime-detection pipeline (config key `runtime`): eBPF events -> process table.
// Detection rules on those events (config key `rules`; docs/rules.md).
struct RulesConfig {
  bool enabled = true;
  std::vector<std::string> files;  // in order; empty: the embedded default ruleset (rules/default.yaml)
  bool kill = true;                // carry out `action: kill` (false: alert only, recorded as such)
  bool kernel_path_filter = true;  // let the rules' path interest filter file syscalls in the kernel
};

struct RuntimeConfig {
  bool enabled = false;
  size_t ring_buffer_bytes = size_t{8} << 20;
  // Syscalls recorded in the kernel besides what the rules need; nullopt: every one the probe
  // supports when no rules run, else only what the rules (and the process table) need.
  std::optional<std::vector<events::EventType>> syscalls;
  bool all_syscalls = false;  // `syscalls: [all]`: everything, whatever the rules need
  RulesConfig rules;
  outputs::OutputsConfig outputs;  // config key `outputs`; none given: stdout (text) and <state_dir>/alerts.jsonl
  bool outputs_given = false;
  std::string state_dir;           // copied from AgentConfig for the default alert file
};

// The console (config key `console`; docs/api.md, docs/store.md): store, HTTP API, dashboard.
struct ConsoleConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";
  int port = 7373;                 // 0: any free port (the agent prints the URL)
  std::string tls_cert, tls_key;   // both: HTTPS
  std::string token_file;          // default: <state_dir>/console.token
  bool token_for_loopback = false;  // require the token from this host too
  std::vector<std::string> allowed_hosts;  // Host names accepted besides localhost and the console's addresses
  int max_connections = 64;        // open at once (the agent reserves a descriptor for each)
  int max_connections_per_peer = 16;
  std::string store_path;          // default: <state_dir>/console.db
  unsigned max_age_hours = 24 * 7;
  std::uint64_t max_size_bytes = std::uint64_t{512} << 20;
  unsigned events_sampled_per_bucket = 5;  // events kept per container and syscall every 10 s
};

// Config `measurement`: where the agent's list is extended (docs/agent.md, "Restarts").
struct MeasurementConfig {
  std::uint32_t pcr = 10;  // boot_aggregate and every measure rule without pcr=
  // The kernel's own list: when it exists the kernel's IMA extends the PCRs it names, which the
  // agent then refuses to share (with a TPM). A setting for tests and unusual securityfs mounts.
  std::string kernel_list = "/sys/kernel/security/ima/ascii_runtime_measurements";
};

// The `netpolicy` section (docs/netpolicy.md): network policy files enforced in the kernel.
struct NetPolicyConfig {
  bool enabled = false;
  std::vector<std::string> files;                     // policy files, applied together
  bool audit_all = false;                             // `mode: audit`: every policy only audits
  std::string pin_dir = "/sys/fs/bpf/vigil/netpolicy";  // programs and maps pinned here
  std::string cgroup;                                 // cgroup v2 directory attached; empty: the root
  std::vector<std::string> host_interfaces;           // XDP (TC fallback) host deny list
  unsigned resolve_interval_ms = 1000;                // new containers get their identity within this
};

struct AgentConfig {
  Mode mode = Mode::log;
  std::string state_dir = "/var/lib/vigil";
  std::string policy_path;                      // IMA policy file; empty: built-in default
  std::string policy_text;                      // inline policy (config key `policy_text`), wins over policy_path
  crypto::HashAlgo hash = crypto::HashAlgo::sha256;  // file digests in the measurement list
  std::string tpm = "none";                     // none | device:/dev/tpmrm0 | swtpm:host=...,port=...
  std::map<std::string, std::string> keyrings;  // name -> directory; "default" is used when a rule names none
  std::vector<std::string> watch;               // paths whose filesystems (or mounts) are marked
  WatchMarks watch_marks = WatchMarks::filesystem;
  unsigned workers = 2;
  unsigned workers_per_uid = 0;                 // workers one uid's events may hold at once; 0: half, at least 1
  unsigned deadline_ms = 250;                   // answer every permission event within this
  // decision.on_timeout: answer when the deadline passes first (or the agent is stopping).
  // Unset: deny in enforce mode, allow in log and fix mode (on_timeout_allows()).
  std::optional<bool> fail_open;
  size_t cache_entries = 65536;
  size_t measured_versions = 131072;            // file versions remembered as measured (then re-measured)
  KernelCache kernel_cache = KernelCache::automatic;  // decision.kernel_cache: auto | on | off
  std::string audit_log;                        // default: <state_dir>/audit.jsonl
  std::uint64_t audit_log_max_bytes = std::uint64_t{64} << 20;  // audit_log_max_size_mb; 0: never rotate
  unsigned audit_log_max_files = 5;             // rotated audit files kept (audit.jsonl.1 is the newest)
  MeasurementConfig measurement;
  RuntimeConfig runtime;
  ConsoleConfig console;
  NetPolicyConfig netpolicy;
  std::string source;                           // file the config came from, for messages
};

// decision.on_timeout as it applies in the config's mode.
bool on_timeout_allows(const AgentConfig& config);
// decision.workers_per_uid as it applies: 1..workers.
unsigned workers_per_uid(const AgentConfig& config);

// Errors read "file:line: what was expected".
Result<AgentConfig> load_config(const std::string& path);
Result<AgentConfig> parse_config(const std::string& yaml_text, const std::string& source);

}  // namespace vigil::agent
