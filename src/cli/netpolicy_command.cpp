// vigil netpolicy check|show|apply|flows: network policies (docs/netpolicy.md).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/netpolicy_live.h"
#include "cli/output.h"
#include "netpolicy/netpolicy.h"

namespace vigil::cli {
namespace {

struct CheckArgs {
  std::vector<std::string> files;
  bool json = false;
};

nlohmann::json diagnostics_json(const std::vector<netpolicy::Diagnostic>& diagnostics) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : diagnostics)
    list.push_back({{"file", d.file}, {"line", d.line}, {"message", d.message}, {"text", d.to_string()}});
  return list;
}

// A resolver that knows no workloads: check compiles the rules without touching the host.
netpolicy::SubjectResolver offline_resolver() {
  netpolicy::SubjectResolver resolver;
  resolver.signer_id = [](std::string_view) { return 1u; };
  return resolver;
}

int run_check(const CheckArgs& args) {
  std::vector<netpolicy::Diagnostic> diagnostics;
  netpolicy::PolicySet set = netpolicy::load_policy_files(args.files, diagnostics);
  std::optional<netpolicy::CompiledPolicy> compiled;
  std::string compile_error;
  if (diagnostics.empty()) {
    auto result = netpolicy::compile(set, offline_resolver());
    if (result) compiled = std::move(*result);
    else compile_error = result.error().message;
  }
  const bool ok = diagnostics.empty() && compile_error.empty();
  if (args.json) {
    nlohmann::json document = {{"files", args.files}, {"errors", diagnostics_json(diagnostics)}, {"ok", ok}};
    if (!compile_error.empty()) document["compile_error"] = compile_error;
    document["summary"] = {{"policies", set.policies.size()}, {"rules", set.rule_count()}};
    if (compiled)
      document["tables"] = {{"identities", compiled->identities.size() - 1},
                            {"prefixes", compiled->prefixes.size()},
                            {"portsets", compiled->portsets.size() - 1}};
    print_json(document);
  } else {
    for (const auto& d : diagnostics) std::printf("%s\n", d.to_string().c_str());
    if (!compile_error.empty()) std::printf("error: %s\n", compile_error.c_str());
    std::printf("%zu policies, %zu rules", set.policies.size(), set.rule_count());
    if (compiled)
      std::printf("; %zu subjects, %zu prefixes, %zu port rule sets", compiled->identities.size() - 1,
                  compiled->prefixes.size(), compiled->portsets.size() - 1);
    std::printf("; %zu errors\n", diagnostics.size() + (compile_error.empty() ? 0 : 1));
  }
  return ok ? kExitOk : kExitFailures;
}

}  // namespace

void add_netpolicy_command(CLI::App& app, int& exit_code) {
  CLI::App* netpolicy = app.add_subcommand("netpolicy", "Network policy: micro-segmentation by workload identity");
  netpolicy->require_subcommand(1);

  auto check_args = std::make_shared<CheckArgs>();
  CLI::App* check = netpolicy->add_subcommand("check", "Parse and compile policy files; report file:line errors");
  check->add_flag("--json", check_args->json, "Print one JSON document");
  check->add_option("files", check_args->files, "Policy files")->required();
  check->callback([check_args, &exit_code] { exit_code = run_check(*check_args); });

  add_netpolicy_live_commands(*netpolicy, exit_code);
}

}  // namespace vigil::cli
