#include "common/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace vigil::log {
namespace {

struct Settings {
  std::string program = "vigil";
  std::function<void(Level, std::string_view)> observer;
};

Settings& settings() {
  static Settings instance;
  return instance;
}

std::string_view level_word(Level level) {
  switch (level) {
    case Level::error: return "error: ";
    case Level::warning: return "warning: ";
    case Level::debug: return "debug: ";
    case Level::notice:
    case Level::info: return "";
  }
  return "";
}

}  // namespace

std::string format_line(Level level, std::string_view program, std::string_view message, bool journal) {
  std::string prefix;
  if (journal) {
    prefix = "<" + std::to_string(static_cast<int>(level)) + ">";
  } else {
    prefix.append(program).append(": ").append(level_word(level));
  }
  std::string line;
  line.reserve(prefix.size() + message.size() + 1);
  // Every physical line carries the prefix: the journal takes each as a record of its own.
  size_t start = 0;
  for (;;) {
    const size_t end = message.find('\n', start);
    line += prefix;
    line.append(message.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    line += '\n';
    if (end == std::string_view::npos || end + 1 == message.size()) break;
    start = end + 1;
  }
  return line;
}

bool fd_is_journal_stream(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long device = std::strtoull(stream, &end, 10);
  if (errno != 0 || end == stream || *end != ':') return false;
  const char* inode_text = end + 1;
  const unsigned long long inode = std::strtoull(inode_text, &end, 10);
  if (errno != 0 || end == inode_text || *end != '\0') return false;
  struct stat st{};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode;
}

void set_program(std::string program) { settings().program = std::move(program); }

void set_observer(std::function<void(Level, std::string_view)> observer) { settings().observer = std::move(observer); }

void write(Level level, std::string_view message) {
  // Decided once: stderr does not change what it is connected to while the daemon runs.
  static const bool journal = fd_is_journal_stream(STDERR_FILENO);
  const std::string line = format_line(level, settings().program, message, journal);
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t wrote = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;  // nowhere to log to: carry on
    done += static_cast<size_t>(wrote);
  }
  if (level <= Level::warning && settings().observer) settings().observer(level, message);
}

}  // namespace vigil::log
