#include "support/runc_container.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

bool RuncContainer::available(OciRuntime runtime) {
  struct stat st{};
  // `runc spec` writes the bundle's config for both.
  const bool tools = have_program("runc") && (runtime == OciRuntime::runc || (have_program("crun") && have_program("unshare")));
  return ::geteuid() == 0 && tools && ::stat("/bin/busybox", &st) == 0 && S_ISREG(st.st_mode);
}

std::string RuncContainer::command(const std::vector<std::string>& args) const {
  std::string line;
  if (runtime_ == OciRuntime::crun) {
    line = "unshare -m --propagation private sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun "
           "--cgroup-manager=disabled \"$@\"' crun";
  } else {
    line = "runc";
  }
  for (const std::string& arg : args) line += " " + shell_quote(arg);
  return line;
}

std::string make_busybox_rootfs(const std::string& rootfs, const std::vector<std::string>& extra_applets) {
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
  for (const std::string& applet : extra_applets) {
    if (::symlink("busybox", (rootfs + "/bin/" + applet).c_str()) != 0) return "symlink " + applet;
  }
  return {};
}

std::string RuncContainer::prepare_bundle(const RuncOptions& options) {
  bundle_ = dir_ / "bundle";
  if (std::string error = make_busybox_rootfs(bundle_ + "/rootfs", options.extra_applets); !error.empty()) return error;
  const CommandResult spec = run({"runc", "spec", "--bundle", bundle_}, timeout_seconds_);  // both read it
  if (spec.exit_code != 0) return "runc spec: " + spec.err;
  nlohmann::json config = nlohmann::json::parse(read_text(bundle_ + "/config.json"), nullptr, false);
  if (!config.is_object()) return "runc spec wrote no JSON";
  config["process"]["terminal"] = false;
  config["process"]["args"] = options.args;
  config["process"]["env"] = {"PATH=/bin"};
  for (const auto& [key, value] : options.annotations) config["annotations"][key] = value;
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
  container->runtime_ = options.runtime;
  container->id_ = options.plain_name ? "vigil-test-" + random_hex_id().substr(0, 16) : random_hex_id();
  if (std::string error = container->prepare_bundle(options); !error.empty()) return std::unexpected(error);
  container->note_new_cgroup_parents();
  // From here on the destructor cleans up, whatever happens next.
  container->started_ = true;
  const std::string log = container->dir_ / "run.log";
  // Detached: the container's stdio must not be our pipes (run() would wait for their EOF).
  const CommandResult run_result =
      run_shell(container->command({"run", "-d", "--bundle", container->bundle_, container->id_}) + " </dev/null >" +
                    shell_quote(log) + " 2>&1",
                options.timeout_seconds);
  if (run_result.exit_code != 0) return std::unexpected("run: " + read_text(log));
  const CommandResult state = container->state();
  const auto json = nlohmann::json::parse(state.out, nullptr, false);
  if (state.exit_code != 0 || !json.is_object() || !json.contains("pid") || !json["pid"].is_number_integer()) {
    return std::unexpected("runc state: " + state.out + state.err);
  }
  container->init_pid_ = json["pid"].get<pid_t>();
  return container;
}

CommandResult RuncContainer::state() const { return run_shell(command({"state", id_}), timeout_seconds_); }

CommandResult RuncContainer::exec(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"exec", id_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_shell(command(argv) + " </dev/null", timeout_seconds_);
}

std::expected<pid_t, std::string> RuncContainer::exec_detached(const std::vector<std::string>& args) const {
  static int counter = 0;
  const std::string pid_file = dir_ / ("exec-" + std::to_string(++counter) + ".pid");
  std::vector<std::string> argv = {"exec", "-d", "--pid-file", pid_file, id_};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result =
      run_shell(command(argv) + " </dev/null >/dev/null 2>" + shell_quote(pid_file + ".err"), timeout_seconds_);
  if (result.exit_code != 0) return std::unexpected("exec -d: " + read_text(pid_file + ".err"));
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
  (void)run_shell(command({"kill", id_, "KILL"}) + " 2>/dev/null", timeout_seconds_);
  const CommandResult deleted = run_shell(command({"delete", "-f", id_}), timeout_seconds_);
  const CommandResult listed = run_shell(command({"state", id_}) + " 2>/dev/null", timeout_seconds_);
  if (listed.exit_code == 0) problems += "delete -f " + id_ + " left it: " + deleted.err;
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

bool UnsharedProcess::available() {
  struct stat st{};
  return ::geteuid() == 0 && have_program("unshare") && have_program("chroot") && ::stat("/bin/busybox", &st) == 0;
}

std::expected<std::unique_ptr<UnsharedProcess>, std::string> UnsharedProcess::start(const UnshareOptions& options) {
  std::unique_ptr<UnsharedProcess> process(new UnsharedProcess());
  std::vector<std::string> argv = {"unshare"};
  if (options.pid) argv.insert(argv.end(), {"--pid", "--fork", "--kill-child"});
  if (options.mount) argv.insert(argv.end(), {"--mount", "--propagation", "private"});
  if (options.chroot) {
    process->rootfs_ = process->dir_ / "rootfs";
    if (std::string error = make_busybox_rootfs(process->rootfs_); !error.empty()) return std::unexpected(error);
    argv.insert(argv.end(), {"chroot", process->rootfs_});
  }
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  const pid_t child = ::fork();
  if (child < 0) return std::unexpected(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    ::execvp("unshare", args.data());
    ::_exit(127);
  }
  process->unshare_pid_ = child;
  if (!options.pid) {
    process->inner_pid_ = child;  // without --fork, unshare execs the program itself
    return process;
  }
  // The process unshare forked: its only child.
  const std::string children = "/proc/" + std::to_string(child) + "/task/" + std::to_string(child) + "/children";
  for (int attempt = 0; attempt < 500 && process->inner_pid_ <= 0; ++attempt) {
    const std::string text = read_text(children);
    if (!text.empty()) process->inner_pid_ = std::atoi(text.c_str());
    if (process->inner_pid_ <= 0) ::usleep(10'000);
  }
  if (process->inner_pid_ <= 0) return std::unexpected("unshare started no child");
  return process;
}

UnsharedProcess::~UnsharedProcess() {
  if (inner_pid_ > 0 && inner_pid_ != unshare_pid_) ::kill(inner_pid_, SIGKILL);
  if (unshare_pid_ > 0) {
    ::kill(unshare_pid_, SIGKILL);
    ::waitpid(unshare_pid_, nullptr, 0);
  }
}

}  // namespace vigil::test
