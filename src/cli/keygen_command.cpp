#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "crypto/crypto.h"
#include "ima/ima.h"

namespace vigil::cli {
namespace {

struct KeygenArgs {
  std::string algo = "sm2";
  std::string out_prefix;
  std::string common_name;
  std::string organization = "vigil";
  int days = 3650;
  bool is_ca = false;
  std::string ca_cert;
  std::string ca_key;
  std::string ca_pass;
  bool force = false;
  bool json = false;
};

template <class T>
T unwrap(Result<T> result) {
  if (!result) throw UsageError(result.error().message);
  return std::move(*result);
}

void unwrap(Result<void> result) {
  if (!result) throw UsageError(result.error().message);
}

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

int run_keygen(const KeygenArgs& args) {
  auto algo = crypto::key_algo_from_name(args.algo);
  if (!algo) throw UsageError("--algo " + args.algo + ": expected sm2, ecdsa-p256, ecdsa-p384, rsa2048, rsa3072 or rsa4096");
  if (args.ca_cert.empty() != args.ca_key.empty()) throw UsageError("--ca-cert and --ca-key go together");

  std::optional<crypto::Key> ca_key;
  std::optional<crypto::Certificate> ca_cert;
  if (!args.ca_cert.empty()) {
    ca_cert = unwrap(crypto::Certificate::load(args.ca_cert));
    ca_key = unwrap(crypto::Key::load_private(args.ca_key, args.ca_pass));
  }
  const std::string prefix = args.out_prefix.empty() ? "vigil-" + args.algo : args.out_prefix;
  crypto::Key key = unwrap(crypto::generate_key(*algo));
  crypto::CertificateRequest request;
  request.common_name = args.common_name.empty() ? "vigil " + args.algo + (args.is_ca ? " CA" : " signing key")
                                                 : args.common_name;
  request.organization = args.organization;
  request.validity_days = args.days;
  request.is_ca = args.is_ca;
  crypto::Certificate cert = unwrap(crypto::make_certificate(key, request, ca_key ? &*ca_key : nullptr,
                                                             ca_cert ? &*ca_cert : nullptr));

  const std::string key_path = prefix + ".key";
  const std::string pem_path = prefix + ".crt";
  const std::string der_path = prefix + ".der";
  unwrap(crypto::write_file(key_path, bytes_of(unwrap(key.private_pem())), 0600, args.force));
  unwrap(crypto::write_file(pem_path, bytes_of(unwrap(cert.pem())), 0644, args.force));
  unwrap(crypto::write_file(der_path, unwrap(cert.der()), 0644, args.force));

  const uint32_t keyid = unwrap(ima::signing_keyid(key, &cert));
  if (args.json) {
    print_json({{"algo", args.algo}, {"key", key_path}, {"cert_pem", pem_path}, {"cert_der", der_path},
                {"keyid", ima::keyid_hex(keyid)}, {"subject", cert.subject()}});
  } else {
    std::printf("key      %s (%s, mode 0600)\ncert     %s (PEM), %s (DER)\nsubject  %s\nkeyid    %s\n",
                key_path.c_str(), key.describe().c_str(), pem_path.c_str(), der_path.c_str(), cert.subject().c_str(),
                ima::keyid_hex(keyid).c_str());
  }
  return kExitOk;
}

}  // namespace

void add_keygen_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* keygen = app.add_subcommand("keygen", "Make a signing key and its X.509 certificate");
  keygen->add_option("--algo", args->algo, "sm2|ecdsa-p256|ecdsa-p384|rsa2048|rsa3072|rsa4096")->capture_default_str();
  keygen->add_option("--out,-o", args->out_prefix, "Write PREFIX.key, PREFIX.crt (PEM), PREFIX.der (default: vigil-ALGO)");
  keygen->add_option("--cn", args->common_name, "Certificate common name");
  keygen->add_option("--org", args->organization, "Certificate organization")->capture_default_str();
  keygen->add_option("--days", args->days, "Validity in days")->capture_default_str();
  keygen->add_flag("--ca", args->is_ca, "Make a CA certificate (keyCertSign) instead of a signing certificate");
  keygen->add_option("--ca-cert", args->ca_cert, "Issue from this CA certificate instead of self-signing");
  keygen->add_option("--ca-key", args->ca_key, "The CA's private key");
  keygen->add_option("--ca-pass", args->ca_pass, "Passphrase of the CA key");
  keygen->add_flag("--force", args->force, "Replace existing files");
  keygen->add_flag("--json", args->json, "Print what was written as JSON");
  keygen->callback([args, &exit_code] { exit_code = run_keygen(*args); });
}

}  // namespace vigil::cli
