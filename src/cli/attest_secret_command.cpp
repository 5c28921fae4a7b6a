// `vigil secret put` seals a secret into the verifier's registry (on the verifier's host);
// `vigil secret get` asks the verifier for it over mutual TLS (on an agent).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "attest/net/attest_client.h"
#include "attest/net/secret_binding.h"
#include "attest/net/secret_vault.h"
#include "cli/attest_support.h"
#include "crypto/crypto.h"

namespace vigil::cli {
namespace {

using namespace attest_support;

struct SecretArgs {
  std::string name;
  std::string file;
  std::string selector;
  std::string state = "/var/lib/vigil/verifier";
  std::string database;
  std::string cipher = "sm4";
  attest::ClientTls tls;
};

int put_secret(const SecretArgs& args) {
  unwrap(attest::check_secret_name(args.name));
  if (args.selector.empty()) throw UsageError("--policy SELECTOR (agent id globs) is required");
  const attest::VaultCipher cipher = unwrap(attest::vault_cipher_from_name(args.cipher));
  auto registry = open_registry(args.state, args.database);
  auto plaintext = unwrap(crypto::read_file(args.file, 16u << 20));
  const auto vault = unwrap(attest::SecretVault::open(args.state + "/vault.key"));
  attest::StoredSecret secret;
  secret.name = args.name;
  secret.selector = args.selector;
  secret.cipher = attest::vault_cipher_name(cipher);
  secret.sealed = unwrap(vault.seal(cipher, plaintext, attest::secret_associated_data(args.name, args.selector)));
  unwrap(registry->put_secret(secret));
  std::printf("sealed %s (%zu bytes, %s) for %s\n", args.name.c_str(), plaintext.size(), secret.cipher.c_str(),
              args.selector.c_str());
  return kExitOk;
}

int get_secret(const SecretArgs& args) {
  auto secret = attest::fetch_secret(args.tls, args.name);
  if (!secret) {
    std::fprintf(stderr, "vigil secret get: %s\n", secret.error().message.c_str());
    return kExitFailures;
  }
  if (std::fwrite(secret->data(), 1, secret->size(), stdout) != secret->size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "vigil secret get: cannot write to stdout\n");
    return kExitFailures;
  }
  return kExitOk;
}

}  // namespace

void add_secret_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SecretArgs>();
  CLI::App* secret = app.add_subcommand("secret", "Key broker: secrets released only to trusted agents");
  secret->require_subcommand(1);
  CLI::App* put = secret->add_subcommand("put", "Seal FILE as secret NAME for the agents SELECTOR names");
  put->add_option("name", args->name, "Secret name")->required();
  put->add_option("file", args->file, "File with the secret's bytes")->required();
  put->add_option("--policy", args->selector, "Agent selector: comma-separated agent-id globs")->required();
  put->add_option("--state", args->state, "The verifier's state directory (its vault.key)");
  put->add_option("--database", args->database,
                  "The verifier's registry in PostgreSQL: postgresql://USER@HOST/DB (default: SQLite in STATE)")
      ->envname("VIGIL_VERIFIER_DATABASE");
  put->add_option("--cipher", args->cipher, "sm4 (SM4-CTR + HMAC-SM3) or aes-256-gcm")
      ->check(CLI::IsMember({"sm4", "sm4-ctr-hmac-sm3", "aes-256-gcm", "aes"}));
  put->callback([args, &exit_code] { exit_code = put_secret(*args); });
  CLI::App* get = secret->add_subcommand("get", "Fetch secret NAME from the verifier (printed to stdout)");
  get->add_option("name", args->name, "Secret name")->required();
  get->add_option("--verifier", args->tls.verifier_url, "Verifier URL, https://HOST:PORT")->required();
  get->add_option("--cert", args->tls.cert_path, "This agent's certificate")->required();
  get->add_option("--key", args->tls.key_path, "Its private key")->required();
  get->add_option("--ca", args->tls.ca_path, "The verifier's CA certificate")->required();
  get->callback([args, &exit_code] { exit_code = get_secret(*args); });
}

}  // namespace vigil::cli
