// `vigil attest`: the agent's side of remote attestation (enrol, then rounds), `vigil attest ek`,
// which prints the endorsement key to register with the verifier, and `vigil attest boot-pcrs`,
// which prints this boot's PCRs 0-7 for the runtime policy.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "attest/net/attest_client.h"
#include "cli/attest_support.h"
#include "tpm/attestation.h"
#include "tpm/tpm.h"

#include <nlohmann/json.hpp>

namespace vigil::cli {
namespace {

using namespace attest_support;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void request_stop(int) { g_stop.store(true); }

struct AttestArgs {
  attest::AttestClientConfig config;
};

int run_attest(const AttestArgs& args) {
  if (args.config.tls.verifier_url.empty()) throw UsageError("--verifier URL is required");
  if (args.config.measurements_dir.empty()) throw UsageError("--measurements DIR is required");
  struct sigaction action {};
  action.sa_handler = request_stop;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  bool last_trusted = false;
  auto done = attest::run_attest_client(args.config, g_stop, [&last_trusted](const attest::RoundOutcome& round) {
    last_trusted = round.state == "trusted";
    if (round.reason.empty()) {
      std::printf("round: %s (%llu entries sent)\n", round.state.c_str(),
                  static_cast<unsigned long long>(round.entries_sent));
    } else {
      std::printf("round: %s: %s (%llu entries sent)\n", round.state.c_str(), round.reason.c_str(),
                  static_cast<unsigned long long>(round.entries_sent));
    }
    std::fflush(stdout);
  });
  if (!done) {
    std::fprintf(stderr, "vigil attest: %s\n", done.error().message.c_str());
    return kExitUsage;
  }
  return !args.config.once || last_trusted ? kExitOk : kExitFailures;
}

// The policy's boot_pcrs for this machine as it booted now: PCRs 0-7 of the sha256 bank, to
// merge into the runtime policy the verifier holds for it (docs/attestation.md).
int print_boot_pcrs(const std::string& tpm_spec) {
  auto pcrs = unwrap(tpm::open_pcr_backend(tpm_spec));
  nlohmann::ordered_json boot = nlohmann::ordered_json::object();
  for (uint32_t index = 0; index < 8; ++index) {
    const crypto::Digest value = unwrap(pcrs->read(index, crypto::HashAlgo::sha256));
    boot[std::to_string(index)] = nlohmann::ordered_json::array({"sha256:" + value.hex()});
  }
  std::printf("%s\n", nlohmann::ordered_json{{"boot_pcrs", boot}}.dump(2).c_str());
  return kExitOk;
}

int print_endorsement_key(const std::string& tpm_spec) {
  auto tpm = unwrap(tpm::open_attestation_tpm(tpm_spec));
  const std::string pem = tpm_public_pem(unwrap(tpm->endorsement_key()));
  std::fwrite(pem.data(), 1, pem.size(), stdout);
  return kExitOk;
}

}  // namespace

void add_attest_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<AttestArgs>();
  auto ek_tpm = std::make_shared<std::string>(args->config.tpm);
  CLI::App* attest = app.add_subcommand("attest", "Attest this machine to a verifier: enrol, then a round per interval");
  attest->require_subcommand(0, 1);
  attest->add_option("--verifier", args->config.tls.verifier_url, "Verifier URL, https://HOST:PORT");
  attest->add_option("--cert", args->config.tls.cert_path, "This agent's certificate (vigil verifier issue)");
  attest->add_option("--key", args->config.tls.key_path, "Its private key");
  attest->add_option("--ca", args->config.tls.ca_path, "The verifier's CA certificate");
  attest->add_option("--tpm", args->config.tpm, "TPM (TCTI spec: device:/dev/tpmrm0, swtpm:host=H,port=P)");
  attest->add_option("--measurements", args->config.measurements_dir,
                     "Directory with binary_runtime_measurements (the agent's, or /sys/kernel/security/ima)");
  attest->add_flag("--once", args->config.once, "One round, then exit (1 unless trusted)");
  CLI::App* ek = attest->add_subcommand("ek", "Print the TPM's endorsement key (PEM) for `vigil verifier agent add --ek`");
  ek->add_option("--tpm", *ek_tpm, "TPM (TCTI spec)");
  ek->callback([ek_tpm, &exit_code] { exit_code = print_endorsement_key(*ek_tpm); });
  auto boot_tpm = std::make_shared<std::string>(args->config.tpm);
  CLI::App* boot = attest->add_subcommand(
      "boot-pcrs", "Print this boot's PCRs 0-7 (sha256) as a runtime policy's boot_pcrs for the verifier to check");
  boot->add_option("--tpm", *boot_tpm, "TPM (TCTI spec)");
  boot->callback([boot_tpm, &exit_code] { exit_code = print_boot_pcrs(*boot_tpm); });
  attest->callback([args, ek, boot, &exit_code] {
    if (ek->parsed() || boot->parsed()) return;
    exit_code = run_attest(*args);
  });
}

}  // namespace vigil::cli
