// The verifier's own small PKI: a CA that signs the server certificate and the agents' client
// certificates. Everything is ECDSA P-256 (fast handshakes, every TLS stack speaks it).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "attest/net/verifier.h"
#include "crypto/crypto.h"

namespace vigil::attest {
namespace {

namespace fs = std::filesystem;

constexpr int kCaValidityDays = 3650;
constexpr int kLeafValidityDays = 825;

Result<void> write_text_file(const std::string& path, const std::string& text, unsigned mode) {
  return crypto::write_file(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, mode, false);
}

Result<void> write_key_and_certificate(const crypto::Key& key, const crypto::Certificate& cert,
                                       const std::string& key_path, const std::string& cert_path) {
  auto key_pem = key.private_pem();
  if (!key_pem) return std::unexpected(key_pem.error());
  auto cert_pem = cert.pem();
  if (!cert_pem) return std::unexpected(cert_pem.error());
  if (auto written = write_text_file(key_path, *key_pem, 0600); !written) return written;
  return write_text_file(cert_path, *cert_pem, 0644);
}

bool is_ip_address(const std::string& host) {
  return host.find(':') != std::string::npos || host.find_first_not_of("0123456789.") == std::string::npos;
}

Result<void> ensure_directory(const std::string& dir, unsigned mode) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return fail("cannot create " + dir + ": " + error.message());
  ::chmod(dir.c_str(), mode);
  return {};
}

struct LoadedCa {
  crypto::Key key;
  crypto::Certificate cert;
};

Result<LoadedCa> load_ca(const std::string& state_dir) {
  auto key = crypto::Key::load_private(state_dir + "/ca.key");
  if (!key) return std::unexpected(key.error());
  auto cert = crypto::Certificate::load(state_dir + "/ca.crt");
  if (!cert) return std::unexpected(cert.error());
  return LoadedCa{std::move(*key), std::move(*cert)};
}

}  // namespace

Result<void> ensure_verifier_pki(const std::string& state_dir, const std::vector<std::string>& hosts) {
  if (auto made = ensure_directory(state_dir, 0700); !made) return made;
  const std::string ca_key_path = state_dir + "/ca.key";
  const std::string ca_cert_path = state_dir + "/ca.crt";
  if (!fs::exists(ca_key_path) || !fs::exists(ca_cert_path)) {
    auto key = crypto::generate_key(crypto::KeyAlgo::ecdsa_p256);
    if (!key) return std::unexpected(key.error());
    crypto::CertificateRequest request;
    request.common_name = "vigil verifier CA";
    request.organization = "vigil";
    request.validity_days = kCaValidityDays;
    request.is_ca = true;
    auto cert = crypto::make_certificate(*key, request);
    if (!cert) return std::unexpected(cert.error());
    if (auto written = write_key_and_certificate(*key, *cert, ca_key_path, ca_cert_path); !written) return written;
  }
  const std::string server_key_path = state_dir + "/server.key";
  const std::string server_cert_path = state_dir + "/server.crt";
  if (fs::exists(server_key_path) && fs::exists(server_cert_path)) return {};
  auto ca = load_ca(state_dir);
  if (!ca) return std::unexpected(ca.error());
  auto key = crypto::generate_key(crypto::KeyAlgo::ecdsa_p256);
  if (!key) return std::unexpected(key.error());
  crypto::CertificateRequest request;
  request.common_name = "vigil verifier";
  request.organization = "vigil";
  request.validity_days = kLeafValidityDays;
  request.extended_key_usage = "serverAuth";
  request.subject_alt_names = {"IP:127.0.0.1", "IP:::1", "DNS:localhost"};
  for (const std::string& host : hosts) {
    if (host.empty() || host == "0.0.0.0" || host == "::") continue;
    std::string entry = (is_ip_address(host) ? "IP:" : "DNS:") + host;
    if (std::find(request.subject_alt_names.begin(), request.subject_alt_names.end(), entry) ==
        request.subject_alt_names.end()) {
      request.subject_alt_names.push_back(std::move(entry));
    }
  }
  auto cert = crypto::make_certificate(*key, request, &ca->key, &ca->cert);
  if (!cert) return std::unexpected(cert.error());
  std::error_code ignored;
  fs::remove(server_key_path, ignored);
  fs::remove(server_cert_path, ignored);
  return write_key_and_certificate(*key, *cert, server_key_path, server_cert_path);
}

namespace {

// A client certificate of the CA for `role` (its organization), CN `name`, into out_dir as
// <file_stem>.crt and <file_stem>.key (0600), with the CA's certificate as ca.crt.
Result<void> issue_client_certificate(const std::string& state_dir, const std::string& name, std::string_view role,
                                      const std::string& file_stem, const std::string& out_dir) {
  if (name.empty() || name.size() > 64 || name.find_first_of("/,=+\"\\<>;#\n\r") != std::string::npos) {
    return fail("name \"" + name + "\" must be 1-64 characters without / , = + \" \\ < > ; #");
  }
  if (auto pki = ensure_verifier_pki(state_dir); !pki) return pki;
  auto ca = load_ca(state_dir);
  if (!ca) return std::unexpected(ca.error());
  if (auto made = ensure_directory(out_dir, 0700); !made) return made;
  const std::string key_path = out_dir + "/" + file_stem + ".key";
  const std::string cert_path = out_dir + "/" + file_stem + ".crt";
  for (const std::string& path : {key_path, cert_path, out_dir + "/ca.crt"}) {
    if (fs::exists(path)) return fail(path + " exists; not replacing it");
  }
  auto key = crypto::generate_key(crypto::KeyAlgo::ecdsa_p256);
  if (!key) return std::unexpected(key.error());
  crypto::CertificateRequest request;
  request.common_name = name;
  request.organization = std::string(role);
  request.validity_days = kLeafValidityDays;
  request.extended_key_usage = "clientAuth";
  auto cert = crypto::make_certificate(*key, request, &ca->key, &ca->cert);
  if (!cert) return std::unexpected(cert.error());
  if (auto written = write_key_and_certificate(*key, *cert, key_path, cert_path); !written) return written;
  auto ca_pem = ca->cert.pem();
  if (!ca_pem) return std::unexpected(ca_pem.error());
  return write_text_file(out_dir + "/ca.crt", *ca_pem, 0644);
}

}  // namespace

Result<void> issue_agent_certificate(const std::string& state_dir, const std::string& id, const std::string& out_dir) {
  auto issued = issue_client_certificate(state_dir, id, kAgentOrganization, "agent", out_dir);
  if (!issued && issued.error().message.starts_with("name ")) return fail("agent id" + issued.error().message.substr(4));
  return issued;
}

Result<void> issue_operator_certificate(const std::string& state_dir, const std::string& name,
                                        const std::string& out_dir) {
  auto issued = issue_client_certificate(state_dir, name, kOperatorOrganization, "operator", out_dir);
  if (!issued && issued.error().message.starts_with("name ")) return fail("operator name" + issued.error().message.substr(4));
  return issued;
}

}  // namespace vigil::attest
