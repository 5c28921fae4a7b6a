#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/path_text.h"
#include "ima/policy.h"

namespace vigil::cli {
namespace {

struct PolicyCheckArgs {
  std::vector<std::string> files;
  bool json = false;
};

nlohmann::json diagnostics_json(const std::vector<ima::PolicyDiagnostic>& diagnostics) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& diagnostic : diagnostics) list.push_back({{"line", diagnostic.line}, {"message", diagnostic.message}});
  return list;
}

void print_diagnostic(const ima::PolicyDiagnostic& diagnostic, const char* kind) {
  std::printf("%s:%d: %s: %s\n", printable_path(diagnostic.file).c_str(), diagnostic.line, kind,
              diagnostic.message.c_str());
}

// Errors and warnings of one file, in line order (each list already is).
void print_diagnostics(const ima::PolicyParse& parse) {
  size_t e = 0;
  size_t w = 0;
  while (e < parse.errors.size() || w < parse.warnings.size()) {
    if (w == parse.warnings.size() || (e < parse.errors.size() && parse.errors[e].line <= parse.warnings[w].line)) {
      print_diagnostic(parse.errors[e++], "error");
    } else {
      print_diagnostic(parse.warnings[w++], "warning");
    }
  }
}

int run_policy_check(const PolicyCheckArgs& args) {
  size_t rules = 0;
  size_t errors = 0;
  size_t warnings = 0;
  bool unreadable = false;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& path : args.files) {
    auto text = ima::read_policy_file(path);
    if (!text) {
      unreadable = true;
      ++errors;
      std::fprintf(stderr, "vigil policy check: cannot read %s\n", text.error().message.c_str());
      if (args.json) {
        files.push_back({{"path", path},
                         {"rules", 0},
                         {"errors", {{{"line", 0}, {"message", "cannot read " + text.error().message}}}},
                         {"warnings", nlohmann::json::array()}});
      }
      continue;
    }
    const ima::PolicyParse parse = ima::parse_policy(*text, path);
    rules += parse.policy.rules.size();
    errors += parse.errors.size();
    warnings += parse.warnings.size();
    if (args.json) {
      files.push_back({{"path", path},
                       {"rules", parse.policy.rules.size()},
                       {"errors", diagnostics_json(parse.errors)},
                       {"warnings", diagnostics_json(parse.warnings)}});
    } else {
      print_diagnostics(parse);
    }
  }
  if (args.json) {
    print_json({{"files", files}, {"summary", {{"rules", rules}, {"errors", errors}, {"warnings", warnings}}}});
  } else {
    std::printf("%zu rules, %zu errors, %zu warnings\n", rules, errors, warnings);
  }
  if (unreadable) return kExitUsage;
  return errors == 0 ? kExitOk : kExitFailures;
}

}  // namespace

void add_policy_command(CLI::App& app, int& exit_code) {
  CLI::App* policy = app.add_subcommand(
      "policy", "IMA policies (the kernel's language, plus path= and keyring=) and attestation runtime policies");
  policy->require_subcommand(1);
  auto args = std::make_shared<PolicyCheckArgs>();
  CLI::App* check = policy->add_subcommand("check", "Parse policy files and report every error and warning by line");
  check->add_flag("--json", args->json, "Print one JSON document with each file's rules, errors and warnings");
  check->add_option("files", args->files, "Policy files")->required();
  check->callback([args, &exit_code] { exit_code = run_policy_check(*args); });
  add_runtime_policy_subcommands(*policy, exit_code);
}

}  // namespace vigil::cli
