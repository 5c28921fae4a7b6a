#include "cli/docgen.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "cli/commands.h"

namespace vigil::cli {
namespace {

constexpr const char* kDocsCommand = "__docs";

// Subcommands a user can type: visible in --help (a non-empty group) and not the docs command.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands(
      [](const CLI::App* sub) { return !sub->get_group().empty() && sub->get_name() != kDocsCommand; });
}

std::vector<const CLI::Option*> visible_options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* option) { return !option->get_group().empty(); });
}

bool takes_value(const CLI::Option& option) { return option.get_type_size_max() > 0 && option.get_items_expected_max() > 0; }

// The words an IsMember-checked option accepts, from its type name "TEXT:{a,b,c}".
std::vector<std::string> choices_of(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const size_t open = type.find('{'), close = type.find('}', open == std::string::npos ? 0 : open);
  std::vector<std::string> words;
  if (open == std::string::npos || close == std::string::npos) return words;
  std::string word;
  for (size_t i = open + 1; i < close; ++i) {
    if (type[i] == ',') {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else if (type[i] != ' ') {
      word += type[i];
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

std::vector<std::string> flag_names(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const auto& name : option.get_lnames()) names.push_back("--" + name);
  for (const auto& name : option.get_snames()) names.push_back("-" + name);
  return names;
}

// ---- roff ----

// Text safe in a roff line: backslashes escaped, no line starting with a control character.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string page_name(const std::string& command) { return command.empty() ? "vigil" : "vigil-" + command; }

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string value_name(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const size_t colon = type.find(':');
  std::string name = colon == std::string::npos ? type : type.substr(0, colon);
  return name.empty() ? "VALUE" : name;
}

void options_section(std::string& out, const CLI::App& app) {
  for (const CLI::Option* option : visible_options(app)) {
    if (!option->nonpositional()) continue;
    out += ".TP\n";
    std::string names;
    for (const auto& name : flag_names(*option)) names += (names.empty() ? "" : ", ") + ("\\fB" + roff(name) + "\\fR");
    if (takes_value(*option)) {
      const auto choices = choices_of(*option);
      std::string value;
      if (!choices.empty()) {
        for (const auto& choice : choices) value += (value.empty() ? "" : "|") + roff(choice);
      } else {
        value = roff(value_name(*option));
      }
      names += " \\fI" + value + "\\fR";
    }
    out += names + "\n" + roff(option->get_description());
    if (!option->get_default_str().empty()) out += " (default: " + roff(option->get_default_str()) + ")";
    if (!option->get_envname().empty()) out += " (environment: " + roff(option->get_envname()) + ")";
    out += "\n";
  }
}

void arguments_section(std::string& out, const CLI::App& app) {
  for (const CLI::Option* option : visible_options(app)) {
    if (option->nonpositional()) continue;
    out += ".TP\n\\fI" + roff(upper(option->get_name(true))) + "\\fR\n" + roff(option->get_description());
    out += option->get_required() ? " (required)\n" : "\n";
  }
}

std::string synopsis(const std::string& path, const CLI::App& app) {
  std::string line = ".B vigil " + roff(path) + "\n";
  const bool has_options = !visible_options(app).empty();
  if (!visible_subcommands(app).empty()) line += "\\fICOMMAND\\fR ";
  if (has_options) line += "[\\fIOPTIONS\\fR]";
  for (const CLI::Option* option : visible_options(app)) {
    if (option->nonpositional()) continue;
    const std::string name = "\\fI" + roff(upper(option->get_name(true))) + "\\fR" +
                             (option->get_items_expected_max() > 1 ? "..." : "");
    line += option->get_required() ? " " + name : " [" + name + "]";
  }
  return line + "\n";
}

// A command and, as subsections, the commands below it.
void command_sections(std::string& out, const std::string& path, const CLI::App& app, bool top) {
  if (!top) {
    out += ".SS \"vigil " + roff(path) + "\"\n";
    out += synopsis(path, app) + ".PP\n" + roff(app.get_description()) + "\n";
    if (!app.get_footer().empty()) out += ".PP\n" + roff(app.get_footer()) + "\n";
    options_section(out, app);
    arguments_section(out, app);
  }
  for (const CLI::App* sub : visible_subcommands(app)) command_sections(out, path + " " + sub->get_name(), *sub, false);
}

std::string header(const std::string& name, const std::string& version, const std::string& date) {
  return ".\\\" Generated by `vigil __docs` from the command line definitions; do not edit.\n"
         ".TH " + upper(roff(name)) + " 8 \"" + date + "\" \"vigil " + roff(version) + "\" \"System Administration\"\n";
}

std::string command_page(const CLI::App& app, const std::vector<const CLI::App*>& siblings, const std::string& version,
                         const std::string& date) {
  const std::string name = page_name(app.get_name());
  std::string out = header(name, version, date);
  out += ".SH NAME\n" + roff(name) + " \\- " + roff(app.get_description()) + "\n";
  out += ".SH SYNOPSIS\n" + synopsis(app.get_name(), app);
  out += ".SH DESCRIPTION\n" + roff(app.get_description()) + ".\n";
  if (!app.get_footer().empty()) out += ".PP\n" + roff(app.get_footer()) + "\n";
  if (!visible_options(app).empty()) {
    out += ".SH OPTIONS\n";
    options_section(out, app);
    arguments_section(out, app);
  }
  if (!visible_subcommands(app).empty()) {
    out += ".SH COMMANDS\n";
    command_sections(out, app.get_name(), app, true);
  }
  out += ".SH EXIT STATUS\n0 on success; 1 when the command ran and found failures; 2 for bad arguments or setup "
         "(nothing was done), unless the description above says otherwise.\n";
  out += ".SH SEE ALSO\n\\fBvigil\\fR(8)";
  for (const CLI::App* sibling : siblings) {
    if (sibling != &app) out += ", \\fB" + roff(page_name(sibling->get_name())) + "\\fR(8)";
  }
  out += "\n";
  return out;
}

std::string root_page(const CLI::App& root, const std::string& version, const std::string& date) {
  std::string out = header("vigil", version, date);
  out += ".SH NAME\nvigil \\- integrity and runtime security for Linux hosts and containers\n";
  out += ".SH SYNOPSIS\n.B vigil\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n.B vigil\n\\-\\-help | \\-\\-version\n";
  out += ".SH DESCRIPTION\n" + roff(root.get_description()) + ".\n.PP\n"
         "IMA\\-compatible file signing and verification; an agent that measures and appraises what runs "
         "(fanotify) and detects threats at run time with Falco\\-language rules on eBPF events; remote "
         "attestation with a TPM 2.0 and a key broker; a console with a JSON API and a dashboard.\n";
  out += ".SH COMMANDS\n";
  for (const CLI::App* sub : visible_subcommands(root)) {
    out += ".TP\n\\fB" + roff(sub->get_name()) + "\\fR\n" + roff(sub->get_description()) + ". See \\fB" +
           roff(page_name(sub->get_name())) + "\\fR(8).\n";
  }
  out += ".SH OPTIONS\n";
  options_section(out, root);
  out += ".SH FILES\n"
         ".TP\n\\fI/etc/vigil/agent.yaml\\fR\nThe agent's configuration (\\fBvigil agent \\-\\-check\\-config\\fR validates it).\n"
         ".TP\n\\fI/etc/vigil/ima.policy\\fR\nThe IMA policy the configuration may name.\n"
         ".TP\n\\fI/var/lib/vigil/\\fR\nThe agent's state: measurement lists, audit.jsonl, alerts.jsonl, console.db, "
         "console.token, agent.sock.\n"
         ".TP\n\\fI/var/lib/vigil\\-verifier/\\fR\nThe verifier's state (vigil\\-verifier.service).\n";
  out += ".SH EXIT STATUS\n0 success; 1 the command ran and found failures (files that did not verify, errors in "
         "a policy); 2 bad arguments or setup, nothing was done. \\fBvigil status\\fR: 0 healthy, 1 degraded, 2 not "
         "running, 3 could not ask.\n";
  out += ".SH SEE ALSO\n";
  std::string see;
  for (const CLI::App* sub : visible_subcommands(root)) see += (see.empty() ? "" : ", ") + ("\\fB" + roff(page_name(sub->get_name())) + "\\fR(8)");
  out += see + ", \\fBsystemctl\\fR(1), \\fBevmctl\\fR(1)\n";
  return out;
}

// ---- completions: a table of every command path, shared by both shells ----

struct CommandInfo {
  std::vector<std::pair<std::string, std::string>> subcommands;  // name, description
  std::vector<std::pair<std::string, std::string>> options;      // every spelling, description
  std::set<std::string> value_options;                           // spellings that take a value
  std::map<std::string, std::vector<std::string>> choices;       // spelling -> accepted words
  bool positionals = false;                                      // takes operands (files)
};

void collect(const CLI::App& app, const std::string& path, std::map<std::string, CommandInfo>& table) {
  CommandInfo& info = table[path];
  for (const CLI::App* sub : visible_subcommands(app)) info.subcommands.emplace_back(sub->get_name(), sub->get_description());
  for (const CLI::Option* option : visible_options(app)) {
    if (!option->nonpositional()) {
      info.positionals = true;
      continue;
    }
    for (const auto& name : flag_names(*option)) {
      info.options.emplace_back(name, option->get_description());
      if (takes_value(*option)) info.value_options.insert(name);
      if (auto words = choices_of(*option); !words.empty()) info.choices[name] = words;
    }
  }
  for (const CLI::App* sub : visible_subcommands(app)) collect(*sub, path + " " + sub->get_name(), table);
}

std::string shell_words(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

// Single-quoted for sh (descriptions may hold anything).
std::string sh_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

std::vector<ManPage> man_pages(const CLI::App& root, const std::string& version, const std::string& date) {
  std::vector<ManPage> pages;
  pages.push_back({"vigil.8", root_page(root, version, date)});
  const auto subcommands = visible_subcommands(root);
  for (const CLI::App* sub : subcommands) {
    pages.push_back({page_name(sub->get_name()) + ".8", command_page(*sub, subcommands, version, date)});
  }
  return pages;
}

std::string bash_completion(const CLI::App& root) {
  std::map<std::string, CommandInfo> table;
  collect(root, "vigil", table);  // keys: "vigil", "vigil policy", ... (bash forbids an empty key)
  std::string out =
      "# bash completion for vigil. Generated by `vigil __docs` from the command line definitions; do not edit.\n"
      "declare -gA _vigil_subcommands=() _vigil_options=() _vigil_value_options=() _vigil_choices=() _vigil_operands=()\n";
  for (const auto& [path, info] : table) {
    std::vector<std::string> subs, options, values;
    for (const auto& [name, description] : info.subcommands) subs.push_back(name);
    for (const auto& [name, description] : info.options) options.push_back(name);
    values.assign(info.value_options.begin(), info.value_options.end());
    out += "_vigil_subcommands[" + sh_quoted(path) + "]=" + sh_quoted(shell_words(subs)) + "\n";
    out += "_vigil_options[" + sh_quoted(path) + "]=" + sh_quoted(shell_words(options)) + "\n";
    out += "_vigil_value_options[" + sh_quoted(path) + "]=" + sh_quoted(" " + shell_words(values) + " ") + "\n";
    if (info.positionals) out += "_vigil_operands[" + sh_quoted(path) + "]=1\n";
    for (const auto& [name, words] : info.choices) out += "_vigil_choices[" + sh_quoted(path + " " + name) + "]=" + sh_quoted(shell_words(words)) + "\n";
  }
  out += R"(
_vigil() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path=vigil word i
  # The command path so far: words that name a subcommand of the path before them; the value
  # after an option that takes one is skipped.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ " ${_vigil_subcommands[$path]} " == *" $word "* ]]; then
      path="$path $word"
    elif [[ ${_vigil_value_options[$path]} == *" $word "* ]]; then
      ((i++))
    fi
  done
  COMPREPLY=()
  if [[ $COMP_CWORD -gt 1 && ${_vigil_value_options[$path]} == *" $prev "* ]]; then
    if [[ -n ${_vigil_choices[$path $prev]+set} ]]; then
      mapfile -t COMPREPLY < <(compgen -W "${_vigil_choices[$path $prev]}" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_vigil_options[$path]}" -- "$cur")
  elif [[ -n ${_vigil_subcommands[$path]} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_vigil_subcommands[$path]}" -- "$cur")
    [[ -n ${_vigil_operands[$path]} ]] && mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur")
  elif [[ -n ${_vigil_operands[$path]} ]]; then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}
complete -o filenames -F _vigil vigil
)";
  return out;
}

std::string zsh_completion(const CLI::App& root) {
  std::map<std::string, CommandInfo> table;
  collect(root, "vigil", table);  // keys: "vigil", "vigil policy", ... (bash forbids an empty key)
  std::string out =
      "#compdef vigil\n"
      "# zsh completion for vigil. Generated by `vigil __docs` from the command line definitions; do not edit.\n"
      "typeset -gA _vigil_subcommands _vigil_options _vigil_value_options _vigil_choices _vigil_operands\n";
  for (const auto& [path, info] : table) {
    // name:description pairs, as _describe takes them (colons in names escaped).
    std::vector<std::string> subs, options, values;
    auto described = [](const std::string& name, const std::string& description) {
      std::string escaped;
      for (char c : name) {
        if (c == ':') escaped += "\\";
        escaped += c;
      }
      return escaped + ":" + description;
    };
    std::string sub_text, option_text;
    for (const auto& [name, description] : info.subcommands) sub_text += described(name, description) + "\n";
    for (const auto& [name, description] : info.options) option_text += described(name, description) + "\n";
    values.assign(info.value_options.begin(), info.value_options.end());
    // (key value) pairs: zsh keeps quotes inside a subscript as part of the key.
    out += "_vigil_subcommands+=(" + sh_quoted(path) + " " + sh_quoted(sub_text) + ")\n";
    out += "_vigil_options+=(" + sh_quoted(path) + " " + sh_quoted(option_text) + ")\n";
    out += "_vigil_value_options+=(" + sh_quoted(path) + " " + sh_quoted(" " + shell_words(values) + " ") + ")\n";
    if (info.positionals) out += "_vigil_operands+=(" + sh_quoted(path) + " 1)\n";
    for (const auto& [name, words] : info.choices) {
      out += "_vigil_choices+=(" + sh_quoted(path + " " + name) + " " + sh_quoted(shell_words(words)) + ")\n";
    }
  }
  out += R"(
# The command path of words[2,CURRENT-1] (same walk as the bash script).
_vigil_path() {
  local path=vigil word i
  local -a names
  for ((i = 2; i < CURRENT; i++)); do
    word=${words[i]}
    names=(${(f)_vigil_subcommands[$path]})
    names=(${names%%:*})
    if (( ${names[(Ie)$word]} )); then
      path="$path $word"
    elif [[ ${_vigil_value_options[$path]} == *" $word "* ]]; then
      ((i++))
    fi
  done
  REPLY=$path
}

_vigil() {
  local REPLY path prev=${words[CURRENT-1]}
  _vigil_path
  path=$REPLY
  local -a entries
  if (( CURRENT > 2 )) && [[ ${_vigil_value_options[$path]} == *" $prev "* ]]; then
    if (( ${+_vigil_choices[$path $prev]} )); then
      compadd -- ${=_vigil_choices[$path $prev]}
    else
      _files
    fi
    return
  fi
  if [[ $PREFIX == -* ]]; then
    entries=(${(f)_vigil_options[$path]})
    _describe -t options option entries
  elif [[ -n ${_vigil_subcommands[$path]} ]]; then
    entries=(${(f)_vigil_subcommands[$path]})
    _describe -t commands command entries
    (( ${+_vigil_operands[$path]} )) && _files
  elif (( ${+_vigil_operands[$path]} )); then
    _files
  fi
}

if [[ $funcstack[1] == _vigil ]]; then
  _vigil "$@"
else
  compdef _vigil vigil
fi
)";
  return out;
}

void add_docs_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string man_dir, bash, zsh;
  };
  auto args = std::make_shared<Args>();
  CLI::App* docs = app.add_subcommand(kDocsCommand, "Write the man pages and shell completions (the build runs this)");
  docs->group("");  // hidden
  docs->add_option("--man-dir", args->man_dir, "Directory for vigil.8 and vigil-COMMAND.8");
  docs->add_option("--bash", args->bash, "File for the bash completion script");
  docs->add_option("--zsh", args->zsh, "File for the zsh completion script");
  CLI::App* root = &app;
  docs->callback([args, root, &exit_code] {
    // SOURCE_DATE_EPOCH (reproducible builds) fixes the date in the pages.
    std::time_t now = std::time(nullptr);
    if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) now = static_cast<std::time_t>(std::strtoll(epoch, nullptr, 10));
    char date[32];
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(date, sizeof date, "%Y-%m-%d", &utc);
    auto write = [&](const std::string& path, const std::string& text) {
      std::ofstream out(path, std::ios::trunc);
      out << text;
      if (!out.flush()) throw UsageError("cannot write " + path);
    };
    if (!args->man_dir.empty()) {
      std::filesystem::create_directories(args->man_dir);
      for (const auto& page : man_pages(*root, VIGIL_VERSION, date)) write(args->man_dir + "/" + page.file_name, page.text);
    }
    if (!args->bash.empty()) write(args->bash, bash_completion(*root));
    if (!args->zsh.empty()) write(args->zsh, zsh_completion(*root));
    exit_code = kExitOk;
  });
}

}  // namespace vigil::cli
