// `vigil verifier`: run the attestation verifier and key broker, issue agent certificates,
// register agents, list them and the secret access log (docs/attestation.md).
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "attest/appraisal.h"
#include "attest/net/pg_pool.h"
#include "attest/net/verifier.h"
#include "attest/runtime_policy.h"
#include "cli/attest_support.h"
#include "cli/output.h"
#include "common/sd_notify.h"
#include "common/time_text.h"
#include "crypto/crypto.h"

namespace vigil::cli {
namespace {

using namespace attest_support;

struct VerifierArgs {
  std::string state = "/var/lib/vigil/verifier";
  std::string listen = "127.0.0.1:8881";
  int interval_ms = 2000;
  int unreachable_after = 3;
  std::string alerts;
  std::string database;
  int database_connections = 4;
  std::vector<std::string> server_names;
  std::string agent;
  std::string operator_name;
  int max_connections = 1024;
  int max_connections_per_peer = 64;
  int handshake_timeout_ms = 5000;
  std::string out;
  std::string ek;
  std::string policy;
  bool replace = false;
  bool json = false;
  int limit = 100;
};

int run_verifier(const VerifierArgs& args) {
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  attest::VerifierConfig config;
  config.state_dir = args.state;
  config.listen = args.listen;
  config.interval = std::chrono::milliseconds(args.interval_ms);
  config.unreachable_after_intervals = args.unreachable_after;
  config.alerts_path = args.alerts;
  config.database = args.database;
  config.database_connections = static_cast<size_t>(args.database_connections);
  config.max_connections = args.max_connections;
  config.max_connections_per_peer = args.max_connections_per_peer;
  config.handshake_deadline = std::chrono::milliseconds(args.handshake_timeout_ms);
  // Names the server certificate carries besides 127.0.0.1, ::1, localhost and the listen
  // host; they matter only when the certificate is first made.
  std::vector<std::string> names = args.server_names;
  if (const size_t colon = args.listen.rfind(':'); colon != std::string::npos) {
    std::string host = args.listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    names.push_back(host);
  }
  unwrap(attest::ensure_verifier_pki(args.state, names));
  auto verifier = unwrap(attest::Verifier::start(config));
  const auto connections = verifier->connections();
  const std::string registry = args.database.empty()
                                   ? "SQLite " + args.state + "/verifier.db"
                                   : "PostgreSQL " + attest::pg::redact_url(args.database) + " (at most " +
                                         std::to_string(args.database_connections) + " connections)";
  std::printf("vigil verifier: listening on %s (port %d), state %s, registry %s, interval %d ms, at most %d connections (%d per peer)\n",
              args.listen.c_str(), verifier->port(), args.state.c_str(), registry.c_str(), args.interval_ms,
              connections.value("max_connections", 0), connections.value("max_connections_per_peer", 0));
  std::fflush(stdout);
  // Under systemd (vigil-verifier.service, Type=notify): serving from here on. A manager that
  // cannot be told is no reason to stop serving.
  (void)sd::notify("READY=1\nSTATUS=listening on " + args.listen);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (void)sd::notify("STOPPING=1");
  verifier->stop();
  return kExitOk;
}

int add_agent(const VerifierArgs& args) {
  if (args.agent.empty() || args.ek.empty() || args.policy.empty()) {
    throw UsageError("verifier agent add needs ID, --ek and --policy");
  }
  auto registry = open_registry(args.state, args.database);
  if (!args.replace && unwrap(registry->agent(args.agent))) {
    throw UsageError("agent " + args.agent + " is registered already (--replace starts it over)");
  }
  attest::AgentRecord agent;
  agent.id = args.agent;
  agent.expected_ek = read_endorsement_key(args.ek);
  auto policy_bytes = unwrap(crypto::read_file(args.policy, 256u << 20));
  agent.policy_json.assign(policy_bytes.begin(), policy_bytes.end());
  unwrap(attest::parse_runtime_policy(agent.policy_json, args.policy));
  agent.progress = attest::initial_progress();
  unwrap(registry->put_agent(agent));
  std::printf("registered agent %s\n", args.agent.c_str());
  return kExitOk;
}

int reset_agent(const VerifierArgs& args) {
  auto registry = open_registry(args.state, args.database);
  auto agent = unwrap(registry->agent(args.agent));
  if (!agent) throw UsageError("no agent " + args.agent);
  // Back to registered with a fresh list: the next round replays the whole list again. The AK
  // stays (it was proven to be in the agent's TPM).
  agent->state = attest::AgentState::registered;
  agent->reason.clear();
  agent->progress = attest::initial_progress();
  agent->last_round_ns = 0;
  unwrap(registry->put_agent(*agent));
  std::printf("agent %s reset to registered\n", args.agent.c_str());
  return kExitOk;
}

int remove_agent(const VerifierArgs& args) {
  auto registry = open_registry(args.state, args.database);
  if (!unwrap(registry->remove_agent(args.agent))) throw UsageError("no agent " + args.agent);
  std::printf("removed agent %s\n", args.agent.c_str());
  return kExitOk;
}

int list_agents(const VerifierArgs& args) {
  auto registry = open_registry(args.state, args.database);
  const auto agents = unwrap(registry->agents());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& agent : agents) {
      list.push_back({{"id", agent.id},
                      {"state", attest::agent_state_name(agent.state)},
                      {"reason", agent.reason},
                      {"activated", agent.activated},
                      {"rounds", agent.rounds},
                      {"entries_verified", agent.progress.entries_verified},
                      {"last_round", agent.last_round_ns ? nlohmann::json(rfc3339_ns(agent.last_round_ns)) : nullptr}});
    }
    print_json({{"agents", list}});
    return kExitOk;
  }
  std::printf("%-24s %-12s %8s %10s  %-30s %s\n", "ID", "STATE", "ROUNDS", "ENTRIES", "LAST GOOD ROUND", "REASON");
  for (const auto& agent : agents) {
    std::printf("%-24s %-12s %8llu %10llu  %-30s %s\n", agent.id.c_str(),
                std::string(attest::agent_state_name(agent.state)).c_str(),
                static_cast<unsigned long long>(agent.rounds),
                static_cast<unsigned long long>(agent.progress.entries_verified),
                agent.last_round_ns ? rfc3339_ns(agent.last_round_ns).c_str() : "-", agent.reason.c_str());
  }
  return kExitOk;
}

int show_log(const VerifierArgs& args) {
  auto registry = open_registry(args.state, args.database);
  const auto entries = unwrap(registry->secret_log(static_cast<size_t>(std::max(args.limit, 0))));
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& entry : entries) {
      list.push_back({{"time", rfc3339_ns(entry.time_ns)},
                      {"agent", entry.agent},
                      {"secret", entry.secret},
                      {"released", entry.released},
                      {"reason", entry.reason}});
    }
    print_json({{"secret_log", list}});
    return kExitOk;
  }
  for (const auto& entry : entries) {
    std::printf("%s %s %s %s: %s\n", rfc3339_ns(entry.time_ns).c_str(), entry.agent.c_str(), entry.secret.c_str(),
                entry.released ? "released" : "refused", entry.reason.c_str());
  }
  return kExitOk;
}

// --database URL, or $VIGIL_VERIFIER_DATABASE (keeps a password off the command line).
void add_database_option(CLI::App* command, VerifierArgs& args) {
  command->add_option("--database", args.database,
                      "Registry in PostgreSQL: postgresql://USER@HOST/DB (default: SQLite in STATE/verifier.db)")
      ->envname("VIGIL_VERIFIER_DATABASE");
}

}  // namespace

void add_verifier_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<VerifierArgs>();
  CLI::App* verifier = app.add_subcommand("verifier", "Remote attestation verifier and key broker (mutual TLS)");
  verifier->require_subcommand(1);

  CLI::App* run = verifier->add_subcommand("run", "Serve agents: enrolment, attestation rounds, secrets");
  run->add_option("--state", args->state, "State directory (CA, certificates, verifier.db, vault.key)");
  run->add_option("--listen", args->listen, "HOST:PORT to listen on");
  run->add_option("--interval", args->interval_ms, "Round interval per agent, ms")->check(CLI::Range(10, 3600000));
  run->add_option("--unreachable-after", args->unreachable_after, "Intervals without evidence before unreachable")
      ->check(CLI::Range(1, 1000));
  run->add_option("--alerts", args->alerts, "Alert JSON lines file (default STATE/alerts.jsonl)");
  add_database_option(run, *args);
  run->add_option("--database-connections", args->database_connections,
                  "PostgreSQL connections this verifier opens at most (not per core)")
      ->check(CLI::Range(1, 100));
  run->add_option("--server-name", args->server_names,
                  "Host name or address agents use, put in the server certificate when it is made (repeatable)");
  run->add_option("--max-connections", args->max_connections,
                  "Connections open at once (lowered to fit RLIMIT_NOFILE); more are closed at accept")
      ->check(CLI::Range(1, 1 << 20));
  run->add_option("--max-connections-per-peer", args->max_connections_per_peer,
                  "Connections open at once from one IPv4 address or IPv6 /64")
      ->check(CLI::Range(1, 1 << 20));
  run->add_option("--handshake-timeout", args->handshake_timeout_ms, "A TLS handshake must finish within this, ms")
      ->check(CLI::Range(100, 600000));
  run->callback([args, &exit_code] { exit_code = run_verifier(*args); });

  CLI::App* issue = verifier->add_subcommand(
      "issue", "Issue a client certificate: an agent's (OUT/agent.crt, agent.key, ca.crt) or an operator's (OUT/operator.*)");
  issue->add_option("--state", args->state, "State directory");
  CLI::Option* agent_id = issue->add_option("--agent", args->agent, "Agent id (the certificate's CN)");
  CLI::Option* operator_name =
      issue->add_option("--operator", args->operator_name, "Operator name (the certificate's CN): may read GET /v1/agents");
  agent_id->excludes(operator_name);
  issue->add_option("--out", args->out, "Output directory")->required();
  issue->callback([args, &exit_code] {
    if (args->agent.empty() == args->operator_name.empty()) throw UsageError("verifier issue needs --agent ID or --operator NAME");
    if (!args->agent.empty()) {
      unwrap(attest::issue_agent_certificate(args->state, args->agent, args->out));
      std::printf("issued %s/agent.crt for agent %s\n", args->out.c_str(), args->agent.c_str());
    } else {
      unwrap(attest::issue_operator_certificate(args->state, args->operator_name, args->out));
      std::printf("issued %s/operator.crt for operator %s\n", args->out.c_str(), args->operator_name.c_str());
    }
    exit_code = kExitOk;
  });

  CLI::App* agent = verifier->add_subcommand("agent", "Register, reset or remove an agent");
  agent->require_subcommand(1);
  CLI::App* add = agent->add_subcommand("add", "Register an agent: its EK and runtime policy");
  add->add_option("id", args->agent, "Agent id (its certificate's CN)")->required();
  add->add_option("--ek", args->ek, "Endorsement key: PEM/DER public key or TPM2B_PUBLIC")->required();
  add->add_option("--policy", args->policy, "Runtime policy (vigil JSON)")->required();
  add->add_option("--state", args->state, "State directory");
  add_database_option(add, *args);
  add->add_flag("--replace", args->replace, "Replace an agent registered already (starts it over)");
  add->callback([args, &exit_code] { exit_code = add_agent(*args); });
  CLI::App* reset = agent->add_subcommand("reset", "Clear an untrusted verdict: back to registered, list from the start");
  reset->add_option("id", args->agent, "Agent id")->required();
  reset->add_option("--state", args->state, "State directory");
  add_database_option(reset, *args);
  reset->callback([args, &exit_code] { exit_code = reset_agent(*args); });
  CLI::App* remove = agent->add_subcommand("remove", "Forget an agent");
  remove->add_option("id", args->agent, "Agent id")->required();
  remove->add_option("--state", args->state, "State directory");
  add_database_option(remove, *args);
  remove->callback([args, &exit_code] { exit_code = remove_agent(*args); });

  CLI::App* agents = verifier->add_subcommand("agents", "List agents and their states");
  agents->add_option("--state", args->state, "State directory");
  add_database_option(agents, *args);
  agents->add_flag("--json", args->json, "JSON output");
  agents->callback([args, &exit_code] { exit_code = list_agents(*args); });

  CLI::App* log = verifier->add_subcommand("log", "Secret releases and refusals, oldest first");
  log->add_option("--state", args->state, "State directory");
  add_database_option(log, *args);
  log->add_option("--limit", args->limit, "At most this many (the newest)");
  log->add_flag("--json", args->json, "JSON output");
  log->callback([args, &exit_code] { exit_code = show_log(*args); });
}

}  // namespace vigil::cli
