#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ima/ima.h"

namespace vigil::ima {
namespace {

bool xattrs_unsupported(int error) { return error == ENOTSUP || error == EOPNOTSUPP; }

Result<std::optional<std::vector<uint8_t>>> read_xattr(int fd, const std::string& path, bool* unsupported) {
  uint8_t small[4096];
  ssize_t length = ::fgetxattr(fd, kImaXattrName, small, sizeof small);
  if (length >= 0) return std::vector<uint8_t>(small, small + length);
  if (errno == ENODATA) return std::nullopt;
  if (xattrs_unsupported(errno)) {
    *unsupported = true;
    return std::nullopt;
  }
  if (errno != ERANGE) return fail_errno(path + ": reading security.ima");
  std::vector<uint8_t> large(kMaxXattrSize);
  length = ::fgetxattr(fd, kImaXattrName, large.data(), large.size());
  if (length < 0) return fail_errno(path + ": reading security.ima");
  large.resize(static_cast<size_t>(length));
  return large;
}

Result<std::optional<std::vector<uint8_t>>> read_sigfile(const SidecarPlace& place, const std::string& shown) {
  const int fd = ::openat(place.dir_fd, place.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return fail_errno(shown);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(shown + ": not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxXattrSize)) {
    ::close(fd);
    return fail(shown + ": larger than any IMA value (" + std::to_string(st.st_size) + " bytes)");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

// A new file beside NAME.sig, renamed over it: an existing NAME.sig (perhaps a hard link to a
// file elsewhere, planted by whoever controls the directory) is replaced, not written through.
Result<void> write_sidecar(const SidecarPlace& place, std::span<const uint8_t> value, const std::string& shown) {
  const size_t slash = place.name.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : place.name.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? place.name : place.name.substr(slash + 1);
  static std::atomic<unsigned> counter{0};
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary = dir + "." + base + ".vigil-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd = ::openat(place.dir_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return fail_errno(shown);
  }
  if (fd < 0) return fail_errno(shown);
  auto discard = [&](std::unexpected<Error> error) {
    ::close(fd);
    ::unlinkat(place.dir_fd, temporary.c_str(), 0);
    return error;
  };
  // The umask may have narrowed the mode: a sidecar is as readable as the file's xattr would be.
  if (::fchmod(fd, 0644) != 0) return discard(fail_errno(shown + ": chmod"));
  size_t done = 0;
  while (done < value.size()) {
    const ssize_t wrote = ::write(fd, value.data() + done, value.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return discard(fail_errno(shown + ": write"));
    }
    done += static_cast<size_t>(wrote);
  }
  if (::close(fd) != 0) {
    fd = -1;
    auto error = fail_errno(shown + ": close");
    ::unlinkat(place.dir_fd, temporary.c_str(), 0);
    return error;
  }
  if (::renameat(place.dir_fd, temporary.c_str(), place.dir_fd, place.name.c_str()) != 0) {
    auto error = fail_errno(shown);
    ::unlinkat(place.dir_fd, temporary.c_str(), 0);
    return error;
  }
  return {};
}

}  // namespace

std::string sigfile_path(const std::string& path) { return path + ".sig"; }

SidecarPlace sidecar_beside(const std::string& path) { return SidecarPlace{AT_FDCWD, sigfile_path(path)}; }

Result<void> store_ima_value(int fd, const std::string& path, std::span<const uint8_t> value, Storage storage,
                             const SidecarPlace* sidecar) {
  if (storage == Storage::sigfile) {
    return write_sidecar(sidecar != nullptr ? *sidecar : sidecar_beside(path), value, sigfile_path(path));
  }
  if (::fsetxattr(fd, kImaXattrName, value.data(), value.size(), 0) == 0) return {};
  const int error = errno;
  if (xattrs_unsupported(error)) {
    return fail("filesystem does not support security.ima xattrs (use --sigfile)", error);
  }
  if (error == EPERM || error == EACCES) {
    return fail("not permitted to set security.ima (needs root or CAP_SYS_ADMIN; or use --sigfile)", error);
  }
  errno = error;
  return fail_errno("setting security.ima");
}

Result<std::optional<StoredValue>> load_ima_value(int fd, const std::string& path, ReadFrom from,
                                                  std::string* why_none, const SidecarPlace* sidecar) {
  bool unsupported = false;
  if (from != ReadFrom::sigfile_only) {
    auto xattr = read_xattr(fd, path, &unsupported);
    if (!xattr) return std::unexpected(xattr.error());
    if (*xattr) return StoredValue{std::move(**xattr), Storage::xattr};
  }
  if (from != ReadFrom::xattr_only) {
    auto read = read_sigfile(sidecar != nullptr ? *sidecar : sidecar_beside(path), sigfile_path(path));
    if (!read) return std::unexpected(read.error());
    if (*read) return StoredValue{std::move(**read), Storage::sigfile};
  }
  if (why_none != nullptr) {
    switch (from) {
      case ReadFrom::xattr_only:
        *why_none = unsupported ? "filesystem does not support xattrs" : "no security.ima xattr";
        break;
      case ReadFrom::sigfile_only: *why_none = "no " + sigfile_path(path); break;
      case ReadFrom::xattr_then_sigfile:
        *why_none = std::string(unsupported ? "filesystem does not support xattrs" : "no security.ima xattr") +
                    " and no .sig file";
        break;
    }
  }
  return std::nullopt;
}

Result<int> open_regular_file(const std::string& path) {
  // O_NONBLOCK: a path swapped for a FIFO after the walk must not hang a worker.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail_errno("cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto error = fail_errno("cannot stat");
    ::close(fd);
    return error;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  return fd;
}

}  // namespace vigil::ima
