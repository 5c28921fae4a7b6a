#pragma once
// The one error style inside vigil: functions return Result<T>; exceptions only at the CLI boundary.
#include <expected>
#include <string>
#include <utility>

namespace vigil {

struct Error {
  std::string message;
  int sys_errno = 0;  // errno when the failure came from a system call, else 0
};

// [[nodiscard]] on the type makes every ignored Result a compile error under -Werror.
template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> other) : std::expected<T, Error>(std::move(other)) {}
};

inline std::unexpected<Error> fail(std::string message, int sys_errno = 0) {
  return std::unexpected<Error>(Error{std::move(message), sys_errno});
}

// "what: strerror(errno)" for a failed system call; captures errno.
std::unexpected<Error> fail_errno(std::string what);

// The OpenSSL error queue, drained, as one line (for messages after a failed EVP call).
std::string openssl_errors();

}  // namespace vigil
