#include "agent/agent.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/audit_log.h"
#include "agent/console.h"
#include "agent/dashboard_files.h"
#include "agent/decision_cache.h"
#include "agent/fanotify_listener.h"
#include "agent/integrity_engine.h"
#include "agent/kernel_cache.h"
#include "agent/netpolicy_service.h"
#include "agent/runtime_monitor.h"
#include "agent/subject.h"
#include "agent/image_socket.h"
#include "agent/measurement_sink.h"
#include "agent/measurement_start.h"
#include "agent/recent_errors.h"
#include "agent/status_server.h"
#include "common/log.h"
#include "common/sd_notify.h"
#include "common/time_text.h"
#include "ima/measurement_list.h"
#include "tpm/tpm.h"

namespace vigil::agent {

struct Agent::Parts {
  AgentConfig config;
  // First, so it is destroyed last: the other parts feed its store until they are gone.
  std::unique_ptr<Console> console;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<DecisionCache> cache;
  std::unique_ptr<MeasurementSink> sink;
  std::unique_ptr<IntegrityEngine> engine;
  std::unique_ptr<NetPolicyService> netpolicy;  // network policy (netpolicy.enabled); the engine's exec observer
  std::unique_ptr<FanotifyListener> listener;
  std::unique_ptr<KernelVerdictCache> kernel_cache;  // after listener: destroyed first
  std::string kernel_cache_note;                     // why it is off, when it is
  std::unique_ptr<RuntimeMonitor> runtime;           // eBPF events -> process table (runtime.enabled)
  uint64_t marked_mask = 0;
  nlohmann::json list_start;  // how the measurement list started (measurement_start.h)
  RecentErrors recent_errors;   // for status(): failed measurements, extends, reloads, logged errors
  std::string reload_result = "none";  // of the last SIGHUP: none | ok | failed
  std::string reload_error;
  std::uint64_t reloads = 0;  // SIGHUPs handled: `vigil netpolicy apply` waits for it to move
};

namespace {

// status.json's kernel_cache: the exec guard's and the ignore marks' counters.
nlohmann::json kernel_cache_status(const KernelVerdictCache& cache, const std::string& note) {
  const KernelCacheStats& stats = cache.stats();
  nlohmann::json status = {{"enabled", cache.marks_enabled()},
                           {"exec_guard", true},
                           {"watched", stats.watched.load()},
                           {"ignored", stats.ignored.load()},
                           {"withdrawn", stats.withdrawn.load()},
                           {"kills", stats.kills.load()},
                           {"violations", stats.violations.load()},
                           {"tickets", stats.tickets.load()},
                           {"watch_failures", stats.watch_failures.load()},
                           {"ticket_failures", stats.ticket_failures.load()},
                           {"unlocked", stats.unlocked.load()}};
  if (!cache.marks_enabled()) status["why"] = note;
  return status;
}

Result<void> apply_marks(FanotifyListener& listener, const AgentConfig& config, uint64_t mask, uint64_t old_mask) {
  const MarkScope scope = config.watch_marks == WatchMarks::mount ? MarkScope::mount : MarkScope::filesystem;
  for (const auto& path : config.watch) {
    if (auto marked = listener.mark(path, scope, mask, old_mask); !marked) return marked;
  }
  return {};
}

// Every event holds an fd until answered: make sure the slots can never exhaust the limit.
// `console_fds`: the most the console holds (its connections are capped): they are not the
// listener's to count on, or a flood of connections would leave the kernel no descriptor to
// hand over a permission event with, and it denies the event (docs/agent.md, Console).
size_t raise_fd_limit_and_size_slots(size_t console_fds) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const size_t reserve = 512 + console_fds;  // one read batch of events, the agent's own files, the console
  const size_t available = limit.rlim_cur > reserve ? static_cast<size_t>(limit.rlim_cur) - reserve : 64;
  return std::min<size_t>(4096, std::max<size_t>(64, available));
}

// Every PCR the agent may extend: measurement.pcr and the pcr= of every measure rule.
std::set<std::uint32_t> extended_pcrs(const Ruleset& rules, const AgentConfig& config) {
  std::set<std::uint32_t> pcrs{config.measurement.pcr};
  for (const auto& rule : rules.policy.rules) {
    if (rule.action == ima::PolicyAction::measure) pcrs.insert(rule.pcr.value_or(config.measurement.pcr));
  }
  return pcrs;
}

}  // namespace

Agent::Agent(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Agent::~Agent() { stop(); }
const AgentConfig& Agent::config() const { return parts_->config; }
std::string Agent::console_url() const { return parts_->console ? parts_->console->url() : ""; }

Result<void> Agent::record_image(const image::ImageMeasurement& measurement) {
  std::string extend_error;
  auto recorded = parts_->sink->record(image::image_measurement_entry(measurement, parts_->config.measurement.pcr),
                                       &extend_error);
  if (!recorded) return recorded;
  parts_->audit->record({{"event", "image-measured"},
                         {"container", measurement.container},
                         {"manifest_digest", "sha256:" + measurement.manifest.hex()}});
  // Listed but not extended: the list no longer replays, which must not pass for measured.
  if (!extend_error.empty()) return fail("PCR extend failed: " + extend_error);
  return {};
}

Result<std::unique_ptr<Agent>> Agent::start(AgentConfig config) {
  auto parts = std::make_unique<Parts>();
  parts->config = std::move(config);
  const AgentConfig& cfg = parts->config;
  std::error_code error;
  std::filesystem::create_directories(cfg.state_dir, error);
  if (error) return fail("state_dir " + cfg.state_dir + ": " + error.message());
  ::chmod(cfg.state_dir.c_str(), 0700);

  auto rules = load_ruleset(cfg);
  if (!rules) return std::unexpected(rules.error());
  if (cfg.console.enabled) {
    auto console = Console::open(cfg.console);
    if (!console) return std::unexpected(console.error());
    parts->console = std::move(*console);
  }
  ConsoleFeed* feed = parts->console ? &parts->console->feed() : nullptr;
  auto audit = AuditLog::open(cfg.audit_log, {cfg.audit_log_max_bytes, cfg.audit_log_max_files});
  if (!audit) return std::unexpected(audit.error());
  parts->audit = std::move(*audit);
  parts->audit->set_observer([feed, errors = &parts->recent_errors](const nlohmann::json& entry) {
    if (feed) feed->on_audit(entry);
    // Audit records of failures are also the last errors `vigil status` shows.
    const std::string event = entry.value("event", "");
    if (event == "measurement-failure" || event == "pcr-extend-failure" || event == "reload-failed") {
      std::string message = event;
      if (entry.contains("path") && entry["path"].is_string()) message += " " + entry["path"].get<std::string>();
      if (entry.contains("reason") && entry["reason"].is_string()) message += ": " + entry["reason"].get<std::string>();
      errors->add(std::move(message));
    }
  });
  auto pcrs = tpm::open_pcr_backend(cfg.tpm);
  if (!pcrs) return std::unexpected(pcrs.error());
  const bool software_pcrs = cfg.tpm == "none";
  if (!software_pcrs) {
    if (auto apart = refuse_pcrs_of_kernel_ima(cfg.measurement.kernel_list, extended_pcrs(**rules, cfg)); !apart) {
      return std::unexpected(apart.error());
    }
  }
  // The list an earlier run left goes on when it replays to the PCRs (measurement_start.h).
  auto list = start_measurement_list(
      MeasurementStartOptions{cfg.state_dir, software_pcrs, cfg.measurement.pcr, cfg.hash}, **pcrs);
  if (!list) return fail("measurement list: " + list.error().message);
  parts->sink = std::make_unique<MeasurementSink>(std::move(list->log), std::move(*pcrs));
  if (feed) {
    parts->sink->set_observer([feed](const ima::MeasurementEntry& entry, std::size_t index, std::string_view verdict) {
      feed->on_measurement(entry, index, verdict);
    });
  }
  for (auto& entry : list->to_record) {
    const std::string name = entry.path;
    std::string extend_error;
    if (auto recorded = parts->sink->record(std::move(entry), &extend_error); !recorded || !extend_error.empty()) {
      return fail("recording " + name + ": " + (recorded ? extend_error : recorded.error().message));
    }
  }
  list->report["entries"] = parts->sink->log().size();
  parts->list_start = list->report;
  nlohmann::json audit_record = list->report;
  audit_record["event"] = "measurement-list";
  parts->audit->record(audit_record);
  if (!list->warning.empty()) log::warning("measurement list: " + list->warning);
  parts->cache = std::make_unique<DecisionCache>(cfg.cache_entries, cfg.measured_versions);
  parts->engine = std::make_unique<IntegrityEngine>(cfg, *parts->cache, *parts->audit, *parts->sink, *rules);
  for (const auto& warning : (*rules)->warnings) parts->audit->record({{"event", "warning"}, {"message", warning}});

  FanotifyListener::Options options;
  options.workers = cfg.workers;
  options.workers_per_uid = workers_per_uid(cfg);
  options.deadline = std::chrono::milliseconds(cfg.deadline_ms);
  options.on_deadline = on_timeout_allows(cfg) ? Verdict::allow : Verdict::deny;
  options.max_pending = raise_fd_limit_and_size_slots(static_cast<size_t>(console_descriptor_budget(cfg.console)));
  IntegrityEngine* engine = parts->engine.get();
  auto listener = FanotifyListener::create(
      options,
      [engine](int fd, pid_t pid, uint64_t mask, EventTicket& ticket) { return engine->decide(fd, pid, mask, ticket); },
      [engine](int fd) { engine->invalidate(fd); },
      [engine](int fd, pid_t pid, uint64_t mask) { return engine->decide_from_cache(fd, pid, mask); },
      [engine](int fd, pid_t pid, uint64_t owed, std::string_view why) {
        engine->record_unfinished_allow(fd, pid, owed, why);
      },
      [](pid_t pid) { return real_uid_of(pid); });
  if (!listener) return std::unexpected(listener.error());
  parts->listener = std::move(*listener);
  auto kernel_cache = KernelVerdictCache::create(cfg.kernel_cache, cfg.mode, *parts->listener, parts->kernel_cache_note);
  if (!kernel_cache) return std::unexpected(kernel_cache.error());
  parts->kernel_cache = std::move(*kernel_cache);
  if (parts->kernel_cache) {
    AuditLog* audit_log = parts->audit.get();
    DecisionCache* decisions = parts->cache.get();
    parts->kernel_cache->start_reporting([audit_log, decisions](const probe::GuardKill& kill) {
      const dev_t device = makedev(kill.inode.kernel_dev >> 20, kill.inode.kernel_dev & 0xfffff);
      decisions->invalidate(device, kill.inode.inode);
      const char* reason = !kill.changed ? "the verdict this exec met was withdrawn (denied, reloaded or evicted)"
                           : kill.from_ticket
                               ? "the executable changed between its exec decision and the exec"
                               : "the executable changed after its verdict was cached in the kernel";
      audit_log->record({{"event", kill.killed ? "exec-guard-kill" : "exec-guard-violation"},
                         {"verdict", kill.killed ? "deny" : "allow"}, {"pid", kill.pid}, {"uid", kill.uid},
                         {"comm", kill.comm}, {"device", device}, {"inode", kill.inode.inode}, {"reason", reason}});
    });
    parts->engine->set_kernel_cache(parts->kernel_cache.get());
  }
  if (cfg.netpolicy.enabled) {
    // Before the listener starts: every exec it decides reaches the signer/exe identities.
    AuditLog* audit_log = parts->audit.get();
    auto netpolicy = NetPolicyService::start(cfg.netpolicy, [audit_log](const nlohmann::json& flow) {
      nlohmann::json record = flow;
      record["event"] = "netflow";
      audit_log->record(std::move(record));
    });
    if (!netpolicy) return std::unexpected(netpolicy.error());
    parts->netpolicy = std::move(*netpolicy);
    NetPolicyService* service = parts->netpolicy.get();
    parts->engine->set_exec_observer([service](const ExecAppraisal& exec) { service->on_exec(exec); });
  }
  parts->listener->start();
  if (auto marked = apply_marks(*parts->listener, cfg, (*rules)->fanotify_mask, 0); !marked) {
    return std::unexpected(marked.error());
  }
  parts->marked_mask = (*rules)->fanotify_mask;
  if (cfg.runtime.enabled) {
    auto runtime = RuntimeMonitor::start(cfg.runtime, feed, cfg.console.events_sampled_per_bucket);
    if (!runtime) return std::unexpected(runtime.error());
    parts->runtime = std::move(*runtime);
  }
  parts->audit->record({{"event", "start"}, {"mode", mode_name(cfg.mode)}, {"watch", cfg.watch},
                        {"watch_marks", cfg.watch_marks == WatchMarks::mount ? "mount" : "filesystem"},
                        {"on_timeout", on_timeout_allows(cfg) ? "allow" : "deny"},
                        {"kernel_cache", parts->kernel_cache && parts->kernel_cache->marks_enabled()
                                             ? "on"
                                             : "off: " + parts->kernel_cache_note},
                        {"exec_guard", parts->kernel_cache ? "on" : "off: " + parts->kernel_cache_note},
                        {"pcrs", parts->sink->pcrs().describe()}, {"rules", (*rules)->policy.rules.size()}});
  auto agent = std::unique_ptr<Agent>(new Agent(std::move(parts)));
  if (agent->parts_->console) {
    if (auto served = agent->parts_->console->serve(agent->console_sources(), dashboard_files()); !served)
      return std::unexpected(served.error());
  }
  return agent;
}

ConsoleSources Agent::console_sources() const {
  Parts* p = parts_.get();
  ConsoleSources sources;
  sources.status = [this] { return status(); };
  sources.integrity = [p] {
    nlohmann::json pcrs = nlohmann::json::object();
    for (const auto& [bank, value] : p->sink->read_pcr(10)) pcrs[std::string(crypto::hash_name(bank))] = {{"10", value.hex()}};
    const auto& listener = p->listener->stats();
    return nlohmann::json{{"mode", mode_name(p->config.mode)},
                          {"watch", p->config.watch},
                          {"measurements", p->sink->log().size()},
                          {"pcrs", pcrs},
                          {"pcr_backend", p->sink->pcrs().describe()},
                          {"decisions",
                           {{"allowed", listener.allowed.load()},
                            {"denied", listener.denied.load()},
                            {"timeouts", listener.timeouts.load()}}}};
  };
  sources.policy = [p] {
    const auto ruleset = p->engine->ruleset();
    return nlohmann::json{{"source", ruleset->policy_source},
                          {"text", ruleset->policy_text},
                          {"rules", ruleset->policy.rules.size()},
                          {"keyrings", [&] {
                             nlohmann::json names = nlohmann::json::array();
                             for (const auto& [name, keyring] : ruleset->keyrings) names.push_back(name);
                             return names;
                           }()},
                          {"warnings", ruleset->warnings}};
  };
  sources.runtime = p->runtime.get();
  sources.mode = std::string(mode_name(p->config.mode));
  sources.watch = p->config.watch;
  return sources;
}

void Agent::note_error(std::string message) { parts_->recent_errors.add(std::move(message)); }

Result<void> Agent::reload() {
  auto result = reload_now();
  parts_->reload_result = result ? "ok" : "failed";
  parts_->reload_error = result ? "" : result.error().message;
  ++parts_->reloads;
  return result;
}

Result<void> Agent::reload_now() {
  AgentConfig& cfg = parts_->config;
  if (!cfg.source.empty() && cfg.source != "built-in") {
    // Policy and keyrings come from the config; re-read it for their paths and text.
    auto fresh = load_config(cfg.source);
    if (!fresh) {
      parts_->audit->record({{"event", "reload-failed"}, {"reason", fresh.error().message}});
      return std::unexpected(fresh.error());
    }
    cfg.policy_path = fresh->policy_path;
    cfg.policy_text = fresh->policy_text;
    cfg.keyrings = fresh->keyrings;
  }
  auto rules = load_ruleset(cfg);
  if (!rules) {
    parts_->audit->record({{"event", "reload-failed"}, {"reason", rules.error().message}});
    return std::unexpected(rules.error());
  }
  if (cfg.tpm != "none") {
    if (auto apart = refuse_pcrs_of_kernel_ima(cfg.measurement.kernel_list, extended_pcrs(**rules, cfg)); !apart) {
      parts_->audit->record({{"event", "reload-failed"}, {"reason", apart.error().message}});
      return apart;
    }
  }
  const uint64_t mask = (*rules)->fanotify_mask;
  if (mask != parts_->marked_mask) {
    // Marks first: if they cannot be placed, the old ruleset (and its marks) stay.
    if (auto marked = apply_marks(*parts_->listener, cfg, mask | parts_->marked_mask, parts_->marked_mask); !marked) {
      parts_->audit->record({{"event", "reload-failed"}, {"reason", marked.error().message}});
      return marked;
    }
  }
  parts_->engine->set_ruleset(*rules);
  parts_->engine->reset_kernel_cache();
  parts_->cache->clear();  // keyrings may have changed: earlier verdicts no longer hold
  if (mask != parts_->marked_mask) {
    (void)apply_marks(*parts_->listener, cfg, mask, mask | parts_->marked_mask);
    parts_->marked_mask = mask;
  }
  parts_->audit->record({{"event", "reload"}, {"rules", (*rules)->policy.rules.size()}});
  if (parts_->netpolicy) {
    if (!cfg.source.empty() && cfg.source != "built-in") {
      if (auto fresh = load_config(cfg.source)) {
        cfg.netpolicy.files = fresh->netpolicy.files;
        cfg.netpolicy.audit_all = fresh->netpolicy.audit_all;
      }
    }
    if (auto reloaded = parts_->netpolicy->reload(cfg.netpolicy); !reloaded) {
      parts_->audit->record({{"event", "reload-failed"}, {"reason", reloaded.error().message}});
      return reloaded;
    }
    parts_->audit->record({{"event", "netpolicy-reload"}, {"netpolicy", parts_->netpolicy->status()}});
  }
  return {};
}

void Agent::stop() {
  if (!parts_) return;
  // The listener first: its stop releases the watched filesystems (marks removed, every
  // pending event answered) before anything else can take time. The server reads the other
  // parts: it goes next. The store goes last, taking what they flushed.
  if (parts_->listener) parts_->listener->stop();
  if (parts_->console) parts_->console->stop_serving();
  parts_->runtime.reset();
  parts_->netpolicy.reset();  // the pinned programs keep enforcing (docs/netpolicy.md)
  if (parts_->console) parts_->console->flush();
}

nlohmann::json Agent::status() const {
  const auto& listener = parts_->listener->stats();
  const auto& engine = parts_->engine->stats();
  nlohmann::json reload = {{"result", parts_->reload_result}, {"count", parts_->reloads}};
  if (!parts_->reload_error.empty()) reload["error"] = parts_->reload_error;
  return {{"mode", mode_name(parts_->config.mode)},
          {"watch", parts_->config.watch},
          {"reload", reload},
          {"last_errors", parts_->recent_errors.to_json()},
          {"permission_events", listener.permission_events.load()},
          {"allowed", listener.allowed.load()},
          {"denied", listener.denied.load()},
          {"timeouts", listener.timeouts.load()},
          {"queue_full", listener.queue_full.load()},
          {"uid_share_full", listener.uid_share_full.load()},
          {"unfinished_allows", listener.unfinished_allows.load()},
          {"stop_answers", listener.stop_answers.load()},
          {"own_events", listener.own_events.load()},
          {"fast_answers", listener.fast_answers.load()},
          {"invalidations", listener.invalidations.load()},
          {"overflows", listener.overflows.load()},
          {"read_errors", listener.read_errors.load()},
          {"decision_latency", listener.latency.to_json()},
          {"decisions", engine.decisions.load()},
          {"cache_hits", engine.cache_hits.load()},
          {"appraisal_failures", engine.appraisal_failures.load()},
          {"measurements", engine.measurements.load()},
          {"measurement_failures", engine.measurement_failures.load()},
          {"fixed", engine.fixed.load()},
          {"fast_decisions", engine.fast_decisions.load()},
          {"violations", engine.violations.load()},
          {"abandoned_hashes", engine.abandoned_hashes.load()},
          {"measured_versions", [&] {
             const MeasuredVersions measured = parts_->cache->measured_versions();
             return nlohmann::json{{"capacity", measured.capacity}, {"size", measured.size},
                                   {"evicted", measured.evicted}};
           }()},
          {"measurement_list_entries", parts_->sink->log().size()},
          {"measurement_list", parts_->list_start},
          {"kernel_cache",
           parts_->kernel_cache ? kernel_cache_status(*parts_->kernel_cache, parts_->kernel_cache_note)
                                : nlohmann::json{{"enabled", false}, {"exec_guard", false}, {"why", parts_->kernel_cache_note}}},
          {"runtime", parts_->runtime ? parts_->runtime->status() : nlohmann::json{{"enabled", false}}},
          {"netpolicy", parts_->netpolicy ? parts_->netpolicy->status() : nlohmann::json{{"enabled", false}}},
          {"console", parts_->console ? parts_->console->status() : nlohmann::json{{"enabled", false}}}};
}

namespace {

// What `systemctl status` shows beside the unit while the agent runs.
std::string ready_status_line(const AgentConfig& cfg) {
  std::string line = "STATUS=mode " + std::string(mode_name(cfg.mode)) + ", watching";
  for (const auto& mount : cfg.watch) line += " " + mount;
  if (cfg.watch.empty()) line += " no mounts";
  return line;
}

void tell_service_manager(std::string_view state) {
  if (auto sent = sd::notify(state); !sent) log::warning("telling the service manager: " + sent.error().message);
}

}  // namespace

int run_agent(const std::string& config_path, const std::string& mode_override) {
  log::set_program("vigil agent");
  Result<AgentConfig> config = config_path.empty() ? parse_config("", "built-in") : load_config(config_path);
  if (!config) {
    log::error(config.error().message);
    return 2;
  }
  if (mode_override == "enforce") config->mode = Mode::enforce;
  else if (mode_override == "log") config->mode = Mode::log;
  else if (mode_override == "fix") config->mode = Mode::fix;
  if (config->watch.empty() && !config->runtime.enabled && !config->console.enabled &&
      !config->netpolicy.enabled) {
    log::error(config->source + ": 'watch' lists no paths; nothing to do");
    return 2;
  }
  // A TPM over TCP (swtpm) can raise SIGPIPE when it goes away; that must be an error, not death.
  std::signal(SIGPIPE, SIG_IGN);
  // Signals are taken synchronously by this thread; every other thread has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&signals, signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Two agents on one state directory would interleave one measurement list: refuse before
  // touching anything (StatusServer::start checks again, for a start that raced this one).
  if (agent_answers(status_socket_path(config->state_dir))) {
    log::error("another agent is running with state directory " + config->state_dir);
    return 2;
  }
  // Left by an agent that was killed: it must not announce this one before it is ready.
  std::remove(((*config).state_dir + "/agent.ready").c_str());
  const std::int64_t started_ns = wall_clock_ns();
  auto agent = Agent::start(std::move(*config));
  if (!agent) {
    log::error(agent.error().message);
    return 2;
  }
  const AgentConfig& cfg = (*agent)->config();
  Agent* running = agent->get();
  log::set_observer([running](log::Level, std::string_view message) { running->note_error(std::string(message)); });
  StatusContext context{VIGIL_VERSION, ::getpid(), cfg.source, cfg.state_dir, started_ns, 0};
  auto status_server =
      StatusServer::start(status_socket_path(cfg.state_dir), [running] { return running->status(); }, context);
  if (!status_server) {
    // `vigil status` cannot reach this agent, but it protects the host all the same.
    log::warning(status_server.error().message + "; `vigil status` will not reach this agent");
  }
  // `vigil oci-hook --agent-socket` records verified images here (docs/image.md).
  auto image_socket = ImageSocket::start(image_socket_path(cfg.state_dir), [running](const image::ImageMeasurement& m) {
    return running->record_image(m);
  });
  if (!image_socket) log::warning(image_socket.error().message + "; container images cannot be measured");
  const std::string ready = cfg.state_dir + "/agent.ready";
  if (FILE* file = std::fopen(ready.c_str(), "w")) {
    std::fprintf(file, "%d\n", static_cast<int>(::getpid()));
    std::fclose(file);
  }
  std::string ready_line = "ready, mode " + std::string(mode_name(cfg.mode)) + ", watching";
  for (const auto& mount : cfg.watch) ready_line += " " + mount;
  if (cfg.watch.empty()) ready_line += " no mounts";
  log::notice(ready_line + "; state in " + cfg.state_dir);
  if (const std::string url = (*agent)->console_url(); !url.empty()) {
    log::notice("console at " + url + " (from another host: bearer token in " + cfg.console.token_file + ")");
  }
  // Only now, with the marks placed and the pipelines running, may systemd order the units
  // that come after this one (Type=notify).
  tell_service_manager("READY=1\n" + ready_status_line(cfg));

  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      tell_service_manager(sd::reloading_state());
      auto reloaded = (*agent)->reload();
      if (reloaded) log::notice("reload done");
      else log::error("reload rejected, old policy stays: " + reloaded.error().message);
      tell_service_manager("READY=1\n" + ready_status_line(cfg));
      continue;
    }
    if (signal == SIGUSR1) {
      const std::string status_path = cfg.state_dir + "/status.json";
      if (FILE* file = std::fopen(status_path.c_str(), "w")) {
        const std::string text = (*agent)->status().dump();
        std::fwrite(text.data(), 1, text.size(), file);
        std::fclose(file);
      }
      continue;
    }
    break;
  }
  tell_service_manager("STOPPING=1");
  if (status_server) status_server->reset();  // closes the socket: `vigil status` says not running from here on
  if (image_socket) image_socket->reset();    // before the list's sink goes with the agent
  (*agent)->stop();
  log::set_observer(nullptr);
  const std::string text = (*agent)->status().dump();
  log::notice("stopped " + text);
  std::remove(ready.c_str());
  return 0;
}

}  // namespace vigil::agent
