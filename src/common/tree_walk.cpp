#include "common/tree_walk.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

std::string join_relative(const std::string& relative, std::string_view name) {
  return relative.empty() ? std::string(name) : relative + "/" + std::string(name);
}

constexpr const char* kChanged = "changed while walking: not the one that was listed (not entered)";

struct DirectoryListing {
  std::vector<std::pair<std::string, unsigned char>> entries;  // name, d_type
};

// A directory still to be walked: its parent (open and checked) and what the listing saw.
struct PendingDirectory {
  std::shared_ptr<const UniqueFd> parent;
  std::string name;
  std::string path;
  std::string relative;
  dev_t device = 0;
  ino_t inode = 0;
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
      result_.files.push_back(WalkedFile{root, nullptr, {}, st.st_dev, st.st_ino});
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
    // The root is followed if it is a symlink (the user named it), once: from here on it is
    // this descriptor, whatever happens to the path.
    auto opened = std::make_shared<WalkRoot>();
    opened->fd = UniqueFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY));
    opened->path = root;
    struct stat opened_st {};
    if (opened->fd.get() < 0) {
      failed(root, std::string("cannot open directory: ") + std::strerror(errno));
      return;
    }
    if (::fstat(opened->fd.get(), &opened_st) != 0 || opened_st.st_dev != st.st_dev || opened_st.st_ino != st.st_ino) {
      failed(root, kChanged);
      return;
    }
    root_ = opened;
    root_device_ = opened_st.st_dev;
    if (options_.every_entry) result_.entries.push_back(WalkedEntry{"", opened_st, {}, false});
    visited_.insert({opened_st.st_dev, opened_st.st_ino});
    // An aliasing pointer: the root's descriptor, kept alive by the root itself.
    std::shared_ptr<const UniqueFd> root_fd(root_, &root_->fd);
    std::vector<PendingDirectory> pending;
    walk_directory(root_fd, root, "", pending);
    while (!pending.empty()) {
      PendingDirectory next = std::move(pending.back());
      pending.pop_back();
      auto fd = enter(next);
      if (fd) walk_directory(fd, next.path, next.relative, pending);
    }
    root_.reset();
  }

 private:
  // Opens a listed subdirectory through its parent, refusing a symlink, and checks that it is
  // the directory the listing saw.
  std::shared_ptr<const UniqueFd> enter(const PendingDirectory& dir) {
    if (options_.before_descend) options_.before_descend(dir.path);
    auto fd = std::make_shared<UniqueFd>(
        ::openat(dir.parent->get(), dir.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
    if (fd->get() < 0) {
      const int error = errno;
      // O_NOFOLLOW|O_DIRECTORY on a symlink: ELOOP or ENOTDIR. Either way it was swapped.
      failed(dir.path, error == ELOOP || error == ENOTDIR ? std::string(kChanged)
                                                          : std::string("cannot open directory: ") + std::strerror(error));
      return nullptr;
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || st.st_dev != dir.device || st.st_ino != dir.inode) {
      failed(dir.path, kChanged);
      return nullptr;
    }
    return fd;
  }

  void walk_directory(const std::shared_ptr<const UniqueFd>& fd, const std::string& dir, const std::string& relative,
                      std::vector<PendingDirectory>& pending) {
    // fdopendir takes the descriptor it is given: give it a copy, children still need fd.
    const int listing_fd = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 0);
    DIR* stream = listing_fd < 0 ? nullptr : ::fdopendir(listing_fd);
    if (stream == nullptr) {
      failed(dir, std::string("cannot read directory: ") + std::strerror(errno));
      if (listing_fd >= 0) ::close(listing_fd);
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
    ::closedir(stream);
    std::sort(listing.entries.begin(), listing.entries.end());

    std::vector<PendingDirectory> subdirectories;
    for (const auto& [name, type] : listing.entries) {
      const std::string path = join(dir, name);
      struct stat st {};
      // Every entry's device and inode, so that what is opened later can be checked against it.
      if (::fstatat(fd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        failed(path, std::string("cannot stat: ") + std::strerror(errno));
        continue;
      }
      if (options_.every_entry) {
        WalkedEntry listed{join_relative(relative, name), st, {}, false};
        if (S_ISLNK(st.st_mode) && !read_symlink(fd->get(), name, st, listed.symlink_target)) {
          failed(path, std::string("cannot read symlink: ") + std::strerror(errno));
          continue;
        }
        listed.other_filesystem = S_ISDIR(st.st_mode) && st.st_dev != root_device_ && !options_.cross_filesystems;
        result_.entries.push_back(std::move(listed));
      }
      if (S_ISREG(st.st_mode)) {
        if (options_.skip_sig_sidecars && is_sidecar(listing, name)) continue;
        result_.files.push_back(WalkedFile{path, root_, join_relative(relative, name), st.st_dev, st.st_ino});
      } else if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != root_device_ && !options_.cross_filesystems) {
          if (!options_.every_entry) skipped(path, "on another filesystem (use --cross-fs to enter it)");
        } else if (!visited_.insert({st.st_dev, st.st_ino}).second) {
          skipped(path, "directory already visited (bind mount loop)");
        } else {
          subdirectories.push_back(PendingDirectory{fd, name, path, join_relative(relative, name), st.st_dev, st.st_ino});
        }
      } else if (!options_.every_entry) {
        skipped(path, special_file_kind(st.st_mode));
      }
    }
    // Reverse so that popping from the back walks subdirectories in sorted order.
    for (auto it = subdirectories.rbegin(); it != subdirectories.rend(); ++it) pending.push_back(std::move(*it));
  }

  // The target of the symlink `name` in the directory `dir_fd`, checked to be the symlink that
  // was listed (a swap between the fstatat and the readlinkat would be another inode).
  static bool read_symlink(int dir_fd, const std::string& name, const struct stat& listed, std::string& target) {
    std::string buffer(static_cast<size_t>(listed.st_size > 0 ? listed.st_size : 0) + 1, '\0');
    for (;;) {
      const ssize_t length = ::readlinkat(dir_fd, name.c_str(), buffer.data(), buffer.size());
      if (length < 0) return false;
      if (static_cast<size_t>(length) < buffer.size()) {
        buffer.resize(static_cast<size_t>(length));
        break;
      }
      if (buffer.size() >= 65536) {
        errno = ENAMETOOLONG;
        return false;
      }
      buffer.resize(buffer.size() * 2);
    }
    struct stat again {};
    if (::fstatat(dir_fd, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (again.st_dev != listed.st_dev || again.st_ino != listed.st_ino || !S_ISLNK(again.st_mode)) {
      errno = ESTALE;
      return false;
    }
    target = std::move(buffer);
    return true;
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
  std::shared_ptr<WalkRoot> root_;  // the root being walked
  dev_t root_device_ = 0;
  std::set<std::pair<dev_t, ino_t>> visited_;
};

// openat2(2): in the kernel since 5.6; no glibc wrapper in Debian 12.
int openat2_beneath(int root_fd, const std::string& relative, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how));
}

int open_beneath(int root_fd, const std::string& relative, int flags) {
  static std::atomic<bool> have_openat2{true};
  if (have_openat2.load(std::memory_order_relaxed)) {
    const int fd = openat2_beneath(root_fd, relative, flags);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
    // EPERM here is a seccomp filter (or O_NOATIME, which the caller retries without).
    if (errno == ENOSYS) have_openat2.store(false, std::memory_order_relaxed);
    else if ((flags & O_NOATIME) != 0) return -1;
  }
  return detail::open_beneath_by_components(root_fd, relative, flags);
}

std::string open_error(int error) {
  // ELOOP: a symlink on the way (RESOLVE_NO_SYMLINKS, O_NOFOLLOW); EXDEV: a way out of the root
  // (RESOLVE_BENEATH); ENOTDIR: a directory on the way was replaced by something else.
  if (error == ELOOP || error == EXDEV || error == ENOTDIR) {
    return "cannot open: changed while walking: a symlink or something else than the listed directories on the way "
           "(" + std::string(std::strerror(error)) + ")";
  }
  return std::string("cannot open: ") + std::strerror(error);
}

// The file's content only: no blocking on a FIFO, no controlling terminal, no atime update
// where allowed.
constexpr int kReadFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW;

Result<UniqueFd> check_listed(UniqueFd fd, const WalkedFile& file) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("cannot stat");
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (st.st_dev != file.device || st.st_ino != file.inode) {
    return fail("cannot open: changed while walking: not the file that was listed");
  }
  return fd;
}

}  // namespace

namespace detail {

int open_beneath_by_components(int root_fd, const std::string& relative, int flags) {
  if (relative.empty() || relative.front() == '/') {
    errno = EXDEV;
    return -1;
  }
  UniqueFd current;
  int at = root_fd;
  size_t start = 0;
  for (;;) {
    const size_t slash = relative.find('/', start);
    const std::string name = relative.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (name.empty() || name == "." || name == "..") {
      errno = EXDEV;
      return -1;
    }
    if (slash == std::string::npos) return ::openat(at, name.c_str(), flags | O_NOFOLLOW);
    // O_PATH: a directory we may search but not read is still a way down. With O_NOFOLLOW and
    // O_DIRECTORY a symlink fails (ENOTDIR) instead of being opened as a link.
    UniqueFd next(::openat(at, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) return -1;
    current = std::move(next);
    at = current.get();
    start = slash + 1;
  }
}

}  // namespace detail

std::vector<std::string> WalkResult::paths() const {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const auto& file : files) out.push_back(file.path);
  return out;
}

WalkResult collect_files(const std::vector<std::string>& roots, const WalkOptions& options) {
  WalkResult result;
  Walker walker(options, result);
  for (const auto& root : roots) walker.walk_root(root);
  return result;
}

Result<UniqueFd> open_walked_file(const WalkedFile& file) {
  int fd = -1;
  if (file.root) {
    fd = open_beneath(file.root->fd.get(), file.relative, kReadFlags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = open_beneath(file.root->fd.get(), file.relative, kReadFlags);
  } else {
    // Named by the user: a symlink given as the path itself is followed, as collect_files did.
    const int flags = kReadFlags & ~O_NOFOLLOW;
    fd = ::open(file.path.c_str(), flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::open(file.path.c_str(), flags);
  }
  if (fd < 0) return fail(open_error(errno), errno);
  return check_listed(UniqueFd(fd), file);
}

Result<UniqueFd> open_walked_parent(const WalkedFile& file, std::string& name) {
  const std::string& where = file.root ? file.relative : file.path;
  const size_t slash = where.rfind('/');
  name = slash == std::string::npos ? where : where.substr(slash + 1);
  if (!file.root) {
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : where.substr(0, slash);
    const int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(open_error(errno), errno);
    return UniqueFd(fd);
  }
  if (slash == std::string::npos) {
    const int fd = ::fcntl(file.root->fd.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return fail_errno("cannot open");
    return UniqueFd(fd);
  }
  const int fd = open_beneath(file.root->fd.get(), where.substr(0, slash), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(open_error(errno), errno);
  return UniqueFd(fd);
}

}  // namespace vigil
