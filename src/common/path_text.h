#pragma once
#include <string>
#include <string_view>

namespace vigil {

// A path as one printable line: control characters, backslashes and bytes that are not
// UTF-8 are escaped C-style, so a file named "a\nb" cannot forge a second report line.
std::string printable_path(std::string_view path);

}  // namespace vigil
