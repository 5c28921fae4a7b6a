#pragma once
// Each subcommand registers its options on the CLI11 app and runs when selected.
#include <CLI/CLI.hpp>

namespace vigil::cli {

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailures = 1;  // some files failed or did not verify
inline constexpr int kExitUsage = 2;     // bad arguments, keys or setup: nothing was done

// A problem with the command as given (bad key, bad option value): thrown, caught in main.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void add_keygen_command(CLI::App& app, int& exit_code);
void add_sign_command(CLI::App& app, int& exit_code);
void add_verify_command(CLI::App& app, int& exit_code);
void add_policy_command(CLI::App& app, int& exit_code);
// `policy generate` and `policy import-keylime` (runtime policies for attestation).
void add_runtime_policy_subcommands(CLI::App& policy, int& exit_code);
void add_agent_command(CLI::App& app, int& exit_code);
void add_capture_command(CLI::App& app, int& exit_code);
void add_rules_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
// `vigil netpolicy check|show|apply|flows|detach` (cli/netpolicy_*.cpp).
void add_netpolicy_command(CLI::App& app, int& exit_code);
// `image sign`, `image verify` (signed manifests of root filesystems, docs/image.md).
void add_image_command(CLI::App& app, int& exit_code);
// `oci-hook`: the createRuntime hook that verifies a container's rootfs before it starts.
void add_oci_hook_command(CLI::App& app, int& exit_code);
// Remote attestation (cli/attest_*.cpp, built with the attestation libraries).
void add_verifier_command(CLI::App& app, int& exit_code);
void add_attest_command(CLI::App& app, int& exit_code);
void add_secret_command(CLI::App& app, int& exit_code);

}  // namespace vigil::cli
