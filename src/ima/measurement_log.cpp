// vigil's own measurement list: <dir>/ascii_runtime_measurements and
// <dir>/binary_runtime_measurements, in the kernel's formats, appended under a mutex.
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/path_text.h"
#include "ima/measurement_list.h"

namespace vigil::ima {
namespace {

constexpr mode_t kListMode = 0640;  // readable by the agent's group (attestation), not by all
constexpr mode_t kDirMode = 0750;

Result<std::FILE*> create_list_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, kListMode);
  if (fd < 0) return fail_errno(path);
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    auto error = fail_errno(path + ": stat");
    ::close(fd);
    return error;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(path + ": not a regular file");
  }
  // O_TRUNC keeps an existing file's mode; the umask may narrow a new one. Set it exactly.
  if (::fchmod(fd, kListMode) != 0 || ::fcntl(fd, F_SETFL, 0) != 0) {
    auto error = fail_errno(path + ": setting mode and flags");
    ::close(fd);
    return error;
  }
  std::FILE* file = ::fdopen(fd, "w");
  if (file == nullptr) {
    auto error = fail_errno(path + ": fdopen");
    ::close(fd);
    return error;
  }
  return file;
}

Result<void> write_all(std::FILE* file, const void* data, size_t size, const char* what) {
  if (size != 0 && std::fwrite(data, 1, size, file) != size) return fail_errno(std::string("writing ") + what);
  if (std::fflush(file) != 0) return fail_errno(std::string("flushing ") + what);
  return {};
}

}  // namespace

Result<std::unique_ptr<MeasurementLog>> MeasurementLog::open(const std::string& dir) {
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) return fail_errno(dir + ": mkdir");
  std::unique_ptr<MeasurementLog> log(new MeasurementLog());
  auto ascii = create_list_file(dir + "/ascii_runtime_measurements");
  if (!ascii) return std::unexpected(ascii.error());
  log->ascii_ = *ascii;
  auto binary = create_list_file(dir + "/binary_runtime_measurements");
  if (!binary) return std::unexpected(binary.error());
  log->binary_ = *binary;
  return log;
}

MeasurementLog::~MeasurementLog() {
  if (ascii_ != nullptr) std::fclose(ascii_);
  if (binary_ != nullptr) std::fclose(binary_);
}

Result<void> MeasurementLog::append(const MeasurementEntry& entry) {
  if (auto valid = validate_entry(entry); !valid) {
    return fail("measurement of " + printable_path(entry.path) + " not recorded: " + valid.error().message);
  }
  MeasurementEntry recorded = entry;
  compute_template_hashes(recorded);
  const std::string line = ascii_line(recorded);
  const std::vector<uint8_t> record = binary_record(recorded);

  std::lock_guard lock(mutex_);
  if (broken_) return fail("the measurement list is incomplete after an earlier write failure; reopen it");
  if (auto wrote = write_all(ascii_, line.data(), line.size(), "ascii_runtime_measurements"); !wrote) {
    broken_ = true;
    return wrote;
  }
  if (auto wrote = write_all(binary_, record.data(), record.size(), "binary_runtime_measurements"); !wrote) {
    broken_ = true;
    return wrote;
  }
  entries_.push_back(std::move(recorded));
  return {};
}

size_t MeasurementLog::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::vector<MeasurementEntry> MeasurementLog::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

}  // namespace vigil::ima
