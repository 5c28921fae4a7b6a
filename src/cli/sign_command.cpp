#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/batch_runner.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "common/path_text.h"
#include "common/tree_walk.h"
#include "ima/ima.h"

namespace vigil::cli {
namespace {

struct SignArgs {
  std::string key_path;
  std::string cert_path;
  std::string passphrase;
  std::string hash_name;
  std::string keyid_override;
  std::vector<std::string> paths;
  bool recursive = false;
  bool cross_fs = false;
  bool digest_only = false;
  bool sigfile = false;
  bool json = false;
  bool verbose = false;
  bool no_progress = false;
  unsigned jobs = 0;
};

crypto::HashAlgo choose_hash(const SignArgs& args, const std::optional<crypto::Key>& key) {
  if (args.hash_name.empty()) {
    // SM2 only signs SM3 digests, so an SM2 key implies SM3.
    return key && key->type() == crypto::KeyType::sm2 ? crypto::HashAlgo::sm3 : crypto::HashAlgo::sha256;
  }
  auto algo = crypto::hash_from_name(args.hash_name);
  if (!algo || crypto::hash_md(*algo) == nullptr) {
    throw UsageError("--hash " + args.hash_name + ": not supported (sm3, sha256, sha384, sha512, sha224, sha1)");
  }
  return *algo;
}

int run_sign(const SignArgs& args) {
  std::optional<crypto::Key> key;
  std::optional<crypto::Certificate> cert;
  if (!args.digest_only) {
    if (args.key_path.empty()) throw UsageError("sign needs --key (or --digest for the digest form)");
    std::string passphrase = args.passphrase;
    if (passphrase.empty()) {
      if (const char* env = std::getenv("VIGIL_KEY_PASSWORD")) passphrase = env;
    }
    auto loaded = crypto::Key::load_private(args.key_path, passphrase);
    if (!loaded) throw UsageError(loaded.error().message);
    key = std::move(*loaded);
    if (!args.cert_path.empty()) {
      auto loaded_cert = crypto::Certificate::load(args.cert_path);
      if (!loaded_cert) throw UsageError(loaded_cert.error().message);
      cert = std::move(*loaded_cert);
    }
  }
  ima::SignOptions options;
  options.hash = choose_hash(args, key);
  options.digest_only = args.digest_only;
  options.storage = args.sigfile ? ima::Storage::sigfile : ima::Storage::xattr;
  if (!args.keyid_override.empty()) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(args.keyid_override.c_str(), &end, 16);
    if (end == args.keyid_override.c_str() || *end != '\0' || value > 0xFFFFFFFFul) {
      throw UsageError("--keyid " + args.keyid_override + ": expected up to 8 hex digits");
    }
    options.keyid_override = static_cast<uint32_t>(value);
  }
  auto created = ima::FileSigner::create(key, cert, options);
  if (!created) throw UsageError(created.error().message);
  const ima::FileSigner& signer = *created;

  WalkOptions walk_options{args.recursive, args.cross_fs, args.sigfile};
  WalkResult walk = collect_files(args.paths, walk_options);

  std::vector<std::optional<std::string>> errors(walk.files.size());
  run_batch(walk.files.size(), args.jobs ? args.jobs : default_jobs(), args.digest_only ? "hashing" : "signing",
            !args.no_progress && !args.json && stderr_is_terminal(), [&](size_t i) {
              const WalkedFile& file = walk.files[i];
              auto fd = open_walked_file(file);
              if (!fd) {
                errors[i] = fd.error().message;
                return;
              }
              // The sidecar goes beside the file, in its directory opened beneath the root.
              ima::SidecarPlace sidecar;
              UniqueFd directory;
              if (args.sigfile) {
                std::string name;
                auto opened = open_walked_parent(file, name);
                if (!opened) {
                  errors[i] = opened.error().message;
                  return;
                }
                directory = std::move(*opened);
                sidecar = {directory.get(), ima::sigfile_path(name)};
              }
              auto signed_value = signer.sign_open_file(fd->get(), file.path, sidecar);
              if (!signed_value) errors[i] = signed_value.error().message;
            });

  size_t failed = 0;
  size_t skipped = 0;
  size_t succeeded = walk.files.size();
  nlohmann::json failures = nlohmann::json::array();
  nlohmann::json skips = nlohmann::json::array();
  for (const auto& issue : walk.issues) {
    if (issue.kind == WalkIssue::Kind::failed) {
      ++failed;
      if (args.json) failures.push_back({{"path", issue.path}, {"reason", issue.reason}});
      else std::fprintf(stderr, "vigil sign: %s: %s\n", printable_path(issue.path).c_str(), issue.reason.c_str());
    } else {
      ++skipped;
      if (args.json) skips.push_back({{"path", issue.path}, {"reason", issue.reason}});
      else if (args.verbose) std::fprintf(stderr, "skipped %s: %s\n", printable_path(issue.path).c_str(), issue.reason.c_str());
    }
  }
  for (size_t i = 0; i < walk.files.size(); ++i) {
    if (!errors[i]) continue;
    ++failed;
    --succeeded;
    if (args.json) failures.push_back({{"path", walk.files[i].path}, {"reason", *errors[i]}});
    else std::fprintf(stderr, "vigil sign: %s: %s\n", printable_path(walk.files[i].path).c_str(), errors[i]->c_str());
  }
  const char* verb = args.digest_only ? "hashed" : "signed";
  if (args.json) {
    nlohmann::json report = {{verb, succeeded}, {"skipped", skipped}, {"failed", failed},
                             {"hash", crypto::hash_name(options.hash)}, {"failures", failures}, {"skips", skips}};
    if (!args.digest_only) report["keyid"] = ima::keyid_hex(signer.keyid());
    print_json(report);
  } else {
    std::printf("%s %zu, skipped %zu, failed %zu\n", verb, succeeded, skipped, failed);
  }
  return failed == 0 ? kExitOk : kExitFailures;
}

}  // namespace

void add_sign_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SignArgs>();
  CLI::App* sign = app.add_subcommand("sign", "Write IMA signatures (security.ima) as evmctl ima_sign does");
  sign->add_option("--key,-k", args->key_path, "Private key (PEM or DER; RSA, ECDSA or SM2)");
  sign->add_option("--cert", args->cert_path, "Certificate of the key: its SubjectKeyIdentifier gives the key id");
  sign->add_option("--pass,-p", args->passphrase, "Passphrase of an encrypted key (or VIGIL_KEY_PASSWORD)");
  sign->add_option("--hash,-a", args->hash_name, "sm3|sha256|sha384|sha512 (default: sm3 for SM2 keys, else sha256)");
  sign->add_option("--keyid", args->keyid_override, "Write this 32-bit key id (hex) instead of the computed one");
  sign->add_flag("--digest,-d", args->digest_only, "Write the digest form instead (evmctl ima_hash)");
  sign->add_flag("--sigfile,-f", args->sigfile, "Write PATH.sig instead of the xattr");
  sign->add_flag("--recursive,-r", args->recursive, "Walk directories (regular files only, symlinks not followed)");
  sign->add_flag("--cross-fs", args->cross_fs, "With -r, also enter other filesystems mounted below");
  sign->add_option("--jobs,-j", args->jobs, "Worker threads (default: one per core)");
  sign->add_flag("--json", args->json, "Print the summary and failures as JSON");
  sign->add_flag("--verbose,-v", args->verbose, "Also list skipped files");
  sign->add_flag("--no-progress", args->no_progress, "Never draw a progress bar");
  sign->add_option("paths", args->paths, "Files or directories")->required();
  sign->callback([args, &exit_code] { exit_code = run_sign(*args); });
}

}  // namespace vigil::cli
