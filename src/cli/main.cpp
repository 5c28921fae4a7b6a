#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/docgen.h"

int main(int argc, char** argv) {
  CLI::App app{"vigil: integrity and runtime security for Linux hosts and containers"};
  app.set_version_flag("--version", "vigil " VIGIL_VERSION);
  app.require_subcommand(1);
  int exit_code = vigil::cli::kExitOk;
  vigil::cli::add_keygen_command(app, exit_code);
  vigil::cli::add_sign_command(app, exit_code);
  vigil::cli::add_verify_command(app, exit_code);
  vigil::cli::add_policy_command(app, exit_code);
  vigil::cli::add_agent_command(app, exit_code);
  vigil::cli::add_capture_command(app, exit_code);
  vigil::cli::add_rules_command(app, exit_code);
  vigil::cli::add_status_command(app, exit_code);
  vigil::cli::add_netpolicy_command(app, exit_code);
  vigil::cli::add_image_command(app, exit_code);
  vigil::cli::add_oci_hook_command(app, exit_code);
#if VIGIL_WITH_ATTEST
  vigil::cli::add_verifier_command(app, exit_code);
  vigil::cli::add_attest_command(app, exit_code);
  vigil::cli::add_secret_command(app, exit_code);
#endif
  vigil::cli::add_docs_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? vigil::cli::kExitOk : vigil::cli::kExitUsage;
  } catch (const vigil::cli::UsageError& e) {
    std::fprintf(stderr, "vigil: %s\n", e.what());
    return vigil::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vigil: internal error: %s\n", e.what());
    return vigil::cli::kExitUsage;
  }
  return exit_code;
}
