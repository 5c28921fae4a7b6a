#include <memory>
#include <string>

#include "agent/agent.h"
#include "cli/commands.h"

namespace vigil::cli {

void add_agent_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string config;
    std::string mode;
  };
  auto args = std::make_shared<Args>();
  CLI::App* agent = app.add_subcommand("agent", "Run the integrity agent: measure and appraise what runs (fanotify)");
  agent->add_option("--config,-c", args->config, "Agent config (YAML); see config/default.yaml");
  agent->add_option("--mode", args->mode, "Override the config's mode")->check(CLI::IsMember({"enforce", "log", "fix"}));
  agent->callback([args, &exit_code] { exit_code = agent::run_agent(args->config, args->mode); });
}

}  // namespace vigil::cli
