#pragma once
// A real OCI container for tests (runc, or crun): a bundle in a private temp dir
// (busybox-static as the rootfs), started detached with its own pid/net/ipc/uts/mount
// namespaces, and always torn down: the destructor runs `kill` and `delete -f`, removes the
// cgroup parents the container made (only those that did not exist before) and the bundle.
// Ids are random (64 hex digits, or "vigil-test-" and 16 hex digits), so a test never touches
// a container it did not create.
//
// crun refuses hybrid cgroup hosts (v1 controllers plus a v2 hierarchy with a controller, as
// the reference VM has): its commands run in a private mount namespace with the cgroup2
// hierarchy mounted on /sys/fs/cgroup and its cgroup manager disabled, so a crun container
// stays in the cgroup of whoever started it (a container no cgroup name gives away).
#include <sys/types.h>

#include <expected>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.h"

namespace vigil::test {

enum class OciRuntime { runc, crun };

struct RuncOptions {
  OciRuntime runtime = OciRuntime::runc;
  // A plain name ("vigil-test-<16 hex>") instead of a 64-hex id, as `runc run NAME` is used.
  bool plain_name = false;
  std::vector<std::pair<std::string, std::string>> annotations = {};  // written into config.json
  // linux.cgroupsPath; "{id}" is replaced by the container id. Empty: runc's default "/<id>".
  // Use cgroupfs-style paths: "/docker/{id}", "/kubepods/besteffort/pod<uid>/{id}", ...
  std::string cgroups_path = {};
  std::vector<std::string> args = {"sleep", "600"};  // the container's init process
  std::vector<std::string> extra_applets = {};       // more busybox applets linked in /bin (e.g. "mount")
  int timeout_seconds = 30;                          // for each runc command
};

class RuncContainer {
 public:
  // Needs root, runc (crun) and a static busybox at /bin/busybox.
  static bool available(OciRuntime runtime = OciRuntime::runc);
  static std::expected<std::unique_ptr<RuncContainer>, std::string> start(const RuncOptions& options = {});

  ~RuncContainer();
  RuncContainer(const RuncContainer&) = delete;
  RuncContainer& operator=(const RuncContainer&) = delete;

  const std::string& id() const { return id_; }  // 64 hex digits, or the plain name
  const std::string& cgroups_path() const { return cgroups_path_; }  // as given to runc
  const std::string& bundle() const { return bundle_; }
  pid_t init_pid() const { return init_pid_; }  // host pid of the container's init

  // The runtime's command line for `args` (crun: wrapped as the header says).
  std::string command(const std::vector<std::string>& args) const;
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
  OciRuntime runtime_ = OciRuntime::runc;
};

// A busybox root filesystem in `dir` (bin/busybox and applet links), as the containers here use.
std::string make_busybox_rootfs(const std::string& dir, const std::vector<std::string>& extra_applets = {});

// A process started by `unshare` in namespaces of its own, without any container runtime: with
// pid + mount namespaces and a chroot into a busybox root, a hand-made container; with only one
// of them, a host process in a private namespace (a sandbox, a service with PrivateTmp=).
struct UnshareOptions {
  bool pid = true;      // --pid --fork: the process is pid 1 of a new pid namespace
  bool mount = true;    // --mount (private propagation)
  bool chroot = true;   // chroot into a busybox root filesystem (needs `mount` to be a container)
  std::vector<std::string> args = {"sleep", "300"};  // run inside (busybox applets under chroot)
};

class UnsharedProcess {
 public:
  static bool available();  // root, unshare, chroot and /bin/busybox
  static std::expected<std::unique_ptr<UnsharedProcess>, std::string> start(const UnshareOptions& options);
  // Kills the inner process (pid 1 of its namespace: everything in it) and unshare, reaps both.
  ~UnsharedProcess();
  UnsharedProcess(const UnsharedProcess&) = delete;
  UnsharedProcess& operator=(const UnsharedProcess&) = delete;

  pid_t unshare_pid() const { return unshare_pid_; }
  pid_t inner_pid() const { return inner_pid_; }  // host pid of the process unshare forked
  const std::string& rootfs() const { return rootfs_; }

 private:
  UnsharedProcess() = default;
  TempDir dir_;
  std::string rootfs_;
  pid_t unshare_pid_ = -1;
  pid_t inner_pid_ = -1;
};

}  // namespace vigil::test
