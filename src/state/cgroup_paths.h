#pragma once
// cgroup v2 id <-> path. eBPF records carry only the id (bpf_get_current_cgroup_id, the inode
// number of the cgroup's directory); containers are recognised by path. Resolution asks the
// kernel directly (open_by_handle_at with the id as a kernfs file handle, needs
// CAP_DAC_READ_SEARCH); where that is not possible (no capability, a fake tree in tests) it
// walks the hierarchy once and remembers every directory's inode, at most once per
// `min_walk_interval` so a stream of unknown ids cannot turn into a stream of walks.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"

namespace vigil::state {

struct CgroupPathsOptions {
  bool use_file_handles = true;
  std::chrono::steady_clock::duration min_walk_interval = std::chrono::seconds(1);
  std::size_t max_walk_directories = 1 << 16;  // bounds a walk of a huge or hostile tree
};

class CgroupPaths {
 public:
  // `mount_dir`: where the cgroup2 hierarchy is mounted (e.g. /sys/fs/cgroup/unified).
  explicit CgroupPaths(std::string mount_dir, CgroupPathsOptions options = {});
  ~CgroupPaths();
  CgroupPaths(const CgroupPaths&) = delete;
  CgroupPaths& operator=(const CgroupPaths&) = delete;

  // The cgroup2 mount point listed in a mountinfo file (first one with root "/").
  static Result<std::string> find_cgroup2_mount(const std::string& mountinfo_path = "/proc/self/mountinfo");

  const std::string& mount_dir() const { return mount_dir_; }

  // The path of cgroup `id` relative to the hierarchy's root, starting with "/" ("/" is the
  // root cgroup itself), as /proc/PID/cgroup's "0::" line writes it.
  Result<std::string> path_of(std::uint64_t id);

  // The id of the cgroup at `relative_path` ("/docker/<id>"): its directory's inode number.
  Result<std::uint64_t> id_of(std::string_view relative_path) const;

  std::uint64_t walks() const { return walks_; }  // full walks done (fallback path)

 private:
  Result<std::string> path_by_handle(std::uint64_t id);
  void walk();

  std::string mount_dir_;
  CgroupPathsOptions options_;
  int mount_fd_ = -1;
  bool handles_work_ = true;  // cleared after the kernel refuses handles for this mount
  std::unordered_map<std::uint64_t, std::string> walked_;
  std::chrono::steady_clock::time_point last_walk_{};
  bool walked_once_ = false;
  std::uint64_t walks_ = 0;
};

}  // namespace vigil::state
