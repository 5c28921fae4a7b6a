#pragma once
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace vigil::cli {

// JSON as one line; paths that are not UTF-8 get U+FFFD instead of an exception.
inline void print_json(const nlohmann::json& document) {
  const std::string text = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace vigil::cli
