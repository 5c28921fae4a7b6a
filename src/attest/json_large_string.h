#pragma once
// The evidence body is mostly one base64 string (the measurement-list delta: ~200 KB for 1,000
// entries). nlohmann's lexer copies strings a character at a time, which made JSON lexing the
// largest cost of judging a round; this finds such a string without copying it, so the rest of
// the document (small) goes to the DOM parser and the string is decoded in place.
#include <cstddef>
#include <optional>
#include <string_view>

namespace vigil::attest::json_text {

struct StringSpan {
  size_t begin = 0;  // first byte of the string's contents (after the opening quote)
  size_t end = 0;    // the closing quote
};

// The contents of the value of top-level member `key` when the document is an object with
// exactly one such member, whose value is a string without escapes, and no top-level key holds
// an escape (so no other spelling of `key` can hide). Anything else, malformed input included:
// nullopt, and the caller parses the whole document as usual (whose errors then apply).
std::optional<StringSpan> plain_top_level_string(std::string_view document, std::string_view key);

}  // namespace vigil::attest::json_text
