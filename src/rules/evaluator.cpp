// Evaluation of compiled conditions. Allocation-free: values are views, lists are sorted
// vectors searched in place.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rules/compiled.h"
#include "rules/extractor.h"

namespace vigil::rules {

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// `needle` is lowercase already.
bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    std::size_t j = 0;
    while (j < needle.size() && lower(haystack[i + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

bool compare_integers(Operator op, std::int64_t value, const Check& check) {
  switch (op) {
    case Operator::eq: return value == check.integer;
    case Operator::ne: return value != check.integer;
    case Operator::lt: return value < check.integer;
    case Operator::le: return value <= check.integer;
    case Operator::gt: return value > check.integer;
    case Operator::ge: return value >= check.integer;
    case Operator::in: case Operator::intersects:
      return std::binary_search(check.integers.begin(), check.integers.end(), value);
    default: return false;
  }
}

bool compare_text(const Check& check, std::string_view value) {
  switch (check.op) {
    case Operator::eq: return value == check.text;
    case Operator::ne: return value != check.text;
    case Operator::contains: return value.find(check.text) != std::string_view::npos;
    case Operator::icontains: return icontains(value, check.text);
    case Operator::bcontains: return value.find(check.text) != std::string_view::npos;
    case Operator::startswith: case Operator::bstartswith: return value.starts_with(check.text);
    case Operator::endswith: return value.ends_with(check.text);
    case Operator::glob: return glob_match(check.text, value);
    case Operator::iglob: return glob_match(check.text, value, true);
    case Operator::regex: return check.regex && std::regex_match(value.begin(), value.end(), *check.regex);
    case Operator::in: case Operator::intersects:
      return std::binary_search(check.texts.begin(), check.texts.end(), value,
                                [](std::string_view a, std::string_view b) { return a < b; });
    case Operator::pmatch:
      return std::any_of(check.texts.begin(), check.texts.end(),
                         [&](const std::string& prefix) { return path_prefix_match(prefix, value); });
    case Operator::lt: case Operator::le: case Operator::gt: case Operator::ge: {
      // evt.arg against a number: compared as numbers when the argument is one.
      std::int64_t number = 0;
      const auto result = std::from_chars(value.data(), value.data() + value.size(), number);
      if (result.ec != std::errc() || result.ptr != value.data() + value.size()) return false;
      return compare_integers(check.op, number, check);
    }
    default: return false;
  }
}

bool compare_ip(const Check& check, const IpAddress& ip) {
  switch (check.op) {
    case Operator::eq: return check.network.contains(ip);
    case Operator::ne: return !check.network.contains(ip);
    case Operator::in: case Operator::intersects:
      return std::any_of(check.networks.begin(), check.networks.end(),
                         [&](const IpNetwork& network) { return network.contains(ip); });
    default: return false;
  }
}

bool evaluate_check(const Check& check, Extractor& extractor) {
  if (check.is_event_type) {
    // evt.type never goes through the extractor: one bit test.
    const bool member = check.types.test(static_cast<std::size_t>(extractor.event_type()));
    return check.op == Operator::ne ? !member : member;
  }
  Values values;
  extractor.extract(check.field, check.slot, values);
  if (check.op == Operator::exists) return values.count > 0;
  for (std::size_t i = 0; i < values.count; ++i) {
    const Value& value = values[i];
    bool result = false;
    switch (value.kind) {
      case Value::Kind::integer: case Value::Kind::boolean: result = compare_integers(check.op, value.integer, check); break;
      case Value::Kind::string: result = compare_text(check, value.text); break;
      case Value::Kind::ip: result = compare_ip(check, value.ip); break;
    }
    if (result) return true;
  }
  return false;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, star_text = 0;
  const auto same = [&](char a, char b) { return ignore_case ? lower(a) == lower(b) : a == b; };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '[') {
      std::size_t q = p + 1;
      bool negate = false;
      if (q < pattern.size() && (pattern[q] == '!' || pattern[q] == '^')) {
        negate = true;
        ++q;
      }
      bool matched = false;
      const std::size_t first = q;
      while (q < pattern.size() && (pattern[q] != ']' || q == first)) {
        if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
          char from = pattern[q], to = pattern[q + 2], c = text[t];
          if (ignore_case) from = lower(from), to = lower(to), c = lower(c);
          if (from <= c && c <= to) matched = true;
          q += 3;
        } else {
          if (same(pattern[q], text[t])) matched = true;
          ++q;
        }
      }
      if (q < pattern.size() && matched != negate) {
        p = q + 1;
        ++t;
        continue;
      }
      if (q >= pattern.size() && same('[', text[t])) {  // an unclosed '[' is literal
        ++p;
        ++t;
        continue;
      }
    } else if (p < pattern.size() && (pattern[p] == '?' || same(pattern[p], text[t]))) {
      ++p;
      ++t;
      continue;
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool path_prefix_match(std::string_view prefix, std::string_view path) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix == "/" || path[prefix.size()] == '/';
}

bool evaluate_node(const Node& node, Extractor& extractor) {
  switch (node.kind) {
    case Node::Kind::constant: return node.constant;
    case Node::Kind::check: return evaluate_check(*node.check, extractor);
    case Node::Kind::negation: return !evaluate_node(node.children.front(), extractor);
    case Node::Kind::all:
      for (const Node& child : node.children) {
        if (!evaluate_node(child, extractor)) return false;
      }
      return true;
    case Node::Kind::any:
      for (const Node& child : node.children) {
        if (evaluate_node(child, extractor)) return true;
      }
      return false;
  }
  return false;
}

}  // namespace vigil::rules
