#pragma once
// Turns the paths given on a command line into the list of regular files to work on, and opens
// those files later without ever leaving the tree that was walked.
//
// Root (say) signs a tree that a user can write to. Between the listing of a directory and the
// moment a file in it is opened, the user can swap any directory on the way for a symlink to
// /etc. So nothing below a root is ever reached by its path: subdirectories are opened relative
// to their already-checked parent (openat, O_NOFOLLOW) and must be the directory that was listed
// (same device and inode); files are opened relative to the root's descriptor with no symlink
// anywhere on the way and no way above the root (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
// and must be the file that was listed. Why and how: docs/architecture.md ("Walks").
#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace vigil {

struct WalkOptions {
  bool recursive = false;          // descend into directories
  bool cross_filesystems = false;  // descend into mounts below a root (find without -xdev)
  bool skip_sig_sidecars = false;  // leave out "X.sig" when "X" is beside it
  // Also list every entry below a directory root (the root itself, directories, symlinks,
  // devices, FIFOs, sockets) with its lstat in WalkResult::entries, instead of reporting the
  // non-regular ones as skipped: what an image manifest records (src/image).
  bool every_entry = false;
  // For tests: called after a directory was listed and before each of its subdirectories is
  // opened, with that subdirectory's path, so a test can swap it for a symlink right there.
  std::function<void(const std::string& path)> before_descend = nullptr;
};

struct WalkIssue {
  enum class Kind { skipped, failed };
  Kind kind;
  std::string path;
  std::string reason;
};

// A directory named as a root, opened once; everything found below it is opened through it.
struct WalkRoot {
  UniqueFd fd;
  std::string path;  // as given
};

struct WalkedFile {
  std::string path;                       // what is shown and reported: root path + "/" + relative
  std::shared_ptr<const WalkRoot> root;   // null for a file named directly (not found by a walk)
  std::string relative;                   // below root: names joined by '/', never "." or ".."
  dev_t device = 0;                       // as listed
  ino_t inode = 0;
};

// One entry found with WalkOptions::every_entry. Nothing is reached by its path: the stat is
// fstatat(parent, name, AT_SYMLINK_NOFOLLOW) through the parent opened as the walk opens it,
// and a symlink's target is read the same way.
struct WalkedEntry {
  std::string relative;        // below the root, "" for the root itself
  struct stat st {};
  std::string symlink_target;  // for symlinks
  bool other_filesystem = false;  // a directory on another filesystem (a mount): not entered
};

struct WalkResult {
  std::vector<WalkedFile> files;    // regular files, in a stable order
  std::vector<WalkedEntry> entries; // with WalkOptions::every_entry: everything, files included
  std::vector<WalkIssue> issues;    // what was passed over and why
  std::vector<std::string> paths() const;  // files' paths, in order
};

// Roots given explicitly are followed if they are symlinks (like `find -H`); below a root,
// symlinks are never followed, so symlink loops cannot trap the walk. Special files are
// skipped, unreadable directories are reported as failed, and the walk goes on. A directory
// that is not the one listed by the time it is entered (swapped, replaced) is reported as
// failed and not entered.
WalkResult collect_files(const std::vector<std::string>& roots, const WalkOptions& options);

// Opens a file that collect_files found, read-only and without blocking (O_NONBLOCK: a FIFO
// swapped in cannot hang the caller): beneath its root with no symlink on the way, and only if
// it is still the regular file that was listed. A file named directly is opened by its path (the
// user named it; a symlink there is followed, as by collect_files) and must also be the file
// that was listed. Thread-safe. Errors start with "cannot open: ".
Result<UniqueFd> open_walked_file(const WalkedFile& file);

// The directory that holds a walked file, opened the same way (for its PATH.sig sidecar);
// `name` gets the file's name within it.
Result<UniqueFd> open_walked_parent(const WalkedFile& file, std::string& name);

namespace detail {
// open_walked_file's way down where openat2 is missing (kernels before 5.6, seccomp filters):
// one openat per component with O_NOFOLLOW. `flags` are the final component's; directories on
// the way are opened with O_PATH. Exposed for tests.
int open_beneath_by_components(int root_fd, const std::string& relative, int flags);
}  // namespace detail

}  // namespace vigil
