#pragma once
// A real runc container for tests: a bundle in a private temp dir (busybox-static as the
// rootfs), started detached with its own pid/net/ipc/uts/mount namespaces, and always torn
// down: the destructor runs `runc kill` and `runc delete -f`, removes the cgroup parents the
// container made (only those that did not exist before) and the bundle. Ids are 64 random hex
// digits, so a test never touches a container it did not create.
#include <sys/types.h>

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace vigil::test {

struct RuncOptions {
  // linux.cgroupsPath; "{id}" is replaced by the container id. Empty: runc's default "/<id>".
  // Use cgroupfs-style paths: "/docker/{id}", "/kubepods/besteffort/pod<uid>/{id}", ...
  std::string cgroups_path;
  std::vector<std::string> args = {"sleep", "600"};  // the container's init process
  std::vector<std::string> extra_applets = {};       // more busybox applets linked in /bin (e.g. "mount")
  int timeout_seconds = 30;                          // for each runc command
};

class RuncContainer {
 public:
  // Needs root, runc and a static busybox at /bin/busybox.
  static bool available();
  static std::expected<std::unique_ptr<RuncContainer>, std::string> start(const RuncOptions& options = {});

  ~RuncContainer();
  RuncContainer(const RuncContainer&) = delete;
  RuncContainer& operator=(const RuncContainer&) = delete;

  const std::string& id() const { return id_; }  // 64 hex digits
  const std::string& cgroups_path() const { return cgroups_path_; }  // as given to runc
  const std::string& bundle() const { return bundle_; }
  pid_t init_pid() const { return init_pid_; }  // host pid of the container's init

  // `runc exec ID args...`, waits for it. Output captured.
  CommandResult exec(const std::vector<std::string>& args) const;
  // `runc exec -d`: starts args inside the container and returns its host pid (or an error).
  std::expected<pid_t, std::string> exec_detached(const std::vector<std::string>& args) const;
  // `runc state ID` as JSON text.
  CommandResult state() const;

  // Kills and deletes the container and removes what it left behind. Safe to call twice;
  // the destructor calls it. Returns "" or what could not be cleaned.
  std::string destroy();

 private:
  RuncContainer() = default;
  std::string prepare_bundle(const RuncOptions& options);
  void note_new_cgroup_parents();

  TempDir dir_;
  std::string id_;
  std::string bundle_;
  std::string cgroups_path_;
  std::vector<std::string> created_cgroup_dirs_;  // parents to rmdir after delete, deepest first
  pid_t init_pid_ = -1;
  bool started_ = false;
  int timeout_seconds_ = 30;
};

}  // namespace vigil::test
