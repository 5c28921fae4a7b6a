// The console's Host check (src/web/access.h), the defence against DNS rebinding, on arbitrary
// bytes. Input lines: Host header \n listen address \n local address \n allowed host names
// (one per line). Findings: a crash, a name that is not lower-case or is empty, a Host judged
// local whose name does not parse, or a name judged local that is not local once more as
// "name:port".
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "web/access.h"

namespace {

std::string_view next_line(std::string_view& input) {
  const std::size_t newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view host = next_line(input);
  const std::string_view listen = next_line(input);
  const std::string_view local = next_line(input);
  std::vector<std::string> allowed;
  while (!input.empty() && allowed.size() < 8) allowed.emplace_back(next_line(input));

  const auto name = vigil::web::host_header_name(host);
  if (name) {
    if (name->empty() || name->size() > 253) std::abort();
    for (char c : *name) {
      if (std::isupper(static_cast<unsigned char>(c))) std::abort();
    }
  }
  const bool is_local = vigil::web::host_is_local(host, listen, local, allowed);
  if (is_local && !name) std::abort();
  // The port never matters: the same name with one is judged the same.
  if (is_local && name->find(':') == std::string::npos &&
      !vigil::web::host_is_local(*name + ":7373", listen, local, allowed)) {
    std::abort();
  }
  return 0;
}
