#pragma once
// A parsed condition, before macros, lists and fields are resolved (compiler.h does that).
// Positions are byte offsets into the condition text, for error columns.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::rules {

enum class Operator : std::uint8_t {
  eq, ne, lt, le, gt, ge, in, intersects, contains, icontains, bcontains, startswith, bstartswith, endswith, glob,
  iglob, pmatch, exists, regex,
};
std::string_view operator_name(Operator op) noexcept;
// Operators that take a list: `field in (a, b)`.
bool takes_list(Operator op) noexcept;

struct ValueText {
  std::string text;
  bool quoted = false;  // quoted values never name a list
  std::size_t position = 0;
};

struct Expr {
  enum class Kind : std::uint8_t { all, any, negation, check, macro };
  Kind kind = Kind::check;
  std::size_t position = 0;
  std::vector<Expr> children;  // all, any: two or more; negation: one
  std::string name;            // check: the field as written; macro: its name
  Operator op = Operator::eq;
  bool list = false;           // values came in parentheses (or as one list name)
  std::vector<ValueText> values;
};

struct ParseError {
  std::size_t position = 0;
  std::string message;
};

// Parses Falco's condition syntax. Never throws; nesting deeper than 200 is an error.
std::expected<Expr, ParseError> parse_condition(std::string_view text);

}  // namespace vigil::rules
