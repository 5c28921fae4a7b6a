#include <cstdio>
#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/check_config.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace vigil::cli {
namespace {

// `vigil agent --check-config FILE`: 0 valid, 1 errors, printed as `rules check` prints them.
int run_check_config(const std::string& path, bool json) {
  const agent::ConfigCheck check = agent::check_config(path);
  if (json) {
    print_json({{"config", path},
                {"ok", check.ok()},
                {"errors", check.errors},
                {"warnings", check.warnings},
                {"summary", check.summary}});
  } else {
    for (const auto& error : check.errors) std::printf("%s\n", error.c_str());
    for (const auto& warning : check.warnings) std::printf("%s\n", warning.c_str());
    if (check.ok()) {
      const auto& s = check.summary;
      auto counted = [](size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
      const std::string policy =
          s["policy"].is_object() ? counted(s["policy"]["rules"].get<size_t>(), "policy rule") : "no policy";
      const std::string rules = s["rules"]["enabled"].get<bool>()
                                    ? counted(s["rules"]["loaded"].get<size_t>(), "detection rule")
                                    : "detection off";
      std::printf("%s: ok: mode %s, state in %s, %s, %s; %s\n", path.c_str(), s["mode"].get<std::string>().c_str(),
                  s["state_dir"].get<std::string>().c_str(), policy.c_str(), rules.c_str(),
                  counted(check.warnings.size(), "warning").c_str());
    } else {
      std::printf("%s: %zu errors, %zu warnings\n", path.c_str(), check.errors.size(), check.warnings.size());
    }
  }
  return check.ok() ? kExitOk : kExitFailures;
}

}  // namespace

void add_agent_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string config;
    std::string mode;
    std::string check_config;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* agent = app.add_subcommand("agent", "Run the integrity agent: measure and appraise what runs (fanotify)");
  agent->add_option("--config,-c", args->config, "Agent config (YAML); see config/default.yaml");
  agent->add_option("--mode", args->mode, "Override the config's mode")->check(CLI::IsMember({"enforce", "log", "fix"}));
  auto* check = agent->add_option("--check-config", args->check_config,
                                  "Validate a config (policy, keyrings, rules included) and exit: 0 valid, 1 errors");
  agent->add_flag("--json", args->json, "With --check-config: one JSON document")->needs(check);
  agent->footer(
      "Signals: SIGHUP reloads policy and keyrings (a bad one is rejected, the old one stays), SIGUSR1 writes "
      "<state_dir>/status.json, SIGTERM stops. Under systemd (vigil-agent.service, Type=notify) the agent reports "
      "READY=1 once its marks are placed. `vigil status` asks a running agent how it is doing.");
  agent->callback([args, &exit_code] {
    if (!args->check_config.empty()) {
      exit_code = run_check_config(args->check_config, args->json);
      return;
    }
    exit_code = agent::run_agent(args->config, args->mode);
  });
}

}  // namespace vigil::cli
