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

Result<std::optional<std::vector<uint8_t>>> read_sigfile(const std::string& path) {
  const std::string sidecar = sigfile_path(path);
  const int fd = ::open(sidecar.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return fail_errno(sidecar);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(sidecar + ": not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxXattrSize)) {
    ::close(fd);
    return fail(sidecar + ": larger than any IMA value (" + std::to_string(st.st_size) + " bytes)");
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

}  // namespace

std::string sigfile_path(const std::string& path) { return path + ".sig"; }

Result<void> store_ima_value(int fd, const std::string& path, std::span<const uint8_t> value, Storage storage) {
  if (storage == Storage::sigfile) {
    auto written = crypto::write_file(sigfile_path(path), value, 0644, /*overwrite=*/true);
    if (!written) return std::unexpected(written.error());
    return {};
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
                                                  std::string* why_none) {
  bool unsupported = false;
  if (from != ReadFrom::sigfile_only) {
    auto xattr = read_xattr(fd, path, &unsupported);
    if (!xattr) return std::unexpected(xattr.error());
    if (*xattr) return StoredValue{std::move(**xattr), Storage::xattr};
  }
  if (from != ReadFrom::xattr_only) {
    auto sidecar = read_sigfile(path);
    if (!sidecar) return std::unexpected(sidecar.error());
    if (*sidecar) return StoredValue{std::move(**sidecar), Storage::sigfile};
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
