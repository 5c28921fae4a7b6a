#include "rules/compiler.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace vigil::rules {

namespace {

constexpr int kMaxListDepth = 32;
constexpr std::size_t kMaxMacroDepth = 64;
// Bounds on what one rule may expand to (macros used twice per level double at each level).
constexpr std::size_t kMaxNodes = 200000;
constexpr std::size_t kMaxListItems = 100000;
constexpr std::size_t kMaxDepth = 1000;
constexpr std::size_t kMaxRegexLength = 512;  // std::regex compiles and matches recursively

// List items may carry their own quotes ('"(systemd)"' in Falco's files) so text
// substitution would keep them whole; as values they stand for what is inside.
std::string unquote_item(const std::string& item) {
  if (item.size() < 2) return item;
  const char quote = item.front();
  if ((quote != '"' && quote != '\'') || item.back() != quote) return item;
  std::string out;
  for (std::size_t i = 1; i + 1 < item.size(); ++i) {
    if (item[i] == '\\' && i + 2 < item.size()) ++i;
    out.push_back(item[i]);
  }
  return out;
}

bool parse_integer(std::string_view text, std::int64_t& out) {
  int base = 10;
  bool negative = false;
  if (text.starts_with('-')) {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.starts_with("0x") || text.starts_with("0X")) {
    base = 16;
    text.remove_prefix(2);
  }
  std::uint64_t magnitude = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), magnitude, base);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) return false;
  if (magnitude > static_cast<std::uint64_t>(INT64_MAX)) return false;
  out = negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  return true;
}

bool parse_bool(std::string_view text, bool& out) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "true") return out = true, true;
  if (lower == "false") return out = false, true;
  return false;
}

bool hex_bytes(std::string_view text, std::string& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned value = 0;
    const auto result = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
    if (result.ec != std::errc() || result.ptr != text.data() + i + 2) return false;
    out.push_back(static_cast<char>(value));
  }
  return true;
}

bool is_bare_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

Node constant(bool value) {
  Node node;
  node.kind = Node::Kind::constant;
  node.constant = value;
  return node;
}

}  // namespace

std::size_t SlotTable::slot_of(const std::string& field_text) {
  const auto it = slots_.find(field_text);
  if (it != slots_.end()) return it->second;
  const std::size_t slot = slots_.size();
  slots_.emplace(field_text, slot);
  return slot;
}

Diagnostic Compiler::at(const Source& source, std::size_t position, std::string message) const {
  std::size_t within = 0;
  const ConditionText::Piece& piece = source.text->piece_at(position, within);
  return Diagnostic{piece.where.file, piece.where.line, static_cast<int>(within) + 1, source.label,
                    std::move(message)};
}

bool Compiler::expand_list(const std::string& name, std::vector<std::string>& out, int depth) {
  const auto it = defs_.list_index.find(name);
  if (it == defs_.list_index.end()) return false;
  for (const std::string& item : defs_.lists[it->second].items) {
    if (out.size() > kMaxListItems) return true;
    // Lists of lists: an item naming another list stands for its items (bounded: no cycles).
    if (depth < kMaxListDepth && item != name && expand_list(item, out, depth + 1)) continue;
    out.push_back(unquote_item(item));
  }
  return true;
}

std::optional<Diagnostic> Compiler::expand_values(const Expr& expr, const Source& source,
                                                  std::vector<std::string>& out) {
  out.clear();
  for (const ValueText& value : expr.values) {
    if (!value.quoted && expr.list && expand_list(value.text, out, 0)) {
      if (out.size() > kMaxListItems) return at(source, value.position, "list expands to too many items");
      continue;
    }
    out.push_back(value.text);
  }
  return std::nullopt;
}

std::optional<Diagnostic> Compiler::build_check(const Expr& expr, const Source& source, Node& out,
                                                CompiledCondition& result) {
  FieldRef field;
  std::string lookup_error;
  switch (lookup_field(expr.name, field, lookup_error)) {
    case FieldLookup::unknown: return at(source, expr.position, lookup_error);
    case FieldLookup::unsupported:
      result.unsupported_fields.insert(expr.name);
      out = constant(false);
      return std::nullopt;
    case FieldLookup::found: break;
  }
  if (field.id == FieldId::fd_sip_name || field.id == FieldId::fd_cip_name || field.id == FieldId::fd_lip_name ||
      field.id == FieldId::fd_rip_name) {
    result.uses_dns_names = true;
  }
  const Operator op = expr.op;
  const std::string field_label = "'" + expr.name + "' (" + std::string(field_type_name(field.type)) + ")";
  const auto bad_operator = [&]() {
    return at(source, expr.position,
              "operator '" + std::string(operator_name(op)) + "' does not apply to " + field_label);
  };
  std::vector<std::string> values;
  if (auto error = expand_values(expr, source, values)) return error;
  const std::size_t value_position = expr.values.empty() ? expr.position : expr.values.front().position;
  if (!takes_list(op) && op != Operator::exists && values.size() != 1)
    return at(source, expr.position, "operator '" + std::string(operator_name(op)) + "' needs one value");

  // evt.dir: vigil's one record per syscall carries both directions' arguments, so Falco's
  // `evt.dir=>` and `evt.dir=<` both hold (docs/rules.md).
  if (field.id == FieldId::evt_dir && (op == Operator::eq || op == Operator::ne) &&
      (values[0] == "<" || values[0] == ">")) {
    out = constant(op == Operator::eq);
    return std::nullopt;
  }

  auto check = std::make_unique<Check>();
  check->op = op;
  check->slot = slots_.slot_of(field.text);
  if (field.id == FieldId::evt_type && (op == Operator::eq || op == Operator::ne || op == Operator::in ||
                                        op == Operator::intersects)) {
    check->is_event_type = true;
    for (const std::string& name : values) {
      const events::EventType type = events::event_type_from_name(name);
      if (type != events::EventType::unknown) {
        check->types.set(static_cast<std::size_t>(type));
      } else {
        result.uncaptured_event_types.insert(name);
      }
    }
    check->field = std::move(field);
    out.kind = Node::Kind::check;
    out.check = std::move(check);
    return std::nullopt;
  }
  if (op == Operator::exists) {
    check->field = std::move(field);
    out.kind = Node::Kind::check;
    out.check = std::move(check);
    return std::nullopt;
  }

  switch (field.type) {
    case FieldType::integer: case FieldType::boolean: {
      const bool numeric_op = op == Operator::eq || op == Operator::ne || op == Operator::in ||
                              op == Operator::intersects ||
                              (field.type == FieldType::integer &&
                               (op == Operator::lt || op == Operator::le || op == Operator::gt || op == Operator::ge));
      if (!numeric_op) return bad_operator();
      for (const std::string& text : values) {
        std::int64_t number = 0;
        bool flag = false;
        if (field.type == FieldType::boolean) {
          if (!parse_bool(text, flag)) return at(source, value_position, "'" + text + "' is not true or false for " + field_label);
          number = flag ? 1 : 0;
        } else if (!parse_integer(text, number)) {
          return at(source, value_position, "'" + text + "' is not a number for " + field_label);
        }
        check->integers.push_back(number);
      }
      std::sort(check->integers.begin(), check->integers.end());
      if (!takes_list(op)) check->integer = check->integers.front();
      break;
    }
    case FieldType::ip: case FieldType::ipnet: {
      if (op != Operator::eq && op != Operator::ne && op != Operator::in && op != Operator::intersects)
        return bad_operator();
      for (const std::string& text : values) {
        IpNetwork network;
        if (!parse_ip_network(text, network))
          return at(source, value_position, "'" + text + "' is not an ip address or network for " + field_label);
        check->networks.push_back(network);
      }
      if (!takes_list(op)) check->network = check->networks.front();
      break;
    }
    case FieldType::string: {
      switch (op) {
        case Operator::lt: case Operator::le: case Operator::gt: case Operator::ge:
          // Only evt.arg (rendered text that may be a number) compares by magnitude.
          if (field.id != FieldId::evt_arg || !parse_integer(values[0], check->integer)) return bad_operator();
          check->numeric_text = true;
          break;
        case Operator::in: case Operator::intersects:
          check->texts = values;
          std::sort(check->texts.begin(), check->texts.end());
          break;
        case Operator::pmatch: check->texts = values; break;
        case Operator::icontains: case Operator::iglob:
          check->text = values[0];
          std::transform(check->text.begin(), check->text.end(), check->text.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          break;
        case Operator::bcontains: case Operator::bstartswith:
          if (!hex_bytes(values[0], check->text))
            return at(source, value_position, "'" + values[0] + "' is not hex bytes (e.g. cafebabe)");
          break;
        case Operator::regex:
          if (values[0].size() > kMaxRegexLength) return at(source, value_position, "regex longer than 512 bytes");
          check->text = values[0];
          try {
            check->regex = std::make_shared<const std::regex>(values[0], std::regex::ECMAScript | std::regex::optimize);
          } catch (const std::regex_error& e) {
            return at(source, value_position, "invalid regex '" + values[0] + "': " + e.what());
          }
          break;
        default: check->text = values[0]; break;
      }
      break;
    }
  }
  check->field = std::move(field);
  out.kind = Node::Kind::check;
  out.check = std::move(check);
  return std::nullopt;
}

std::optional<Diagnostic> Compiler::resolve(const Expr& expr, const Source& source, Node& out,
                                            CompiledCondition& result) {
  if (++nodes_ > kMaxNodes) return at(source, expr.position, "condition too large after macro expansion");
  switch (expr.kind) {
    case Expr::Kind::all: case Expr::Kind::any: case Expr::Kind::negation: {
      if (depth_ >= kMaxDepth) return at(source, expr.position, "condition nested too deeply after macro expansion");
      struct DepthGuard {
        std::size_t& depth;
        explicit DepthGuard(std::size_t& d) : depth(++d) {}
        ~DepthGuard() { --depth; }
      } guard(depth_);
      out.kind = expr.kind == Expr::Kind::all ? Node::Kind::all
                 : expr.kind == Expr::Kind::any ? Node::Kind::any
                                                : Node::Kind::negation;
      out.children.resize(expr.children.size());
      for (std::size_t i = 0; i < expr.children.size(); ++i) {
        if (auto error = resolve(expr.children[i], source, out.children[i], result)) return error;
      }
      return std::nullopt;
    }
    case Expr::Kind::check: return build_check(expr, source, out, result);
    case Expr::Kind::macro: break;
  }
  const auto it = defs_.macro_index.find(expr.name);
  if (it == defs_.macro_index.end()) return at(source, expr.position, "undefined macro '" + expr.name + "'");
  if (std::find(macro_stack_.begin(), macro_stack_.end(), expr.name) != macro_stack_.end()) {
    std::string chain;
    for (const std::string& name : macro_stack_) chain += name + " -> ";
    return at(source, expr.position, "macro cycle: " + chain + expr.name);
  }
  if (macro_stack_.size() >= kMaxMacroDepth) return at(source, expr.position, "macros nested too deeply");
  const MacroDef& macro = defs_.macros[it->second];
  const Source macro_source{&macro.condition, "macro '" + macro.name + "'"};
  auto& parsed = parsed_macros_[it->second];
  if (!parsed) {
    auto expression = parse_condition(macro.condition.text);
    if (!expression) return at(macro_source, expression.error().position, expression.error().message);
    parsed = std::make_unique<Expr>(std::move(*expression));
  }
  macro_stack_.push_back(expr.name);
  auto error = resolve(*parsed, macro_source, out, result);
  macro_stack_.pop_back();
  return error;
}

std::optional<Diagnostic> Compiler::compile_rule(const RuleDef& rule, CompiledCondition& out) {
  const std::string label = "rule '" + rule.name + "'";
  // Exceptions: `(condition) and not (exception or exception ...)`, as Falco builds them.
  ConditionText text = rule.condition;
  std::string exceptions;
  for (const ExceptionDef& exception : rule.exceptions) {
    const std::string where = label + " exception '" + exception.name + "'";
    if (exception.fields.empty() || exception.values.empty()) continue;
    std::vector<std::string> comps = exception.comps;
    if (comps.empty()) comps.assign(exception.fields.size(), exception.fields_is_list ? "=" : "in");
    if (comps.size() != exception.fields.size())
      return Diagnostic{exception.where.file, exception.where.line, 0, where, "comps and fields differ in length"};
    const auto render = [&](const ExceptionDef::Element& element, const std::string& comp) {
      const bool list_comp = comp == "in" || comp == "pmatch" || comp == "intersects";
      if (!list_comp) return element.items.empty() ? std::string("\"\"") : quoted(element.items.front());
      std::string list = "(";
      for (std::size_t i = 0; i < element.items.size(); ++i) {
        if (i > 0) list += ", ";
        // A bare name may be a list: left unquoted so it expands.
        list += !element.is_list && is_bare_name(element.items[i]) ? element.items[i] : quoted(element.items[i]);
      }
      return list + ")";
    };
    std::vector<std::string> terms;
    if (!exception.fields_is_list && (comps[0] == "in" || comps[0] == "pmatch" || comps[0] == "intersects")) {
      ExceptionDef::Element all;
      all.is_list = true;
      for (const ExceptionDef::Value& value : exception.values) {
        for (const ExceptionDef::Element& element : value.elements) {
          if (!element.is_list && element.items.size() == 1 && defs_.list_index.contains(element.items[0])) {
            all.is_list = false;  // keep list names expandable
          }
          all.items.insert(all.items.end(), element.items.begin(), element.items.end());
        }
      }
      terms.push_back(exception.fields[0] + " " + comps[0] + " " + render(all, comps[0]));
    } else {
      for (const ExceptionDef::Value& value : exception.values) {
        if (value.elements.size() != exception.fields.size())
          return Diagnostic{exception.where.file, exception.where.line, 0, where,
                            "a value has " + std::to_string(value.elements.size()) + " entries for " +
                                std::to_string(exception.fields.size()) + " fields"};
        std::string term = "(";
        for (std::size_t i = 0; i < exception.fields.size(); ++i) {
          if (i > 0) term += " and ";
          term += exception.fields[i] + " " + comps[i] + " " + render(value.elements[i], comps[i]);
        }
        terms.push_back(term + ")");
      }
    }
    for (const std::string& term : terms) {
      if (!exceptions.empty()) exceptions += " or ";
      exceptions += term;
    }
  }
  if (!exceptions.empty()) {
    ConditionText wrapped;
    wrapped.text = "(" + text.text + ") and not (";
    for (const ConditionText::Piece& piece : text.pieces) wrapped.pieces.push_back({piece.begin + 1, piece.where});
    const Location where = rule.exceptions.front().where;
    wrapped.pieces.push_back({wrapped.text.size(), where});
    wrapped.text += exceptions + ")";
    text = std::move(wrapped);
  }
  const Source source{&text, label};
  auto expression = parse_condition(text.text);
  if (!expression) return at(source, expression.error().position, expression.error().message);
  macro_stack_.clear();
  nodes_ = 0;
  depth_ = 0;
  return resolve(*expression, source, out.root, out);
}

std::vector<Diagnostic> Compiler::check_unused_macros() {
  std::vector<Diagnostic> errors;
  for (std::size_t index = 0; index < defs_.macros.size(); ++index) {
    if (parsed_macros_.contains(index)) continue;
    const MacroDef& macro = defs_.macros[index];
    auto expression = parse_condition(macro.condition.text);
    if (!expression) {
      errors.push_back(at(Source{&macro.condition, "macro '" + macro.name + "'"}, expression.error().position,
                          expression.error().message));
    }
  }
  return errors;
}

std::optional<Diagnostic> Compiler::compile_output(const RuleDef& rule, OutputTemplate& out,
                                                   std::set<std::string>& unsupported) {
  out = OutputTemplate{};
  // Folded YAML (`output: >`) ends in a newline; an alert line must not.
  std::string_view format = rule.output;
  while (!format.empty() && std::isspace(static_cast<unsigned char>(format.back()))) format.remove_suffix(1);
  std::string literal;
  const auto is_field_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  };
  std::size_t i = 0;
  while (i < format.size()) {
    if (format[i] != '%') {
      literal.push_back(format[i++]);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      literal.push_back('%');
      i += 2;
      continue;
    }
    std::string name;
    std::size_t end = i + 1;
    if (end < format.size() && format[end] == '(') {
      const std::size_t close = format.find(')', end);
      if (close == std::string::npos)
        return Diagnostic{rule.where.file, rule.where.line, 0, "rule '" + rule.name + "'", "output: missing ')' after %("};
      name = std::string(format.substr(end + 1, close - end - 1));
      end = close + 1;
    } else {
      while (end < format.size() && is_field_char(format[end])) ++end;
      if (end < format.size() && format[end] == '[') {
        const std::size_t close = format.find(']', end);
        if (close != std::string::npos) end = close + 1;
      }
      name = std::string(format.substr(i + 1, end - i - 1));
      while (!name.empty() && (name.back() == '.' || name.back() == '-')) {  // sentence punctuation
        name.pop_back();
        --end;
      }
    }
    if (name.empty()) {
      literal.push_back('%');
      ++i;
      continue;
    }
    OutputTemplate::Piece piece;
    piece.literal = std::move(literal);
    literal.clear();
    piece.field_text = name;
    piece.has_field = true;
    FieldRef field;
    std::string error;
    switch (lookup_field(name, field, error)) {
      case FieldLookup::found:
        piece.slot = slots_.slot_of(field.text);
        piece.field = std::move(field);
        break;
      case FieldLookup::unsupported: unsupported.insert(name); break;
      case FieldLookup::unknown:
        return Diagnostic{rule.where.file, rule.where.line, 0, "rule '" + rule.name + "'", "output: " + error};
    }
    out.pieces.push_back(std::move(piece));
    ++out.field_count;
    i = end;
  }
  if (!literal.empty()) {
    OutputTemplate::Piece piece;
    piece.literal = std::move(literal);
    out.pieces.push_back(std::move(piece));
  }
  return std::nullopt;
}

}  // namespace vigil::rules
