#include <cstdio>
#include <memory>
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

struct VerifyArgs {
  std::vector<std::string> keyrings;
  std::vector<std::string> certs;
  std::vector<std::string> paths;
  bool recursive = false;
  bool cross_fs = false;
  bool sigfile_only = false;
  bool xattr_only = false;
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  bool no_progress = false;
  unsigned jobs = 0;
};

ima::Keyring load_keyring(const VerifyArgs& args) {
  ima::Keyring keyring;
  for (const auto& dir : args.keyrings) {
    auto warnings = keyring.load_directory(dir);
    if (!warnings) throw UsageError("--keyring " + warnings.error().message);
    for (const auto& warning : *warnings) std::fprintf(stderr, "vigil verify: warning: %s\n", warning.c_str());
  }
  for (const auto& cert : args.certs) {
    if (auto loaded = keyring.load_file(cert); !loaded) throw UsageError("--cert " + loaded.error().message);
  }
  return keyring;
}

nlohmann::json result_json(const std::string& path, const ima::VerifyResult& result) {
  nlohmann::json entry = {{"path", path}, {"status", ima::status_name(result.status)}};
  if (!result.reason.empty()) entry["reason"] = result.reason;
  if (!result.form.empty()) entry["form"] = result.form;
  if (result.algo) entry["hash"] = crypto::hash_name(*result.algo);
  if (result.keyid) entry["keyid"] = ima::keyid_hex(*result.keyid);
  if (result.from) entry["source"] = *result.from == ima::Storage::xattr ? "xattr" : "sigfile";
  if (!result.signer.empty()) entry["signer"] = result.signer;
  return entry;
}

// The file and its PATH.sig are opened beneath the walk's root (common/tree_walk.h), so a tree
// changed during the walk cannot make verify read a file or a sidecar from elsewhere.
ima::VerifyResult verify_walked_file(const WalkedFile& file, const ima::Keyring& keyring,
                                     const ima::VerifyOptions& options) {
  auto error = [](const std::string& reason) {
    ima::VerifyResult result;
    result.status = ima::VerifyStatus::error;
    result.reason = reason;
    return result;
  };
  auto fd = open_walked_file(file);
  if (!fd) return error(fd.error().message);
  ima::SidecarPlace sidecar;
  UniqueFd directory;
  if (options.read_from != ima::ReadFrom::xattr_only) {
    std::string name;
    auto opened = open_walked_parent(file, name);
    if (!opened) return error(opened.error().message);
    directory = std::move(*opened);
    sidecar = {directory.get(), ima::sigfile_path(name)};
  }
  return ima::verify_open_file(fd->get(), file.path, sidecar, keyring, options);
}

int run_verify(const VerifyArgs& args) {
  if (args.keyrings.empty() && args.certs.empty()) {
    throw UsageError("verify needs --keyring DIR or --cert CERT (signatures are checked against them)");
  }
  if (args.sigfile_only && args.xattr_only) throw UsageError("--sigfile and --xattr-only exclude each other");
  const ima::Keyring keyring = load_keyring(args);
  ima::VerifyOptions options;
  if (args.sigfile_only) options.read_from = ima::ReadFrom::sigfile_only;
  if (args.xattr_only) options.read_from = ima::ReadFrom::xattr_only;

  WalkOptions walk_options{args.recursive, args.cross_fs, args.sigfile_only};
  WalkResult walk = collect_files(args.paths, walk_options);
  std::vector<ima::VerifyResult> results(walk.files.size());
  run_batch(walk.files.size(), args.jobs ? args.jobs : default_jobs(), "verifying",
            !args.no_progress && !args.json && stderr_is_terminal(),
            [&](size_t i) { results[i] = verify_walked_file(walk.files[i], keyring, options); });

  size_t ok = 0;
  size_t not_ok = 0;
  size_t skipped = 0;
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json skips = nlohmann::json::array();
  auto report = [&](const std::string& path, const ima::VerifyResult& result) {
    const bool good = result.status == ima::VerifyStatus::ok;
    good ? ++ok : ++not_ok;
    if (args.json) {
      files.push_back(result_json(path, result));
    } else if (!good || !args.quiet) {
      std::printf("%-13s %s%s%s\n", std::string(ima::status_name(result.status)).c_str(), printable_path(path).c_str(),
                  result.reason.empty() ? "" : ": ", result.reason.c_str());
    }
  };
  for (const auto& issue : walk.issues) {
    if (issue.kind == WalkIssue::Kind::failed) {
      ima::VerifyResult failure;
      failure.status = ima::VerifyStatus::error;
      failure.reason = issue.reason;
      report(issue.path, failure);
    } else {
      ++skipped;
      if (args.json) skips.push_back({{"path", issue.path}, {"reason", issue.reason}});
      else if (args.verbose) std::fprintf(stderr, "skipped %s: %s\n", printable_path(issue.path).c_str(), issue.reason.c_str());
    }
  }
  for (size_t i = 0; i < walk.files.size(); ++i) report(walk.files[i].path, results[i]);

  if (args.json) {
    print_json({{"files", files}, {"skips", skips}, {"summary", {{"ok", ok}, {"failed", not_ok}, {"skipped", skipped}}}});
  } else if (!args.quiet || not_ok > 0) {
    std::printf("verified %zu: ok %zu, failed %zu, skipped %zu\n", ok + not_ok, ok, not_ok, skipped);
  }
  return not_ok == 0 ? kExitOk : kExitFailures;
}

}  // namespace

void add_verify_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* verify = app.add_subcommand("verify", "Check IMA signatures or digests against file content");
  verify->add_option("--keyring", args->keyrings, "Directory of trusted certificates or public keys (PEM or DER)")
      ->allow_extra_args(false);
  verify->add_option("--cert", args->certs, "A trusted certificate or public key (repeatable)")
      ->allow_extra_args(false);
  verify->add_flag("--recursive,-r", args->recursive, "Walk directories (regular files only, symlinks not followed)");
  verify->add_flag("--cross-fs", args->cross_fs, "With -r, also enter other filesystems mounted below");
  verify->add_flag("--sigfile,-f", args->sigfile_only, "Read PATH.sig only (default: xattr, then PATH.sig)");
  verify->add_flag("--xattr-only", args->xattr_only, "Read the security.ima xattr only");
  verify->add_option("--jobs,-j", args->jobs, "Worker threads (default: one per core)");
  verify->add_flag("--json", args->json, "Print one JSON document with every file's status");
  verify->add_flag("--quiet,-q", args->quiet, "Print only files that are not ok");
  verify->add_flag("--verbose,-v", args->verbose, "Also list skipped files");
  verify->add_flag("--no-progress", args->no_progress, "Never draw a progress bar");
  verify->add_option("paths", args->paths, "Files or directories")->required();
  verify->callback([args, &exit_code] { exit_code = run_verify(*args); });
}

}  // namespace vigil::cli
