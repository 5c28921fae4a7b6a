#include "state/process.h"

namespace vigil::state {

std::vector<std::string_view> Process::argv() const {
  std::vector<std::string_view> out;
  std::string_view rest = args;
  while (!rest.empty()) {
    const auto nul = rest.find('\0');
    out.push_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
  return out;
}

std::string Process::cmdline() const {
  std::string out;
  for (std::string_view arg : argv()) {
    if (!out.empty()) out.push_back(' ');
    out.append(arg);
  }
  return out;
}

}  // namespace vigil::state
