#include "state/cgroup_paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace vigil::state {

namespace {

// Handle type the kernel uses for kernfs (cgroup) inodes: the 8-byte id is the whole handle.
constexpr int kFileIdKernfs = 0xfe;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::string join_relative(const std::string& parent, std::string_view name) {
  return parent == "/" ? "/" + std::string(name) : parent + "/" + std::string(name);
}

}  // namespace

CgroupPaths::CgroupPaths(std::string mount_dir, CgroupPathsOptions options)
    : mount_dir_(std::move(mount_dir)), options_(options) {
  while (mount_dir_.size() > 1 && mount_dir_.back() == '/') mount_dir_.pop_back();
  mount_fd_ = ::open(mount_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // Kernfs handles mean something only on a cgroup2 mount; elsewhere the kernel may decode
  // the same bytes differently (or report ESTALE, which would read as "no such cgroup").
  struct statfs fs{};
  const bool is_cgroup2 = mount_fd_ >= 0 && ::fstatfs(mount_fd_, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
  handles_work_ = options_.use_file_handles && is_cgroup2;
}

CgroupPaths::~CgroupPaths() {
  if (mount_fd_ >= 0) ::close(mount_fd_);
}

Result<std::string> CgroupPaths::find_cgroup2_mount(const std::string& mountinfo_path) {
  std::ifstream in(mountinfo_path);
  if (!in) return fail("cannot read " + mountinfo_path);
  std::string line;
  while (std::getline(in, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    // A cgroup2 mount of a sub-tree (a container's view) would give paths relative to it.
    if (root == "/" && !mount_point.empty()) return unescape_mountinfo(mount_point);
  }
  return fail("no cgroup2 mount in " + mountinfo_path);
}

Result<std::string> CgroupPaths::path_by_handle(std::uint64_t id) {
  struct {
    file_handle header;
    unsigned char bytes[sizeof(std::uint64_t)];
  } handle{};
  handle.header.handle_bytes = sizeof(std::uint64_t);
  handle.header.handle_type = kFileIdKernfs;
  std::memcpy(handle.header.f_handle, &id, sizeof id);
  const int fd = ::open_by_handle_at(mount_fd_, &handle.header, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open_by_handle_at cgroup " + std::to_string(id));
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  std::string target(4096, '\0');
  const ssize_t length = ::readlink(link, target.data(), target.size());
  const int saved_errno = errno;
  ::close(fd);
  if (length < 0) return fail("readlink " + std::string(link) + ": " + std::strerror(saved_errno), saved_errno);
  target.resize(static_cast<std::size_t>(length));
  // The link names the directory as seen from this process's mount namespace.
  if (target == mount_dir_) return std::string("/");
  if (!target.starts_with(mount_dir_ + "/")) return fail("cgroup " + std::to_string(id) + " is outside " + mount_dir_);
  if (target.ends_with(" (deleted)")) return fail("cgroup " + std::to_string(id) + " was removed", ENOENT);
  return target.substr(mount_dir_.size());
}

Result<std::string> CgroupPaths::path_of(std::uint64_t id) {
  if (handles_work_) {
    auto path = path_by_handle(id);
    if (path) return path;
    // EINVAL/EOPNOTSUPP/EPERM: handles are not usable here at all; ESTALE: no such cgroup.
    const int error = path.error().sys_errno;
    if (error != ESTALE && error != ENOENT) handles_work_ = false;
    else return path;
  }
  if (auto found = walked_.find(id); found != walked_.end()) return found->second;
  const auto now = std::chrono::steady_clock::now();
  if (!walked_once_ || now - last_walk_ >= options_.min_walk_interval) {
    walk();
    last_walk_ = now;
    walked_once_ = true;
    if (auto found = walked_.find(id); found != walked_.end()) return found->second;
  }
  return fail("cgroup " + std::to_string(id) + " not found under " + mount_dir_, ENOENT);
}

void CgroupPaths::walk() {
  ++walks_;
  walked_.clear();
  struct Pending {
    std::string relative;  // path below the mount, "/" for the root
  };
  std::vector<Pending> pending{{"/"}};
  std::size_t visited = 0;
  while (!pending.empty() && visited < options_.max_walk_directories) {
    Pending directory = std::move(pending.back());
    pending.pop_back();
    const std::string absolute = directory.relative == "/" ? mount_dir_ : mount_dir_ + directory.relative;
    const int fd = ::open(absolute.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // removed meanwhile or unreadable: skip it
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      continue;
    }
    ++visited;
    walked_.emplace(st.st_ino, directory.relative);
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      continue;
    }
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN) continue;
      struct stat child{};
      if (::fstatat(::dirfd(dir), entry->d_name, &child, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(child.st_mode)) continue;
      pending.push_back({join_relative(directory.relative, name)});
    }
    ::closedir(dir);
  }
}

Result<std::uint64_t> CgroupPaths::id_of(std::string_view relative_path) const {
  // /proc/PID/cgroup is written by the kernel, but keep a hostile string inside the mount.
  if (!relative_path.starts_with("/") || relative_path.find("/..") != std::string_view::npos) {
    return fail("not a cgroup path: " + std::string(relative_path));
  }
  std::string absolute = mount_dir_;
  if (relative_path != "/") absolute += relative_path;
  struct stat st{};
  if (::stat(absolute.c_str(), &st) != 0) return fail_errno("stat " + absolute);
  if (!S_ISDIR(st.st_mode)) return fail(absolute + " is not a directory");
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace vigil::state
