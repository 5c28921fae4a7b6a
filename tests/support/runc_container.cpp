#include "support/runc_container.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace vigil::test {

namespace {

// Busybox applets the tests use inside the container.
constexpr const char* kApplets[] = {"sh", "sleep", "cat", "echo", "true", "false", "ls", "ps", "id", "env"};

std::string random_hex_id() {
  std::random_device random;
  std::string id;
  static constexpr char kHex[] = "0123456789abcdef";
  while (id.size() < 64) {
    const unsigned value = random();
    for (int i = 0; i < 8 && id.size() < 64; ++i) id.push_back(kHex[(value >> (4 * i)) & 0xf]);
  }
  return id;
}

std::string replace_all(std::string text, const std::string& what, const std::string& with) {
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
  return text;
}

// The cgroup mounts (v1 controllers and the v2 hierarchy) runc creates directories under.
std::vector<std::string> cgroup_mount_points() {
  std::vector<std::string> mounts;
  for (const MountInfo& mount : read_mountinfo()) {
    if (mount.fstype == "cgroup" || mount.fstype == "cgroup2") mounts.push_back(mount.mount_point);
  }
  return mounts;
}

}  // namespace

bool RuncContainer::available() {
  struct stat st{};
  return ::geteuid() == 0 && have_program("runc") && ::stat("/bin/busybox", &st) == 0 && S_ISREG(st.st_mode);
}

std::string RuncContainer::prepare_bundle(const RuncOptions& options) {
  bundle_ = dir_ / "bundle";
  const std::string rootfs = bundle_ + "/rootfs";
  std::error_code error;
  for (const char* sub : {"/bin", "/proc", "/dev", "/sys", "/tmp"}) {
    std::filesystem::create_directories(rootfs + sub, error);
    if (error) return "mkdir " + rootfs + sub + ": " + error.message();
  }
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox", error);
  if (error) return "copy busybox: " + error.message();
  for (const char* applet : kApplets) {
    if (::symlink("busybox", (rootfs + "/bin/" + applet).c_str()) != 0) return std::string("symlink ") + applet;
  }
  for (const std::string& applet : options.extra_applets) {
    if (::symlink("busybox", (rootfs + "/bin/" + applet).c_str()) != 0) return "symlink " + applet;
  }
  const CommandResult spec = run({"runc", "spec", "--bundle", bundle_}, timeout_seconds_);
  if (spec.exit_code != 0) return "runc spec: " + spec.err;
  nlohmann::json config = nlohmann::json::parse(read_text(bundle_ + "/config.json"), nullptr, false);
  if (!config.is_object()) return "runc spec wrote no JSON";
  config["process"]["terminal"] = false;
  config["process"]["args"] = options.args;
  config["process"]["env"] = {"PATH=/bin"};
  cgroups_path_ = options.cgroups_path.empty() ? "/" + id_ : replace_all(options.cgroups_path, "{id}", id_);
  config["linux"]["cgroupsPath"] = cgroups_path_;
  // runc spec's default namespaces (pid, network, ipc, uts, mount) stay: in particular the
  // private network namespace, which has only a loopback device.
  write_text(bundle_ + "/config.json", config.dump(2));
  return {};
}

void RuncContainer::note_new_cgroup_parents() {
  // Every proper prefix of cgroupsPath that does not exist yet in some hierarchy will be made
  // by runc and left behind by `runc delete`; remember them to remove later.
  std::vector<std::string> prefixes;
  for (auto at = cgroups_path_.find('/', 1); at != std::string::npos; at = cgroups_path_.find('/', at + 1)) {
    prefixes.push_back(cgroups_path_.substr(0, at));
  }
  for (const std::string& mount : cgroup_mount_points()) {
    for (const std::string& prefix : prefixes) {
      const std::string dir = mount + prefix;
      struct stat st{};
      if (::stat(dir.c_str(), &st) != 0) created_cgroup_dirs_.push_back(dir);
    }
  }
  std::sort(created_cgroup_dirs_.begin(), created_cgroup_dirs_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::expected<std::unique_ptr<RuncContainer>, std::string> RuncContainer::start(const RuncOptions& options) {
  std::unique_ptr<RuncContainer> container(new RuncContainer());
  container->timeout_seconds_ = options.timeout_seconds;
  container->id_ = random_hex_id();
  if (std::string error = container->prepare_bundle(options); !error.empty()) return std::unexpected(error);
  container->note_new_cgroup_parents();
  // From here on the destructor cleans up, whatever happens next.
  container->started_ = true;
  const std::string log = container->dir_ / "run.log";
  // Detached: the container's stdio must not be our pipes (run() would wait for their EOF).
  const CommandResult run_result =
      run_shell("runc run -d --bundle " + shell_quote(container->bundle_) + " " + container->id_ + " </dev/null >" +
                    shell_quote(log) + " 2>&1",
                options.timeout_seconds);
  if (run_result.exit_code != 0) return std::unexpected("runc run: " + read_text(log));
  const CommandResult state = container->state();
  const auto json = nlohmann::json::parse(state.out, nullptr, false);
  if (state.exit_code != 0 || !json.is_object() || !json.contains("pid") || !json["pid"].is_number_integer()) {
    return std::unexpected("runc state: " + state.out + state.err);
  }
  container->init_pid_ = json["pid"].get<pid_t>();
  return container;
}

CommandResult RuncContainer::state() const { return run({"runc", "state", id_}, timeout_seconds_); }

CommandResult RuncContainer::exec(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"runc", "exec", id_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout_seconds_);
}

std::expected<pid_t, std::string> RuncContainer::exec_detached(const std::vector<std::string>& args) const {
  static int counter = 0;
  const std::string pid_file = dir_ / ("exec-" + std::to_string(++counter) + ".pid");
  std::string command = "runc exec -d --pid-file " + shell_quote(pid_file) + " " + id_;
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  const CommandResult result = run_shell(command + " </dev/null >/dev/null 2>" + shell_quote(pid_file + ".err"),
                                         timeout_seconds_);
  if (result.exit_code != 0) return std::unexpected("runc exec -d: " + read_text(pid_file + ".err"));
  const std::string text = read_text(pid_file);
  try {
    const int pid = std::stoi(text);
    if (pid > 0) return pid;
  } catch (...) {
  }
  return std::unexpected("runc exec -d wrote no pid: '" + text + "'");
}

std::string RuncContainer::destroy() {
  if (!started_) return {};
  started_ = false;
  std::string problems;
  // kill fails harmlessly if the container already stopped; delete -f kills whatever is left.
  (void)run({"runc", "kill", id_, "KILL"}, timeout_seconds_);
  const CommandResult deleted = run({"runc", "delete", "-f", id_}, timeout_seconds_);
  const CommandResult listed = run({"runc", "state", id_}, timeout_seconds_);
  if (listed.exit_code == 0) problems += "runc delete -f " + id_ + " left it: " + deleted.err;
  for (const std::string& dir : created_cgroup_dirs_) {
    // A cgroup disappears only when empty; runc delete may still be tearing down.
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        problems += "rmdir " + dir + ": " + std::strerror(errno) + "; ";
        break;
      }
      ::usleep(20'000);
    }
  }
  return problems;
}

RuncContainer::~RuncContainer() { (void)destroy(); }

}  // namespace vigil::test
