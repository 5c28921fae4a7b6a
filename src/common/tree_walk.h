#pragma once
// Turns the paths given on a command line into the list of regular files to work on.
#include <string>
#include <vector>

namespace vigil {

struct WalkOptions {
  bool recursive = false;          // descend into directories
  bool cross_filesystems = false;  // descend into mounts below a root (find without -xdev)
  bool skip_sig_sidecars = false;  // leave out "X.sig" when "X" is beside it
};

struct WalkIssue {
  enum class Kind { skipped, failed };
  Kind kind;
  std::string path;
  std::string reason;
};

struct WalkResult {
  std::vector<std::string> files;   // regular files, in a stable order
  std::vector<WalkIssue> issues;    // what was passed over and why
};

// Roots given explicitly are followed if they are symlinks (like `find -H`); below a root,
// symlinks are never followed, so symlink loops cannot trap the walk. Special files are
// skipped, unreadable directories are reported as failed, and the walk goes on.
WalkResult collect_files(const std::vector<std::string>& roots, const WalkOptions& options);

}  // namespace vigil
