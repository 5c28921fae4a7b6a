// Recursive descent over Falco's condition grammar:
//   expr := and_expr ("or" and_expr)* ; and_expr := not_expr ("and" not_expr)*
//   not_expr := "not" not_expr | "(" expr ")" | check
//   check := FIELD OP VALUE | FIELD LISTOP "(" VALUE ("," VALUE)* ")" | FIELD "exists" | MACRO
// Values are quoted strings or bare words (anything up to blank, '(', ')' or ','), so
// `evt.dir=<` and `proc.name in (runc:[1:CHILD])` read as Falco reads them.
#include <array>

#include "rules/condition_ast.h"

namespace vigil::rules {

namespace {

constexpr int kMaxDepth = 200;

struct OperatorWord {
  std::string_view word;
  Operator op;
};
constexpr std::array kOperatorWords{
    OperatorWord{"in", Operator::in},           OperatorWord{"intersects", Operator::intersects},
    OperatorWord{"contains", Operator::contains}, OperatorWord{"icontains", Operator::icontains},
    OperatorWord{"bcontains", Operator::bcontains}, OperatorWord{"startswith", Operator::startswith},
    OperatorWord{"bstartswith", Operator::bstartswith}, OperatorWord{"endswith", Operator::endswith},
    OperatorWord{"glob", Operator::glob},       OperatorWord{"iglob", Operator::iglob},
    OperatorWord{"pmatch", Operator::pmatch},   OperatorWord{"exists", Operator::exists},
    OperatorWord{"regex", Operator::regex},
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::expected<Expr, ParseError> run() {
    Expr expr;
    if (!parse_or(expr, 0)) return std::unexpected(error_);
    skip_blanks();
    if (position_ < text_.size()) {
      if (text_[position_] == ')') return fail(position_, "unbalanced ')'");
      return fail(position_, "expected 'and', 'or' or the end of the condition, found '" + std::string(peek_word()) +
                                 "'");
    }
    return expr;
  }

 private:
  std::unexpected<ParseError> fail(std::size_t position, std::string message) {
    error_ = ParseError{position, std::move(message)};
    return std::unexpected(error_);
  }
  bool set_error(std::size_t position, std::string message) {
    error_ = ParseError{position, std::move(message)};
    return false;
  }

  void skip_blanks() {
    while (position_ < text_.size() && is_blank(text_[position_])) ++position_;
  }
  std::string_view peek_word() {
    skip_blanks();
    std::size_t end = position_;
    while (end < text_.size() && is_word_char(text_[end])) ++end;
    return text_.substr(position_, end - position_);
  }
  // Consumes `keyword` when it is the next whole word.
  bool accept_keyword(std::string_view keyword) {
    if (peek_word() != keyword) return false;
    position_ += keyword.size();
    return true;
  }

  bool parse_or(Expr& out, int depth) {
    if (depth > kMaxDepth) return set_error(position_, "condition nested too deeply");
    Expr first;
    if (!parse_and(first, depth)) return false;
    if (peek_word() != "or") {
      out = std::move(first);
      return true;
    }
    out = Expr{};
    out.kind = Expr::Kind::any;
    out.position = first.position;
    out.children.push_back(std::move(first));
    while (accept_keyword("or")) {
      Expr next;
      if (!parse_and(next, depth)) return false;
      out.children.push_back(std::move(next));
    }
    return true;
  }

  bool parse_and(Expr& out, int depth) {
    Expr first;
    if (!parse_not(first, depth)) return false;
    if (peek_word() != "and") {
      out = std::move(first);
      return true;
    }
    out = Expr{};
    out.kind = Expr::Kind::all;
    out.position = first.position;
    out.children.push_back(std::move(first));
    while (accept_keyword("and")) {
      Expr next;
      if (!parse_not(next, depth)) return false;
      out.children.push_back(std::move(next));
    }
    return true;
  }

  bool parse_not(Expr& out, int depth) {
    if (depth > kMaxDepth) return set_error(position_, "condition nested too deeply");
    skip_blanks();
    const std::size_t start = position_;
    if (accept_keyword("not")) {
      out = Expr{};
      out.kind = Expr::Kind::negation;
      out.position = start;
      out.children.emplace_back();
      return parse_not(out.children.back(), depth + 1);
    }
    if (position_ < text_.size() && text_[position_] == '(') {
      ++position_;
      if (!parse_or(out, depth + 1)) return false;
      skip_blanks();
      if (position_ >= text_.size() || text_[position_] != ')') return set_error(start, "unbalanced '('");
      ++position_;
      return true;
    }
    return parse_check(out);
  }

  // FIELD, with an optional [argument] attached ("proc.aname[2]", "container.mount.dest[/proc*]").
  bool read_field(std::string& out) {
    skip_blanks();
    const std::size_t start = position_;
    while (position_ < text_.size() && is_word_char(text_[position_])) ++position_;
    if (position_ == start) {
      if (position_ >= text_.size()) return set_error(position_, "unexpected end of condition");
      return set_error(position_, std::string("unexpected '") + text_[position_] + "'");
    }
    if (position_ < text_.size() && text_[position_] == '[') {
      const std::size_t close = text_.find(']', position_);
      if (close == std::string_view::npos) return set_error(position_, "missing ']'");
      position_ = close + 1;
    }
    out.assign(text_.substr(start, position_ - start));
    return true;
  }

  // The operator after a field, if any.
  bool read_operator(Operator& op) {
    skip_blanks();
    if (position_ >= text_.size()) return false;
    const std::string_view rest = text_.substr(position_);
    const auto symbol = [&](std::string_view token, Operator value) {
      if (!rest.starts_with(token)) return false;
      position_ += token.size();
      op = value;
      return true;
    };
    if (symbol("==", Operator::eq) || symbol("!=", Operator::ne) || symbol("<=", Operator::le) ||
        symbol(">=", Operator::ge) || symbol("=", Operator::eq) || symbol("<", Operator::lt) ||
        symbol(">", Operator::gt)) {
      return true;
    }
    const std::string_view word = peek_word();
    for (const OperatorWord& candidate : kOperatorWords) {
      if (candidate.word == word) {
        position_ += word.size();
        op = candidate.op;
        return true;
      }
    }
    return false;
  }

  bool read_value(ValueText& out) {
    skip_blanks();
    out = ValueText{};
    out.position = position_;
    if (position_ >= text_.size()) return set_error(position_, "missing value");
    const char quote = text_[position_];
    if (quote == '"' || quote == '\'') {
      ++position_;
      out.quoted = true;
      while (position_ < text_.size() && text_[position_] != quote) {
        char c = text_[position_++];
        if (c == '\\' && position_ < text_.size()) {
          const char next = text_[position_++];
          switch (next) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default: c = next; break;  // \" \' \\ and anything else: the character itself
          }
        }
        out.text.push_back(c);
      }
      if (position_ >= text_.size()) return set_error(out.position, "unterminated quoted string");
      ++position_;
      return true;
    }
    while (position_ < text_.size() && !is_blank(text_[position_]) && text_[position_] != '(' &&
           text_[position_] != ')' && text_[position_] != ',') {
      out.text.push_back(text_[position_++]);
    }
    if (out.text.empty()) {
      return set_error(position_, std::string("expected a value, found '") + text_[position_] + "'");
    }
    return true;
  }

  bool parse_check(Expr& out) {
    skip_blanks();
    out = Expr{};
    out.position = position_;
    if (!read_field(out.name)) return false;
    if (!read_operator(out.op)) {
      // No operator: a macro reference, which is a plain name.
      const bool plain = out.name.find_first_of(".[") == std::string::npos;
      if (!plain) {
        skip_blanks();
        if (position_ >= text_.size()) return set_error(position_, "missing operator after '" + out.name + "'");
        return set_error(position_, "expected an operator after '" + out.name + "', found '" +
                                        std::string(peek_word().empty() ? text_.substr(position_, 1) : peek_word()) +
                                        "'");
      }
      out.kind = Expr::Kind::macro;
      return true;
    }
    out.kind = Expr::Kind::check;
    if (out.op == Operator::exists) return true;
    if (!takes_list(out.op)) {
      out.values.emplace_back();
      return read_value(out.values.back());
    }
    out.list = true;
    skip_blanks();
    if (position_ >= text_.size() || text_[position_] != '(') {
      // `field in list_name`: one bare name, expanded by the compiler.
      out.values.emplace_back();
      return read_value(out.values.back());
    }
    const std::size_t open = position_++;
    skip_blanks();
    if (position_ < text_.size() && text_[position_] == ')') {
      ++position_;
      return true;  // an empty list
    }
    while (true) {
      out.values.emplace_back();
      if (!read_value(out.values.back())) return false;
      skip_blanks();
      if (position_ >= text_.size()) return set_error(open, "unbalanced '(' in list");
      if (text_[position_] == ',') {
        ++position_;
        continue;
      }
      if (text_[position_] == ')') {
        ++position_;
        return true;
      }
      return set_error(position_, std::string("expected ',' or ')' in list, found '") + text_[position_] + "'");
    }
  }

  std::string_view text_;
  std::size_t position_ = 0;
  ParseError error_;
};

}  // namespace

std::string_view operator_name(Operator op) noexcept {
  switch (op) {
    case Operator::eq: return "=";
    case Operator::ne: return "!=";
    case Operator::lt: return "<";
    case Operator::le: return "<=";
    case Operator::gt: return ">";
    case Operator::ge: return ">=";
    default: break;
  }
  for (const OperatorWord& candidate : kOperatorWords) {
    if (candidate.op == op) return candidate.word;
  }
  return "?";
}

bool takes_list(Operator op) noexcept {
  return op == Operator::in || op == Operator::intersects || op == Operator::pmatch;
}

std::expected<Expr, ParseError> parse_condition(std::string_view text) { return Parser(text).run(); }

}  // namespace vigil::rules
