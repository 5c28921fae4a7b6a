#include "outputs/write_all.h"

#include <unistd.h>

#include <cerrno>

namespace vigil::outputs {

Result<void> write_all(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write " + what);
    }
    if (n == 0) return fail("write " + what + ": wrote nothing");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace vigil::outputs
