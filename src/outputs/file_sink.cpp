#include "outputs/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "outputs/write_all.h"

namespace vigil::outputs {

Result<std::unique_ptr<FileSink>> FileSink::open(const FileOutput& config) {
  if (config.path.empty()) return fail("file output: path is empty");
  std::unique_ptr<FileSink> sink(new FileSink(config));
  auto opened = sink->reopen();
  if (!opened) return std::unexpected(opened.error());
  return sink;
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> FileSink::reopen() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  // O_NOFOLLOW: the agent runs as root; a symlink planted at the path must not redirect
  // root's appends into another file. O_APPEND: concurrent writers never overwrite lines.
  const int fd = ::open(config_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                        0600);
  if (fd < 0) return fail_errno("open " + config_.path);
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    auto error = fail_errno("fstat " + config_.path);
    ::close(fd);
    return error;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(config_.path + ": not a regular file");
  }
  fd_ = fd;
  size_ = static_cast<uint64_t>(st.st_size);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return {};
}

bool FileSink::replaced() {
  struct stat st{};
  if (::stat(config_.path.c_str(), &st) != 0) return true;  // removed (or renamed away)
  if (st.st_dev != dev_ || st.st_ino != ino_) return true;
  size_ = static_cast<uint64_t>(st.st_size);  // counts lines other writers appended too
  return false;
}

Result<void> FileSink::rotate() {
  ::close(fd_);
  fd_ = -1;
  if (config_.max_files == 0) {
    // Nothing kept: start the file over.
    if (::unlink(config_.path.c_str()) != 0 && errno != ENOENT) return fail_errno("unlink " + config_.path);
    return reopen();
  }
  // path.<n-1> -> path.<n> ... path -> path.1; the rename onto path.<max_files> drops the oldest.
  for (unsigned i = config_.max_files; i > 1; --i) {
    const std::string from = config_.path + "." + std::to_string(i - 1);
    const std::string to = config_.path + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return fail_errno("rename " + from + " to " + to);
  }
  const std::string first = config_.path + ".1";
  if (::rename(config_.path.c_str(), first.c_str()) != 0 && errno != ENOENT) {
    return fail_errno("rename " + config_.path + " to " + first);
  }
  return reopen();
}

Result<void> FileSink::deliver(const Alert& alert) {
  const std::string line = config_.format == LineFormat::json ? alert_json_line(alert) : alert_text_line(alert);
  if (fd_ < 0 || replaced()) {
    auto opened = reopen();
    if (!opened) return opened;
  }
  // Rotate before a line that would pass the limit; a line longer than the limit still gets
  // written, alone, into a fresh file.
  if (config_.max_size_bytes > 0 && size_ > 0 && size_ + line.size() > config_.max_size_bytes) {
    auto rotated = rotate();
    if (!rotated) return rotated;
  }
  auto written = write_all(fd_, line, config_.path);
  if (!written) return written;
  size_ += line.size();
  return {};
}

}  // namespace vigil::outputs
