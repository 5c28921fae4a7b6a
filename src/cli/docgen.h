#pragma once
// Man pages and shell completions made from the CLI11 definitions themselves (`vigil __docs`,
// run by the build), so neither can drift from what the commands accept.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace vigil::cli {

struct ManPage {
  std::string file_name;  // "vigil.8", "vigil-agent.8"
  std::string text;       // roff (man(7) macros)
};

// vigil(8) and one page per visible top-level subcommand (nested subcommands are sections of it).
std::vector<ManPage> man_pages(const CLI::App& root, const std::string& version, const std::string& date);
// A bash completion script (complete -F _vigil vigil) and a zsh one (#compdef vigil).
std::string bash_completion(const CLI::App& root);
std::string zsh_completion(const CLI::App& root);

// Registers the hidden `__docs` subcommand that writes them (not listed by --help).
void add_docs_command(CLI::App& app, int& exit_code);

}  // namespace vigil::cli
