// `vigil image sign` and `vigil image verify`: signed manifests of root filesystems
// (docs/image.md, src/image).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "cli/batch_runner.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "common/path_text.h"
#include "image/image.h"

namespace vigil::cli {
namespace {

struct ImageSignArgs {
  std::string rootfs;
  std::string key_path;
  std::string cert_path;
  std::string passphrase;
  std::string hash_name;
  std::string output;
  std::string sbom;
  std::string name;
  unsigned jobs = 0;
  bool no_progress = false;
  bool json = false;
};

struct ImageVerifyArgs {
  std::string rootfs;
  std::string manifest;
  std::vector<std::string> keyrings;
  std::vector<std::string> certs;
  unsigned jobs = 0;
  bool no_progress = false;
  bool json = false;
  bool quiet = false;
};

image::BatchRunner batch_runner(unsigned jobs, bool show_progress) {
  return [jobs, show_progress](size_t count, const std::function<void(size_t)>& work) {
    run_batch(count, jobs ? jobs : default_jobs(), "hashing", show_progress, work);
  };
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

int run_image_sign(const ImageSignArgs& args) {
  std::string passphrase = args.passphrase;
  if (passphrase.empty()) {
    if (const char* env = std::getenv("VIGIL_KEY_PASSWORD")) passphrase = env;
  }
  auto key = crypto::Key::load_private(args.key_path, passphrase);
  if (!key) throw UsageError(key.error().message);
  std::optional<crypto::Certificate> cert;
  if (!args.cert_path.empty()) {
    auto loaded = crypto::Certificate::load(args.cert_path);
    if (!loaded) throw UsageError(loaded.error().message);
    cert = std::move(*loaded);
  }
  image::ScanOptions options;
  options.hash = key->type() == crypto::KeyType::sm2 ? crypto::HashAlgo::sm3 : crypto::HashAlgo::sha256;
  if (!args.hash_name.empty()) {
    const auto algo = crypto::hash_from_name(args.hash_name);
    if (!algo || (*algo != crypto::HashAlgo::sm3 && *algo != crypto::HashAlgo::sha256 &&
                  *algo != crypto::HashAlgo::sha384 && *algo != crypto::HashAlgo::sha512)) {
      throw UsageError("--hash " + args.hash_name + ": expected sm3, sha256, sha384 or sha512");
    }
    options.hash = *algo;
  }
  if ((key->type() == crypto::KeyType::sm2) != (options.hash == crypto::HashAlgo::sm3)) {
    throw UsageError("SM2 keys sign SM3 manifests, other keys SHA-2 ones (--hash " +
                     std::string(crypto::hash_name(options.hash)) + " with " + key->describe() + ")");
  }
  if (!args.sbom.empty()) options.extra_hashes = {crypto::HashAlgo::sha1, crypto::HashAlgo::sha256};
  options.run_batch = batch_runner(args.jobs, !args.no_progress && !args.json && stderr_is_terminal());

  auto tree = image::scan_tree(args.rootfs, options);
  if (!tree) throw UsageError(tree.error().message);
  if (!tree->problems.empty()) {
    // A manifest of a tree that could not be read whole would sign a lie: nothing is written.
    for (const auto& problem : tree->problems) {
      std::fprintf(stderr, "vigil image sign: %s: %s\n", printable_path(problem.path).c_str(), problem.reason.c_str());
    }
    std::fprintf(stderr, "vigil image sign: %zu entries could not be read; no manifest written\n", tree->problems.size());
    return kExitFailures;
  }
  for (const auto& entry : tree->manifest.entries) {
    if (entry.outside_links > 0) {
      std::fprintf(stderr,
                   "vigil image sign: warning: %s is hard-linked from outside the tree (%llu links); verification "
                   "will report it until that link is gone\n",
                   printable_path(entry.path).c_str(), static_cast<unsigned long long>(entry.outside_links));
    }
  }
  auto text = image::sign_manifest(tree->manifest, *key, cert ? &*cert : nullptr);
  if (!text) throw UsageError(text.error().message);
  auto parsed = image::parse_manifest(bytes_of(*text));
  if (!parsed) throw std::runtime_error("the manifest just written does not parse: " + parsed.error().message);
  if (auto written = crypto::write_file(args.output, bytes_of(*text), 0644, true); !written) {
    throw UsageError(written.error().message);
  }
  if (!args.sbom.empty()) {
    image::SbomInfo info;
    info.name = args.name.empty() ? base_name(args.rootfs) : args.name;
    info.namespace_hint = parsed->file_digest.hex();
    info.created = utc_now();
    info.tool = std::string("vigil-") + VIGIL_VERSION;
    auto sbom = image::spdx_json(*tree, info);
    if (!sbom) throw UsageError(sbom.error().message);
    if (auto written = crypto::write_file(args.sbom, bytes_of(*sbom), 0644, true); !written) {
      throw UsageError(written.error().message);
    }
  }
  size_t files = 0;
  uint64_t bytes = 0;
  for (const auto& entry : tree->manifest.entries) {
    if (entry.type != image::EntryType::file) continue;
    ++files;
    bytes += entry.size;
  }
  const std::string keyid = ima::keyid_hex(parsed->keyid);
  if (args.json) {
    print_json({{"manifest", args.output},
                {"digest", "sha256:" + parsed->file_digest.hex()},
                {"entries", tree->manifest.entries.size()},
                {"files", files},
                {"bytes", bytes},
                {"hash", crypto::hash_name(options.hash)},
                {"keyid", keyid},
                {"sbom", args.sbom.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.sbom)}});
  } else {
    std::printf("signed %zu entries (%zu files, %llu bytes) of %s with key %s: %s sha256:%s\n",
                tree->manifest.entries.size(), files, static_cast<unsigned long long>(bytes),
                printable_path(args.rootfs).c_str(), keyid.c_str(), printable_path(args.output).c_str(),
                parsed->file_digest.hex().c_str());
  }
  return kExitOk;
}

ima::Keyring load_keyring(const std::vector<std::string>& dirs, const std::vector<std::string>& certs,
                          const char* who) {
  ima::Keyring keyring;
  for (const auto& dir : dirs) {
    auto warnings = keyring.load_directory(dir);
    if (!warnings) throw UsageError("--keyring " + warnings.error().message);
    for (const auto& warning : *warnings) std::fprintf(stderr, "%s: warning: %s\n", who, warning.c_str());
  }
  for (const auto& cert : certs) {
    if (auto loaded = keyring.load_file(cert); !loaded) throw UsageError("--cert " + loaded.error().message);
  }
  return keyring;
}

int run_image_verify(const ImageVerifyArgs& args) {
  if (args.keyrings.empty() && args.certs.empty()) {
    throw UsageError("image verify needs --keyring DIR or --cert CERT (the manifest's signature is checked against them)");
  }
  const ima::Keyring keyring = load_keyring(args.keyrings, args.certs, "vigil image verify");
  auto bytes = crypto::read_file(args.manifest, image::kMaxManifestSize);
  if (!bytes) throw UsageError(bytes.error().message);
  const image::Verification result = image::verify_tree(
      args.rootfs, *bytes, keyring, batch_runner(args.jobs, !args.no_progress && !args.json && stderr_is_terminal()));
  const std::string status(image::verification_status_name(result.status));
  if (args.json) {
    nlohmann::json differences = nlohmann::json::array();
    for (const auto& difference : result.differences) {
      differences.push_back({{"path", difference.path},
                             {"kind", image::difference_kind_name(difference.kind)},
                             {"detail", difference.detail}});
    }
    nlohmann::json report = {{"rootfs", args.rootfs}, {"manifest", args.manifest}, {"status", status},
                             {"entries", result.entries_checked}, {"differences", differences}};
    if (!result.reason.empty()) report["reason"] = result.reason;
    if (result.manifest) {
      report["digest"] = "sha256:" + result.manifest->file_digest.hex();
      report["keyid"] = ima::keyid_hex(result.manifest->keyid);
      report["hash"] = crypto::hash_name(result.manifest->manifest.hash);
    }
    if (!result.signer.empty()) report["signer"] = result.signer;
    print_json(report);
  } else {
    for (const auto& difference : result.differences) {
      std::printf("%-13s %s: %s\n", std::string(image::difference_kind_name(difference.kind)).c_str(),
                  printable_path(difference.path).c_str(), difference.detail.c_str());
    }
    switch (result.status) {
      case image::Verification::Status::ok:
        if (!args.quiet) {
          std::printf("ok: %s matches %s (%zu entries, sha256:%s, key %s from %s)\n", printable_path(args.rootfs).c_str(),
                      printable_path(args.manifest).c_str(), result.entries_checked,
                      result.manifest->file_digest.hex().c_str(), ima::keyid_hex(result.manifest->keyid).c_str(),
                      result.signer.c_str());
        }
        break;
      case image::Verification::Status::differs:
        std::printf("differs: %s does not match %s (%zu differences)\n", printable_path(args.rootfs).c_str(),
                    printable_path(args.manifest).c_str(), result.differences.size());
        break;
      case image::Verification::Status::untrusted:
      case image::Verification::Status::malformed:
        std::printf("%s: %s: %s\n", status.c_str(), printable_path(args.manifest).c_str(), result.reason.c_str());
        break;
    }
  }
  return result.status == image::Verification::Status::ok ? kExitOk : kExitFailures;
}

}  // namespace

void add_image_command(CLI::App& app, int& exit_code) {
  CLI::App* image_app = app.add_subcommand("image", "Signed manifests of container root filesystems (docs/image.md)");
  image_app->require_subcommand(1);

  auto sign_args = std::make_shared<ImageSignArgs>();
  CLI::App* sign = image_app->add_subcommand("sign", "Record every entry of a root filesystem in a signed manifest");
  sign->add_option("rootfs", sign_args->rootfs, "The root filesystem (a directory)")->required();
  sign->add_option("--key,-k", sign_args->key_path, "Private key (PEM or DER; SM2, ECDSA or RSA)")->required();
  sign->add_option("--cert", sign_args->cert_path, "Certificate of the key: its SubjectKeyIdentifier gives the key id");
  sign->add_option("--pass,-p", sign_args->passphrase, "Passphrase of an encrypted key (or VIGIL_KEY_PASSWORD)");
  sign->add_option("--hash,-a", sign_args->hash_name, "sm3|sha256|sha384|sha512 (default: sm3 for SM2 keys, else sha256)");
  sign->add_option("--output,-o", sign_args->output, "Where to write the manifest")->required();
  sign->add_option("--sbom", sign_args->sbom, "Also write the files and their checksums as SPDX 2.3 JSON");
  sign->add_option("--name", sign_args->name, "The image's name in the SBOM (default: the directory's name)");
  sign->add_option("--jobs,-j", sign_args->jobs, "Worker threads (default: one per core)");
  sign->add_flag("--json", sign_args->json, "Print the summary as JSON");
  sign->add_flag("--no-progress", sign_args->no_progress, "Never draw a progress bar");
  sign->callback([sign_args, &exit_code] { exit_code = run_image_sign(*sign_args); });

  auto verify_args = std::make_shared<ImageVerifyArgs>();
  CLI::App* verify = image_app->add_subcommand("verify", "Check a root filesystem against its signed manifest");
  verify->add_option("rootfs", verify_args->rootfs, "The root filesystem (a directory)")->required();
  verify->add_option("manifest", verify_args->manifest, "The manifest `vigil image sign` wrote")->required();
  verify->add_option("--keyring", verify_args->keyrings, "Directory of trusted certificates or public keys")
      ->allow_extra_args(false);
  verify->add_option("--cert", verify_args->certs, "A trusted certificate or public key (repeatable)")
      ->allow_extra_args(false);
  verify->add_option("--jobs,-j", verify_args->jobs, "Worker threads (default: one per core)");
  verify->add_flag("--json", verify_args->json, "Print one JSON document with every difference");
  verify->add_flag("--quiet,-q", verify_args->quiet, "Print nothing when the tree matches");
  verify->add_flag("--no-progress", verify_args->no_progress, "Never draw a progress bar");
  verify->callback([verify_args, &exit_code] { exit_code = run_image_verify(*verify_args); });
}

}  // namespace vigil::cli
