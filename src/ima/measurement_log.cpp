// vigil's own measurement list: <dir>/ascii_runtime_measurements and
// <dir>/binary_runtime_measurements, in the kernel's formats, appended under a mutex.
#include <cerrno>
#include <optional>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/path_text.h"
#include "common/unique_fd.h"
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

// Opens an existing list file for appending (no symlinks, regular files only, mode 0640).
Result<UniqueFd> open_for_append(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return fail_errno(path);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(path + ": stat");
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  if (::fchmod(fd.get(), kListMode) != 0 || ::fcntl(fd.get(), F_SETFL, O_APPEND) != 0) {
    return fail_errno(path + ": setting mode and flags");
  }
  return fd;
}

Result<std::FILE*> stream_of(UniqueFd fd, const std::string& path) {
  std::FILE* file = ::fdopen(fd.get(), "a");
  if (file == nullptr) return fail_errno(path + ": fdopen");
  (void)fd.release();
  return file;
}

// The whole of a regular file, not through a symlink; nullopt when it does not exist.
Result<std::optional<std::string>> read_whole(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return fail_errno(path);
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(path + ": stat");
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail_errno(path + ": read");
    }
    if (got == 0) break;
    bytes.append(buffer, static_cast<size_t>(got));
  }
  return std::optional<std::string>(std::move(bytes));
}

// Writes `text` to a new file beside `path` and renames it over `path`.
Result<void> replace_file(const std::string& path, std::string_view text) {
  const std::string temporary = path + ".rewrite";
  ::unlink(temporary.c_str());  // left by a crash in the middle of an earlier rewrite
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kListMode));
  if (fd.get() < 0) return fail_errno(temporary);
  if (::fchmod(fd.get(), kListMode) != 0) return fail_errno(temporary + ": chmod");
  for (size_t done = 0; done < text.size();) {
    const ssize_t wrote = ::write(fd.get(), text.data() + done, text.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      auto error = fail_errno(temporary + ": write");
      ::unlink(temporary.c_str());
      return error;
    }
    done += static_cast<size_t>(wrote);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    auto error = fail_errno(path + ": rename");
    ::unlink(temporary.c_str());
    return error;
  }
  return {};
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
  auto ascii = create_list_file(dir + "/" + kAsciiListName);
  if (!ascii) return std::unexpected(ascii.error());
  log->ascii_ = *ascii;
  auto binary = create_list_file(dir + "/" + kBinaryListName);
  if (!binary) return std::unexpected(binary.error());
  log->binary_ = *binary;
  return log;
}

Result<ExistingList> MeasurementLog::read_existing(const std::string& dir) {
  ExistingList existing;
  auto bytes = read_whole(dir + "/" + kBinaryListName);
  if (!bytes) return std::unexpected(bytes.error());
  if (!*bytes) return existing;
  existing.found = true;
  existing.file_bytes = (*bytes)->size();
  BinaryListPrefix prefix = parse_binary_list_prefix(
      std::span(reinterpret_cast<const uint8_t*>((*bytes)->data()), (*bytes)->size()));
  existing.entries = std::move(prefix.entries);
  existing.parsed_bytes = prefix.parsed_bytes;
  existing.tail_error = std::move(prefix.tail_error);
  return existing;
}

Result<std::unique_ptr<MeasurementLog>> MeasurementLog::continue_list(const std::string& dir, ExistingList existing,
                                                                      bool* ascii_rewritten) {
  if (ascii_rewritten != nullptr) *ascii_rewritten = false;
  if (!existing.found) return open(dir);
  const std::string binary_path = dir + "/" + kBinaryListName;
  const std::string ascii_path = dir + "/" + kAsciiListName;
  auto binary = open_for_append(binary_path);
  if (!binary) return std::unexpected(binary.error());
  struct stat st{};
  if (::fstat(binary->get(), &st) != 0) return fail_errno(binary_path + ": stat");
  if (static_cast<uint64_t>(st.st_size) != existing.file_bytes) {
    return fail(binary_path + ": changed size while it was read (another writer?)");
  }
  // A record cut by a crash: gone, so the next append starts on a record boundary.
  if (existing.parsed_bytes != existing.file_bytes &&
      ::ftruncate(binary->get(), static_cast<off_t>(existing.parsed_bytes)) != 0) {
    return fail_errno(binary_path + ": truncating the torn last record");
  }

  // The ascii list is written first, so a crash can leave it a line (or part of one) ahead.
  std::string expected;
  for (const auto& entry : existing.entries) expected += ascii_line(entry);
  auto ascii_text = read_whole(ascii_path);
  if (!ascii_text) return std::unexpected(ascii_text.error());
  if (!*ascii_text || **ascii_text != expected) {
    if (auto replaced = replace_file(ascii_path, expected); !replaced) return std::unexpected(replaced.error());
    if (ascii_rewritten != nullptr) *ascii_rewritten = true;
  }
  auto ascii = open_for_append(ascii_path);
  if (!ascii) return std::unexpected(ascii.error());

  std::unique_ptr<MeasurementLog> log(new MeasurementLog());
  auto ascii_stream = stream_of(std::move(*ascii), ascii_path);
  if (!ascii_stream) return std::unexpected(ascii_stream.error());
  log->ascii_ = *ascii_stream;
  auto binary_stream = stream_of(std::move(*binary), binary_path);
  if (!binary_stream) return std::unexpected(binary_stream.error());
  log->binary_ = *binary_stream;
  log->entries_ = std::move(existing.entries);
  return log;
}

Result<std::string> MeasurementLog::set_aside(const std::string& dir, const std::string& suffix) {
  std::string binary_aside;
  for (const char* name : {kBinaryListName, kAsciiListName}) {
    const std::string from = dir + "/" + name;
    const std::string to = from + "." + suffix;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == ENOENT && std::string_view(name) == kAsciiListName) continue;
      return fail_errno(from + " -> " + to);
    }
    if (std::string_view(name) == kBinaryListName) binary_aside = to;
  }
  return binary_aside;
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
