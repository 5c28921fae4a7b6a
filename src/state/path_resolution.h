#pragma once
// Paths as rules see them (fd.name, proc.cwd): absolute and normalized lexically, the way
// Falco does it. Symlinks are not resolved.
#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::state {

struct Process;

// Appends `path` to `out` with "//" and "." dropped and ".." removing the previous component
// (never above the start); appends "/" when nothing is left.
void append_normalized(std::string& out, std::string_view path);

// `path` made absolute against the directory `base` and normalized, into `out`. When `path` is
// relative and `base` is not absolute (unknown), `out` is `path` as passed and the result is
// false; an empty `path` gives an empty `out` (false). `scratch` is working space, so a caller
// on a hot path allocates nothing once warm.
bool resolve_path(std::string_view base, std::string_view path, std::string& out, std::string& scratch);

// A path argument of a call made by `process` (null: unknown): anchored on its cwd when `dirfd`
// is AT_FDCWD, else on the path of that descriptor in its table. As resolve_path.
bool resolve_path_of(const Process* process, std::string_view path, std::int32_t dirfd, std::string& out,
                     std::string& scratch);

}  // namespace vigil::state
