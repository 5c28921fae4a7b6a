#pragma once
// `vigil netpolicy show|apply|flows|detach`: the commands that talk to the kernel (pinned
// programs and maps) or to a running agent.
#include <CLI/CLI.hpp>

namespace vigil::cli {

void add_netpolicy_live_commands(CLI::App& netpolicy, int& exit_code);

}  // namespace vigil::cli
