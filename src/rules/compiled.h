#pragma once
// Compiled conditions: fields resolved and type-checked, constants parsed, lists expanded and
// sorted, macros inlined. Evaluated by evaluate_node (evaluator.cpp).
#include <bitset>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "rules/condition_ast.h"
#include "rules/fields.h"
#include "rules/values.h"

namespace vigil::rules {

class Extractor;

struct Check {
  FieldRef field;
  std::size_t slot = 0;  // the extractor's scratch slot for this field
  Operator op = Operator::eq;
  bool is_event_type = false;  // evt.type: decided by `types` alone
  std::bitset<events::kEventTypeCount> types;
  bool numeric_text = false;   // evt.arg compared with < <= > >=: parsed as a number when it is one
  // The constant(s), by the field's type.
  std::int64_t integer = 0;
  std::string text;                   // string constant (lowercased for icontains/iglob; bytes for b*)
  IpNetwork network;
  std::vector<std::int64_t> integers;  // sorted
  std::vector<std::string> texts;      // sorted for in/intersects; as written for pmatch
  std::vector<IpNetwork> networks;
  std::shared_ptr<const std::regex> regex;
};

struct Node {
  enum class Kind : std::uint8_t { all, any, negation, check, constant };
  Kind kind = Kind::constant;
  bool constant = false;
  std::vector<Node> children;
  std::unique_ptr<Check> check;
};

bool evaluate_node(const Node& node, Extractor& extractor);

// Glob with *, ? and [...] classes over the whole text (fnmatch without FNM_PATHNAME).
bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case = false);
// Falco's pmatch: text is one of the paths or lies below one of them.
bool path_prefix_match(std::string_view prefix, std::string_view path);

}  // namespace vigil::rules
