#include "outputs/one_line.h"

#include <cstdio>

namespace vigil::outputs {

void append_one_line(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[16];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
}

}  // namespace vigil::outputs
