#include "agent/subject.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace vigil::agent {
namespace {

const char* find_field(const char* text, const char* name) {
  const char* at = std::strstr(text, name);
  return at ? at + std::strlen(name) : nullptr;
}

}  // namespace

Subject read_subject(pid_t pid) {
  Subject subject;
  subject.pid = pid;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return subject;
  char text[2048];
  const ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (got <= 0) return subject;
  text[got] = '\0';
  if (const char* name = find_field(text, "Name:\t")) {
    const char* end = std::strchr(name, '\n');
    subject.comm.assign(name, end ? static_cast<size_t>(end - name) : std::strlen(name));
  }
  const char* uids = find_field(text, "\nUid:\t");
  const char* gids = find_field(text, "\nGid:\t");
  if (uids == nullptr || gids == nullptr) return subject;
  char* cursor = nullptr;
  subject.uid = static_cast<uint32_t>(std::strtoul(uids, &cursor, 10));
  subject.euid = static_cast<uint32_t>(std::strtoul(cursor, &cursor, 10));
  subject.gid = static_cast<uint32_t>(std::strtoul(gids, &cursor, 10));
  subject.egid = static_cast<uint32_t>(std::strtoul(cursor, &cursor, 10));
  subject.known = true;
  return subject;
}

uint32_t real_uid_of(pid_t pid) {
  const Subject subject = read_subject(pid);
  return subject.known ? subject.uid : kUnknownUid;
}

}  // namespace vigil::agent
