#pragma once
// write(2) until every byte is out: a line is the unit of an alert, and a short write to a
// pipe or a full disk must not leave half of one behind unreported.
#include <string_view>

#include "common/error.h"

namespace vigil::outputs {

// Retries on EINTR and short writes; the error names `what`.
Result<void> write_all(int fd, std::string_view bytes, const std::string& what);

}  // namespace vigil::outputs
