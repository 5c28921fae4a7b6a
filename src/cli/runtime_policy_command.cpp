// `vigil policy generate` and `vigil policy import-keylime`: runtime policies for attestation
// (docs/attestation.md, "Runtime policy"), written as vigil's JSON.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "attest/runtime_policy.h"
#include "cli/commands.h"
#include "crypto/crypto.h"
#include "ima/measurement_list.h"

namespace vigil::cli {
namespace {

constexpr size_t kMaxInputSize = size_t{1} << 30;  // a measurement list of millions of entries

struct GenerateArgs {
  std::string tree;
  std::string measurements;
  std::string prefix;
  std::string hashes = "sha256";
  std::string out;
  bool force = false;
};

struct ImportArgs {
  std::string file;
  std::string out;
  bool force = false;
};

std::vector<crypto::HashAlgo> parse_hashes(const std::string& list) {
  std::vector<crypto::HashAlgo> algos;
  std::stringstream stream(list);
  std::string name;
  while (std::getline(stream, name, ',')) {
    const auto algo = crypto::hash_from_name(name);
    if (!algo || crypto::hash_md(*algo) == nullptr) throw UsageError("--hash: unknown hash algorithm '" + name + "'");
    algos.push_back(*algo);
  }
  if (algos.empty()) throw UsageError("--hash: name at least one algorithm (e.g. sm3,sha256)");
  return algos;
}

// A trusted list in either of the kernel's formats.
Result<std::vector<ima::MeasurementEntry>> read_measurements(const std::string& path) {
  auto bytes = crypto::read_file(path, kMaxInputSize);
  if (!bytes) return std::unexpected(bytes.error());
  auto binary = ima::parse_binary_list(*bytes);
  if (binary) return binary;
  auto ascii = ima::parse_ascii_list(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (ascii) return ascii;
  return fail(path + ": neither a binary list (" + binary.error().message + ") nor an ascii list (" +
              ascii.error().message + ")");
}

int write_policy(const attest::RuntimePolicy& policy, const std::string& out, bool force, const char* command) {
  const std::string text = attest::runtime_policy_json(policy);
  size_t digests = 0;
  for (const auto& [path, allowed] : policy.digests) digests += allowed.size();
  if (out.empty() || out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    if (auto written = crypto::write_file(out, bytes, 0644, force); !written) {
      std::fprintf(stderr, "vigil policy %s: %s\n", command, written.error().message.c_str());
      return kExitFailures;
    }
  }
  std::fprintf(stderr, "%zu paths, %zu digests, %zu excludes, %zu keys\n", policy.digests.size(), digests,
               policy.exclude_globs.size() + policy.exclude_regexes.size(), policy.key_pems.size());
  return kExitOk;
}

int run_generate(const GenerateArgs& args) {
  if (args.tree.empty() == args.measurements.empty()) throw UsageError("policy generate: give --tree or --measurements");
  attest::RuntimePolicy policy;
  if (!args.tree.empty()) {
    attest::GenerateOptions options;
    options.algos = parse_hashes(args.hashes);
    options.path_prefix = args.prefix;
    auto generated = attest::generate_from_tree(args.tree, options);
    if (!generated) {
      std::fprintf(stderr, "vigil policy generate: %s\n", generated.error().message.c_str());
      return kExitFailures;
    }
    policy = std::move(*generated);
  } else {
    auto entries = read_measurements(args.measurements);
    if (!entries) {
      std::fprintf(stderr, "vigil policy generate: %s\n", entries.error().message.c_str());
      return kExitFailures;
    }
    policy = attest::generate_from_measurements(*entries);
  }
  return write_policy(policy, args.out, args.force, "generate");
}

int run_import(const ImportArgs& args) {
  auto bytes = crypto::read_file(args.file, kMaxInputSize);
  if (!bytes) {
    std::fprintf(stderr, "vigil policy import-keylime: %s\n", bytes.error().message.c_str());
    return kExitFailures;
  }
  auto policy = attest::import_keylime_policy(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), args.file);
  if (!policy) {
    std::fprintf(stderr, "vigil policy import-keylime: %s\n", policy.error().message.c_str());
    return kExitFailures;
  }
  return write_policy(*policy, args.out, args.force, "import-keylime");
}

}  // namespace

void add_runtime_policy_subcommands(CLI::App& policy, int& exit_code) {
  auto generate_args = std::make_shared<GenerateArgs>();
  CLI::App* generate = policy.add_subcommand(
      "generate", "Write a runtime policy (attestation) from a trusted tree or a trusted measurement list");
  generate->add_option("--tree", generate_args->tree, "Hash every regular file below DIR (symlinks not followed)");
  generate->add_option("--measurements", generate_args->measurements,
                       "Take every path and digest of a trusted measurement list (ascii or binary)");
  generate->add_option("--prefix", generate_args->prefix,
                       "With --tree: record paths as PREFIX + the path below DIR (default: absolute paths)");
  generate->add_option("--hash", generate_args->hashes, "With --tree: comma-separated algorithms, e.g. sm3,sha256")
      ->capture_default_str();
  generate->add_option("-o,--output", generate_args->out, "Write the policy here (default: stdout)");
  generate->add_flag("--force", generate_args->force, "Replace an existing output file");
  generate->callback([generate_args, &exit_code] { exit_code = run_generate(*generate_args); });

  auto import_args = std::make_shared<ImportArgs>();
  CLI::App* import = policy.add_subcommand(
      "import-keylime", "Convert a Keylime runtime policy (digests, excludes, verification-keys) to vigil's format");
  import->add_option("file", import_args->file, "Keylime runtime policy JSON")->required();
  import->add_option("-o,--output", import_args->out, "Write the policy here (default: stdout)");
  import->add_flag("--force", import_args->force, "Replace an existing output file");
  import->callback([import_args, &exit_code] { exit_code = run_import(*import_args); });
}

}  // namespace vigil::cli
