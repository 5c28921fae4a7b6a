#pragma once
// The process behind a fanotify event, as the policy and audit records see it.
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace vigil::agent {

struct Subject {
  pid_t pid = 0;
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
  std::string comm;
  bool known = false;  // false when the process is already gone
};

// Reads /proc/<pid>/status once (name, Uid, Gid) into a stack buffer.
Subject read_subject(pid_t pid);
// The real uid of the process (from the same file), kUnknownUid when it cannot be read.
inline constexpr uint32_t kUnknownUid = UINT32_MAX;
uint32_t real_uid_of(pid_t pid);

}  // namespace vigil::agent
