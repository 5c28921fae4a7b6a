#include "attest/net/secret_binding.h"

#include <fnmatch.h>

namespace vigil::attest {

Result<void> check_secret_name(const std::string& name) {
  const bool valid = !name.empty() && name.size() <= 128 &&
                     name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-") ==
                         std::string::npos;
  if (!valid) return fail("secret name \"" + name + "\" must be 1-128 of A-Z a-z 0-9 . _ : @ + -");
  return {};
}

std::vector<uint8_t> secret_associated_data(const std::string& name, const std::string& selector) {
  // "vigil-secret" NUL name NUL selector: names cannot hold NUL, so the split is unambiguous.
  const std::string text = std::string("vigil-secret") + '\0' + name + '\0' + selector;
  return {text.begin(), text.end()};
}

bool selector_matches(const std::string& selector, const std::string& agent_id) {
  size_t start = 0;
  while (start <= selector.size()) {
    size_t end = selector.find(',', start);
    if (end == std::string::npos) end = selector.size();
    std::string glob = selector.substr(start, end - start);
    const size_t first = glob.find_first_not_of(" \t");
    const size_t last = glob.find_last_not_of(" \t");
    glob = first == std::string::npos ? "" : glob.substr(first, last - first + 1);
    if (!glob.empty() && ::fnmatch(glob.c_str(), agent_id.c_str(), 0) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace vigil::attest
