#include "attest/json_large_string.h"

#include <cstring>

namespace vigil::attest::json_text {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// From just after an opening quote: the closing quote's index, or npos; `escaped` tells
// whether a backslash occurred.
size_t string_end(std::string_view text, size_t at, bool& escaped) {
  escaped = false;
  while (at < text.size()) {
    const void* quote = std::memchr(text.data() + at, '"', text.size() - at);
    if (quote == nullptr) return std::string_view::npos;
    const size_t stop = static_cast<size_t>(static_cast<const char*>(quote) - text.data());
    const void* backslash = std::memchr(text.data() + at, '\\', stop - at);
    if (backslash == nullptr) return stop;
    escaped = true;
    at = static_cast<size_t>(static_cast<const char*>(backslash) - text.data()) + 2;  // skip the escaped byte
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<StringSpan> plain_top_level_string(std::string_view document, std::string_view key) {
  size_t depth = 0;
  bool expect_key = false;        // at depth 1, the next string is a member name
  bool value_of_key = false;      // at depth 1, the next value belongs to `key`
  bool after_key = false;         // a member name was read, its ':' not yet
  bool key_matches = false;       // that member name is `key`
  std::optional<StringSpan> found;
  int matches = 0;
  bool seen_root = false;
  for (size_t at = 0; at < document.size(); ++at) {
    const char c = document[at];
    if (is_space(c)) continue;
    if (depth == 0 && seen_root) return std::nullopt;  // bytes after the root value
    switch (c) {
      case '"': {
        bool escaped = false;
        const size_t end = string_end(document, at + 1, escaped);
        if (end == std::string_view::npos) return std::nullopt;
        if (depth == 1 && expect_key) {
          if (escaped) return std::nullopt;
          const std::string_view name = document.substr(at + 1, end - at - 1);
          if (name == key && ++matches > 1) return std::nullopt;
          key_matches = name == key;
          expect_key = false;
          after_key = true;
        } else if (depth == 1 && after_key) {
          return std::nullopt;  // a value without its ':'
        } else if (depth == 1 && value_of_key) {
          if (escaped) return std::nullopt;
          found = StringSpan{at + 1, end};
          value_of_key = false;
        } else if (depth == 0) {
          return std::nullopt;  // the root is not an object
        }
        at = end;
        break;
      }
      case ':':
        if (depth == 1) {
          if (!after_key) return std::nullopt;
          after_key = false;
          value_of_key = key_matches;
        }
        break;
      case ',':
        if (depth == 1) {
          expect_key = true;
          value_of_key = false;
        }
        break;
      case '{':
        if (depth == 0) {
          if (seen_root) return std::nullopt;
          seen_root = true;
          expect_key = true;
        } else if (depth == 1) {
          value_of_key = false;  // `key` holds an object, not a string
        }
        ++depth;
        break;
      case '[':
        if (depth == 0) return std::nullopt;
        if (depth == 1) value_of_key = false;
        ++depth;
        break;
      case '}':
      case ']':
        if (depth == 0) return std::nullopt;
        --depth;
        break;
      default:
        if (depth == 0) return std::nullopt;
        if (depth == 1) value_of_key = false;  // a number, true, false or null
        break;
    }
  }
  if (depth != 0 || !seen_root) return std::nullopt;
  return found;
}

}  // namespace vigil::attest::json_text
