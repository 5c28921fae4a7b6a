#pragma once
// Alert text goes into line-oriented places (text files, syslog). A file name holding a
// newline must not be able to forge a second alert line, so control characters are
// written as \xNN.
#include <string>
#include <string_view>

namespace vigil::outputs {

void append_one_line(std::string& out, std::string_view text);

}  // namespace vigil::outputs
