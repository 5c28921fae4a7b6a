// Runtime policies generated from a trusted tree or a trusted measurement list.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "attest/runtime_policy.h"
#include "attest/runtime_policy_parts.h"
#include "common/tree_walk.h"

namespace vigil::attest {
namespace {

using policy_parts::add_unique;

// Where a file under root lands in the policy: prefix + its path below root, or its
// absolute path when there is no prefix.
std::string policy_path(const std::string& root, const std::string& file, const std::string& prefix) {
  if (prefix.empty()) return file;
  std::string relative = file.substr(std::min(root.size(), file.size()));
  while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
  std::string path = prefix;
  if (path.back() != '/') path += '/';
  return path + relative;
}

}  // namespace

Result<RuntimePolicy> generate_from_tree(const std::string& root, const GenerateOptions& options) {
  if (options.algos.empty()) return fail("no hash algorithm chosen");
  for (const auto algo : options.algos) {
    if (crypto::hash_md(algo) == nullptr) return fail("hash algorithm " + std::string(crypto::hash_name(algo)) + " is not available");
  }
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) return fail_errno(root);
  const std::string canonical_root = resolved;
  WalkOptions walk;
  walk.recursive = true;  // symlinks below the root are never followed
  const WalkResult found = collect_files({canonical_root}, walk);
  for (const auto& issue : found.issues) {
    if (issue.kind == WalkIssue::Kind::failed) return fail(issue.path + ": " + issue.reason);
  }

  RuntimePolicy policy;
  crypto::Hasher hasher;
  for (const auto& file : found.files) {
    // Beneath the root, and the file that was listed: a tree changed meanwhile cannot put a
    // digest of a file from elsewhere into the policy.
    auto fd = open_walked_file(file);
    if (!fd) return fail(file.path + ": " + fd.error().message);
    auto& allowed = policy.digests[policy_path(canonical_root, file.path, options.path_prefix)];
    for (const auto algo : options.algos) {
      if (::lseek(fd->get(), 0, SEEK_SET) != 0) return fail_errno(file.path + ": seek");
      auto digest = hasher.of_fd(algo, fd->get());
      if (!digest) return fail(file.path + ": " + digest.error().message);
      add_unique(allowed, *digest);
    }
  }
  if (auto compiled = compile_runtime_policy(policy); !compiled) return std::unexpected(compiled.error());
  return policy;
}

RuntimePolicy generate_from_measurements(std::span<const ima::MeasurementEntry> entries) {
  RuntimePolicy policy;
  for (const auto& entry : entries) {
    if (entry.violation || entry.path == "boot_aggregate") continue;
    add_unique(policy.digests[entry.path], entry.file_digest);
  }
  (void)compile_runtime_policy(policy);  // nothing to compile: no keys, no regexes
  return policy;
}

}  // namespace vigil::attest
