#include "common/tree_walk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil {
namespace {

const char* special_file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symlink (not followed)";
  return "not a regular file";
}

std::string join(const std::string& dir, std::string_view name) {
  std::string path = dir;
  if (path.empty() || path.back() != '/') path += '/';
  path += name;
  return path;
}

struct DirectoryListing {
  std::vector<std::pair<std::string, unsigned char>> entries;  // name, d_type
};

class Walker {
 public:
  Walker(const WalkOptions& options, WalkResult& result) : options_(options), result_(result) {}

  void walk_root(const std::string& root) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
      failed(root, std::string("cannot stat: ") + std::strerror(errno));
      return;
    }
    if (S_ISREG(st.st_mode)) {
      result_.files.push_back(root);
      return;
    }
    if (!S_ISDIR(st.st_mode)) {
      skipped(root, special_file_kind(st.st_mode));
      return;
    }
    if (!options_.recursive) {
      skipped(root, "a directory (use -r to walk it)");
      return;
    }
    root_device_ = st.st_dev;
    std::vector<std::string> pending{root};
    visited_.insert({st.st_dev, st.st_ino});
    while (!pending.empty()) {
      std::string dir = std::move(pending.back());
      pending.pop_back();
      walk_directory(dir, pending);
    }
  }

 private:
  void walk_directory(const std::string& dir, std::vector<std::string>& pending) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      failed(dir, std::string("cannot open directory: ") + std::strerror(errno));
      return;
    }
    DIR* stream = ::fdopendir(fd);
    if (stream == nullptr) {
      failed(dir, std::string("cannot read directory: ") + std::strerror(errno));
      ::close(fd);
      return;
    }
    DirectoryListing listing;
    errno = 0;
    while (const dirent* entry = ::readdir(stream)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      listing.entries.emplace_back(std::string(name), entry->d_type);
    }
    if (errno != 0) failed(dir, std::string("error reading directory: ") + std::strerror(errno));
    std::sort(listing.entries.begin(), listing.entries.end());

    std::vector<std::string> subdirectories;
    for (auto& [name, type] : listing.entries) {
      struct stat st {};
      // d_type saves a stat per regular file; directories need st_dev/st_ino anyway.
      if (type == DT_UNKNOWN || type == DT_DIR) {
        if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          failed(join(dir, name), std::string("cannot stat: ") + std::strerror(errno));
          continue;
        }
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      const std::string path = join(dir, name);
      if (type == DT_REG) {
        if (options_.skip_sig_sidecars && is_sidecar(listing, name)) continue;
        result_.files.push_back(path);
      } else if (type == DT_DIR) {
        if (st.st_dev != root_device_ && !options_.cross_filesystems) {
          skipped(path, "on another filesystem (use --cross-fs to enter it)");
        } else if (!visited_.insert({st.st_dev, st.st_ino}).second) {
          skipped(path, "directory already visited (bind mount loop)");
        } else {
          subdirectories.push_back(path);
        }
      } else {
        if (type == DT_UNKNOWN) {
          // st was filled by the fstatat above.
          skipped(path, special_file_kind(st.st_mode));
        } else {
          skipped(path, special_file_kind(dtype_to_mode(type)));
        }
      }
    }
    ::closedir(stream);
    // Reverse so that popping from the back walks subdirectories in sorted order.
    for (auto it = subdirectories.rbegin(); it != subdirectories.rend(); ++it) {
      pending.push_back(std::move(*it));
    }
  }

  static mode_t dtype_to_mode(unsigned char type) {
    switch (type) {
      case DT_FIFO: return S_IFIFO;
      case DT_SOCK: return S_IFSOCK;
      case DT_CHR: return S_IFCHR;
      case DT_BLK: return S_IFBLK;
      case DT_LNK: return S_IFLNK;
      default: return 0;
    }
  }

  static bool is_sidecar(const DirectoryListing& listing, std::string_view name) {
    constexpr std::string_view suffix = ".sig";
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
    const std::string_view base = name.substr(0, name.size() - suffix.size());
    return std::binary_search(
        listing.entries.begin(), listing.entries.end(), base,
        [](const auto& a, const auto& b) {
          if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::string_view>) {
            return a < std::string_view(b.first);
          } else {
            return std::string_view(a.first) < b;
          }
        });
  }

  void skipped(const std::string& path, std::string reason) {
    result_.issues.push_back({WalkIssue::Kind::skipped, path, std::move(reason)});
  }
  void failed(const std::string& path, std::string reason) {
    result_.issues.push_back({WalkIssue::Kind::failed, path, std::move(reason)});
  }

  const WalkOptions& options_;
  WalkResult& result_;
  dev_t root_device_ = 0;
  std::set<std::pair<dev_t, ino_t>> visited_;
};

}  // namespace

WalkResult collect_files(const std::vector<std::string>& roots, const WalkOptions& options) {
  WalkResult result;
  Walker walker(options, result);
  for (const auto& root : roots) walker.walk_root(root);
  return result;
}

}  // namespace vigil
