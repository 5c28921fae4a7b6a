#include "agent/audit_log.h"

#include <cerrno>
#include <cstdio>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil::agent {
namespace {

std::string now_rfc3339() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char text[48];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%06ldZ", ts.tv_nsec / 1000);
  return text;
}

// O_NOFOLLOW: the agent runs as root; a symlink planted at the path must not redirect its appends.
int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, AuditRotation rotation) {
  const int fd = open_append(path);
  if (fd < 0) return fail_errno("audit log " + path);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("audit log " + path + ": not a regular file");
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd, path, rotation, static_cast<uint64_t>(st.st_size)));
}

AuditLog::~AuditLog() { ::close(fd_); }

void AuditLog::rotate_locked() {
  // path.<n-1> -> path.<n> ... path -> path.1; the rename onto path.<max_files> drops the oldest.
  for (unsigned i = rotation_.max_files; i > 1; --i) {
    const std::string from = path_ + "." + std::to_string(i - 1);
    const std::string to = path_ + "." + std::to_string(i);
    ::rename(from.c_str(), to.c_str());
  }
  if (rotation_.max_files == 0) {
    ::unlink(path_.c_str());
  } else if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT) {
    return;  // cannot rotate (read-only directory?): keep appending rather than lose records
  }
  const int fd = open_append(path_);
  if (fd < 0) return;  // the old descriptor (now path.1) still takes the records
  ::close(fd_);
  fd_ = fd;
  size_ = 0;
}

void AuditLog::record(nlohmann::json entry) {
  entry["time"] = now_rfc3339();
  std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  {
    std::lock_guard lock(mutex_);
    // Rotate before a line that would pass the limit; a longer line still goes, alone, into a fresh file.
    if (rotation_.max_size_bytes > 0 && size_ > 0 && size_ + line.size() > rotation_.max_size_bytes) rotate_locked();
    size_t done = 0;
    while (done < line.size()) {
      const ssize_t wrote = ::write(fd_, line.data() + done, line.size() - done);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) break;  // a full disk must not stop decisions
      done += static_cast<size_t>(wrote);
    }
    size_ += done;
  }
  if (observer_) observer_(entry);
}

}  // namespace vigil::agent
