#pragma once
// A fake /proc and cgroup2 tree for the state unit tests: real files and symlinks in a temp
// dir, laid out like the kernel's, so ProcReader and CgroupPaths run unchanged on them.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "state/cgroup_paths.h"
#include "state/container_resolver.h"
#include "support/test_support.h"

namespace vigil::state::testing {

struct FakeProcess {
  std::uint32_t pid = 0;
  std::uint32_t ppid = 1;
  std::string comm = "fake";
  std::string cmdline = {};  // raw bytes, NULs included
  std::string exe = "/usr/bin/fake";
  std::string cwd = "/";
  std::uint32_t uid = 1000, euid = 1000, gid = 100, egid = 100;
  std::uint32_t tty = 0;
  std::uint64_t start_ticks = 100;
  std::string cgroup = "/";  // cgroup v2 path
  std::uint32_t loginuid = 0xffffffffu;
  std::uint64_t cap_permitted = 0, cap_effective = 0;
};

class FakeTree {
 public:
  FakeTree() {
    std::filesystem::create_directories(proc());
    std::filesystem::create_directories(cgroup_root());
    std::filesystem::create_directories(runc_root());
  }
  std::string proc() const { return dir_ / "proc"; }
  std::string cgroup_root() const { return dir_ / "cgroup"; }
  std::string runc_root() const { return dir_ / "runc"; }

  // Creates the cgroup directory (and parents); returns its id (inode number).
  std::uint64_t make_cgroup(const std::string& path) {
    const std::string dir = cgroup_root() + (path == "/" ? "" : path);
    std::filesystem::create_directories(dir);
    struct stat st{};
    ::stat(dir.c_str(), &st);
    return st.st_ino;
  }

  std::string stat_line(const FakeProcess& p) const {
    return std::to_string(p.pid) + " (" + p.comm + ") S " + std::to_string(p.ppid) + " 1 1 " + std::to_string(p.tty) +
           " -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + std::to_string(p.start_ticks) +
           " 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  }

  void add(const FakeProcess& p) {
    const std::string base = proc() + "/" + std::to_string(p.pid);
    std::filesystem::create_directories(base + "/fd");
    std::filesystem::create_directories(base + "/fdinfo");
    test::write_text(base + "/stat", stat_line(p));
    test::write_text(base + "/comm", p.comm + "\n");
    test::write_text(base + "/cmdline", p.cmdline);
    test::write_text(base + "/status", "Name:\t" + p.comm + "\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t" +
                                           std::to_string(p.uid) + "\t" + std::to_string(p.euid) + "\t" +
                                           std::to_string(p.euid) + "\t" + std::to_string(p.euid) + "\nGid:\t" +
                                           std::to_string(p.gid) + "\t" + std::to_string(p.egid) + "\t" +
                                           std::to_string(p.egid) + "\t" + std::to_string(p.egid) + "\n" +
                                           "CapInh:\t0000000000000000\nCapPrm:\t" + hex16(p.cap_permitted) +
                                           "\nCapEff:\t" + hex16(p.cap_effective) + "\n");
    test::write_text(base + "/loginuid", std::to_string(p.loginuid));
    test::write_text(base + "/cgroup", "2:memory:/something/v1\n1:name=systemd:/v1\n0::" + p.cgroup + "\n");
    if (!p.exe.empty()) std::filesystem::create_symlink(p.exe, base + "/exe");
    if (!p.cwd.empty()) std::filesystem::create_symlink(p.cwd, base + "/cwd");
    make_cgroup(p.cgroup);
  }

  static std::string hex16(std::uint64_t value) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return text;
  }

  void remove(std::uint32_t pid) { std::filesystem::remove_all(proc() + "/" + std::to_string(pid)); }

  // A resolver over the fake cgroup tree (no file handles: it is not a cgroupfs) and the
  // fake runc state dir.
  std::unique_ptr<ContainerResolver> resolver() const {
    auto paths = std::make_unique<CgroupPaths>(
        cgroup_root(), CgroupPathsOptions{.use_file_handles = false, .min_walk_interval = std::chrono::seconds(0)});
    return std::make_unique<ContainerResolver>(std::move(paths), resolver_options());
  }

  // The resolver's view of this tree: runc's state under runc_root(), the fake /proc, and host
  // namespaces with these inodes (fake processes have no ns files: namespaces unknown).
  static constexpr std::uint32_t kHostPidNs = 4026531836u, kHostMntNs = 4026531840u;
  ContainerResolverOptions resolver_options() const {
    ContainerResolverOptions options;
    options.state_roots = {{runc_root(), RuntimeStateFormat::runc, ContainerRuntime::runc, false}};
    options.docker_containers_dir = dir_ / "docker";
    options.proc_root = proc();
    options.host_namespaces = HostNamespaces{.pid_ns = kHostPidNs, .mnt_ns = kHostMntNs, .pid_source = "test", .mnt_source = "test"};
    options.cap_last_cap = 40;
    options.first_retry = {};
    options.min_rescan_interval = {};
    return options;
  }

 private:
  test::TempDir dir_;
};

inline std::string nul_joined(std::initializer_list<std::string> args) {
  std::string out;
  for (const auto& a : args) {
    out += a;
    out.push_back('\0');
  }
  return out;
}

}  // namespace vigil::state::testing
