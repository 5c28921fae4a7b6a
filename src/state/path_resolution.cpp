#include "state/path_resolution.h"

#include <fcntl.h>

#include "state/process.h"

namespace vigil::state {

void append_normalized(std::string& out, std::string_view path) {
  const std::size_t root = out.size();
  std::size_t position = 0;
  while (position < path.size()) {
    while (position < path.size() && path[position] == '/') ++position;
    std::size_t end = path.find('/', position);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(position, end - position);
    position = end;
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      const auto slash = out.rfind('/');
      out.resize(slash == std::string::npos || slash < root ? root : slash);
      continue;
    }
    out.push_back('/');
    out.append(component);
  }
  if (out.size() == root) out.push_back('/');
}

bool resolve_path(std::string_view base, std::string_view path, std::string& out, std::string& scratch) {
  out.clear();
  if (path.empty()) return false;  // unreadable or none: there is nothing to anchor
  if (path.starts_with('/')) {
    append_normalized(out, path);
    return true;
  }
  if (!base.starts_with('/')) {
    out.assign(path);
    return false;
  }
  scratch.assign(base);
  scratch.push_back('/');
  scratch.append(path);
  append_normalized(out, scratch);
  return true;
}

bool resolve_path_of(const Process* process, std::string_view path, std::int32_t dirfd, std::string& out,
                     std::string& scratch) {
  std::string_view base;
  if (process != nullptr && !path.starts_with('/')) {
    if (dirfd == AT_FDCWD) {
      base = process->cwd;
    } else if (const FdEntry* entry = process->fds.find(dirfd)) {
      base = entry->path;
    }
  }
  return resolve_path(base, path, out, scratch);
}

}  // namespace vigil::state
