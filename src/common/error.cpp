#include "common/error.h"

#include <cerrno>
#include <cstring>

#include <openssl/err.h>

namespace vigil {

std::unexpected<Error> fail_errno(std::string what) {
  const int saved = errno;
  what += ": ";
  what += std::strerror(saved);
  return fail(std::move(what), saved);
}

std::string openssl_errors() {
  std::string text;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? std::string("unknown OpenSSL error") : text;
}

}  // namespace vigil
