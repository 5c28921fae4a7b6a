// Walking the NUL-separated argv area of an exec record without copying.
#include <cstring>

#include "events/event.h"

namespace vigil::events {

std::string_view ArgList::iterator::operator*() const noexcept {
  const std::string_view rest = area_.substr(position_);
  return rest.substr(0, rest.find('\0'));  // the last string may run to the end (truncated area)
}

ArgList::iterator& ArgList::iterator::operator++() noexcept {
  const std::size_t nul = area_.find('\0', position_);
  position_ = nul == std::string_view::npos ? area_.size() : nul + 1;
  return *this;
}

std::size_t ArgList::size() const noexcept {
  std::size_t count = 0;
  for (auto it = begin(); it != end(); ++it) ++count;
  return count;
}

}  // namespace vigil::events
