#pragma once
// What rule files define, merged across files in order (append/override applied), before
// anything is compiled: Falco resolves names only after every file is read, so a macro may
// use a list defined further down.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rules/rules.h"

namespace vigil::rules {

struct Location {
  std::string file;
  int line = 0;
};

// Condition text glued from pieces (a definition plus its appends), each remembering where
// it came from so an error offset maps back to file:line.
struct ConditionText {
  struct Piece {
    std::size_t begin = 0;
    Location where;
  };
  std::string text;
  std::vector<Piece> pieces;

  void assign(std::string text, Location where);
  void append(const std::string& more, Location where);
  // The piece holding offset, and the offset within that piece (0-based).
  const Piece& piece_at(std::size_t offset, std::size_t& offset_in_piece) const;
};

struct ListDef {
  std::string name;
  std::vector<std::string> items;
  Location where;
};

struct MacroDef {
  std::string name;
  ConditionText condition;
  Location where;
};

struct ExceptionDef {
  // One field's value: a scalar, or a list (for in/pmatch/intersects comps).
  struct Element {
    std::vector<std::string> items;
    bool is_list = false;
  };
  // One entry of `values`: a tuple with one element per field (one element for a single field).
  struct Value {
    std::vector<Element> elements;
    bool from_sequence = false;  // written as a YAML list (read before the fields were known)
  };
  std::string name;
  std::vector<std::string> fields;
  bool fields_is_list = true;
  bool fields_given = false;  // false in an append that only adds values to an exception
  std::vector<std::string> comps;
  std::vector<Value> values;
  Location where;
};

struct RuleDef {
  std::string name;
  std::string description;
  ConditionText condition;
  std::string output;
  Priority priority = Priority::warning;
  std::vector<std::string> tags;
  bool enabled = true;
  Action action = Action::alert;
  std::string source = "syscall";
  std::vector<ExceptionDef> exceptions;
  Location where;
  bool complete = false;  // condition, output and priority were all given
};

struct Definitions {
  std::vector<ListDef> lists;
  std::vector<MacroDef> macros;
  std::vector<RuleDef> rules;
  std::map<std::string, std::size_t, std::less<>> list_index, macro_index, rule_index;
};

// Reads one rule file's YAML text into defs (errors and warnings into report). Never throws.
void read_rule_file(const std::string& text, const std::string& file, Definitions& defs, LoadReport& report);

}  // namespace vigil::rules
