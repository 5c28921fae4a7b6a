// The agent as a service runs it (docs/install.md): `vigil status` over the status socket,
// the sd_notify protocol under a (test-bound) NOTIFY_SOCKET, journal-level log lines, and the
// unit's capability bounding set being enough to run.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include "common/unique_fd.h"
#include "privileged/agent_fixture.h"

using namespace vigil;
using namespace vigil::test;

namespace {

// `vigil agent` started with an argv prefix (setpriv ...) and extra environment, output to a
// file, under a watchdog; ready when agent.ready appears. Stopped by PID.
class ServiceAgent {
 public:
  ServiceAgent(const std::string& config, const std::string& state_dir, std::vector<std::string> prefix = {},
               std::vector<std::pair<std::string, std::string>> env = {}, bool journal_stream = false)
      : out_path_(state_dir + ".out") {
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct stat st{};
    ::fstat(out, &st);
    if (journal_stream) env.emplace_back("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
    std::vector<std::string> argv = std::move(prefix);
    for (const std::string& word : {vigil_binary(), std::string("agent"), std::string("--config"), config}) argv.push_back(word);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> args;
      for (auto& word : argv) args.push_back(word.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(out);
    watchdog_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      if (!done_.wait_for(lock, std::chrono::seconds(120), [this] { return finished_; })) ::kill(pid_, SIGKILL);
    });
    for (int i = 0; i < 1500; ++i) {
      if (::access((state_dir + "/agent.ready").c_str(), F_OK) == 0) {
        ready_ = true;
        break;
      }
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServiceAgent() { stop(); }
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  std::string output() const { return read_text(out_path_); }
  void signal(int sig) const { ::kill(pid_, sig); }
  // SIGTERM (SIGKILL after 10 s); the exit status as waitpid gives it.
  int stop() {
    if (!exited_) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 500 && !exited_; ++i) {
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
        else std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        exited_ = true;
      }
    }
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    done_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    return status_;
  }

 private:
  std::string out_path_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool ready_ = false, exited_ = false;
  std::thread watchdog_;
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
};

// A config with no marks and no eBPF: the agent answers status and notifications, and touches
// nothing on the machine.
std::string quiet_config(const TempDir& dir, const std::string& extra = "") {
  return "mode: log\nstate_dir: " + (dir / "state") + "\nwatch: []\nruntime:\n  enabled: false\n" +
         "console:\n  listen: 127.0.0.1:0\n" + extra;
}

CommandResult vigil_status(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {vigil_binary(), "status"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, 30);
}

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path), fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    bound_ = ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  bool bound() const { return bound_; }
  std::optional<std::string> next(int timeout_ms = 15000) {
    pollfd ready{fd_.get(), POLLIN, 0};
    if (::poll(&ready, 1, timeout_ms) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t got = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    return got < 0 ? std::nullopt : std::optional<std::string>(std::string(buffer, static_cast<size_t>(got)));
  }

 private:
  std::string path_;
  UniqueFd fd_;
  bool bound_ = false;
};

// "CAP_SYS_ADMIN CAP_BPF" from the unit's CapabilityBoundingSet= -> {"sys_admin", "bpf"}.
std::vector<std::string> unit_capabilities() {
  std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/packaging/systemd/vigil-agent.service.in");
  std::vector<std::string> caps;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapabilityBoundingSet=", 0) != 0) continue;
    std::istringstream words(line.substr(std::strlen("CapabilityBoundingSet=")));
    for (std::string word; words >> word;) {
      std::string name = word.substr(4);  // CAP_
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      caps.push_back(name);
    }
  }
  return caps;
}

std::vector<std::string> setpriv_with(const std::vector<std::string>& caps) {
  std::string bounding = "-all";
  for (const auto& cap : caps) bounding += ",+" + cap;
  return {"setpriv", "--bounding-set=" + bounding, "--inh-caps=-all", "--no-new-privs"};
}

}  // namespace

TEST(AgentService, StatusTellsHealthyDegradedAndNotRunning) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  const std::string config = dir / "agent.yaml";
  write_text(config, quiet_config(dir));
  ServiceAgent agent(config, dir / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();

  // A second agent on the same state directory is refused before it touches anything.
  const auto second = run({vigil_binary(), "agent", "--config", config}, 60);
  EXPECT_EQ(second.exit_code, 2) << second.out << second.err;
  EXPECT_NE(second.err.find("another agent is running with state directory"), std::string::npos) << second.err;

  auto text = vigil_status({"--state-dir", dir / "state"});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("vigil agent: healthy (pid " + std::to_string(agent.pid())), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("integrity     off"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("console       on, http://127.0.0.1:"), std::string::npos) << text.out;

  auto json = vigil_status({"--config", config, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["status"], "healthy");
  EXPECT_EQ(doc["pid"], agent.pid());
  EXPECT_EQ(doc["mode"], "log");
  EXPECT_EQ(doc["config"], config);
  EXPECT_EQ(doc["pillars"], (nlohmann::json{{"integrity", false}, {"runtime", false}, {"rules", false}, {"console", true}}));
  for (const char* key : {"uptime_s", "events_per_second", "drops", "decisions", "denials", "measurements", "rules_loaded",
                          "last_errors", "problems"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  EXPECT_EQ(doc["measurements"], 1u);  // boot_aggregate

  // A reload the agent rejects leaves it running on the old policy, and degraded until fixed.
  write_text(config, quiet_config(dir, "policy: " + (dir / "missing.policy") + "\n"));
  agent.signal(SIGHUP);
  CommandResult degraded;
  for (int i = 0; i < 100; ++i) {
    degraded = vigil_status({"--state-dir", dir / "state", "--json"});
    if (degraded.exit_code != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(degraded.exit_code, 1) << degraded.out << agent.output();
  const auto bad = nlohmann::json::parse(degraded.out);
  EXPECT_EQ(bad["status"], "degraded");
  EXPECT_NE(bad["problems"].dump().find("last reload failed"), std::string::npos) << bad.dump();
  EXPECT_NE(bad["last_errors"].dump().find("missing.policy"), std::string::npos) << bad.dump();
  text = vigil_status({"--state-dir", dir / "state"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("problems:\n  - the last reload failed"), std::string::npos) << text.out;

  write_text(config, quiet_config(dir));
  agent.signal(SIGHUP);
  CommandResult healthy;
  for (int i = 0; i < 100; ++i) {
    healthy = vigil_status({"--state-dir", dir / "state"});
    if (healthy.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(healthy.exit_code, 0) << healthy.out;

  EXPECT_EQ(WEXITSTATUS(agent.stop()), 0) << agent.output();
  const auto stopped = vigil_status({"--state-dir", dir / "state"});
  EXPECT_EQ(stopped.exit_code, 2) << stopped.out;
  EXPECT_NE(stopped.out.find("not running"), std::string::npos) << stopped.out;
  const auto stopped_json = vigil_status({"--state-dir", dir / "state", "--json"});
  EXPECT_EQ(stopped_json.exit_code, 2);
  EXPECT_EQ(nlohmann::json::parse(stopped_json.out)["status"], "not-running");
  EXPECT_NE(::access((dir / "state/agent.sock").c_str(), F_OK), 0) << "the socket outlived the agent";
}

TEST(AgentService, StatusAnswersOnlyRootAndTheAgentsUser) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(have_program("setpriv"), "setpriv (util-linux) not installed");
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  write_text(dir / "agent.yaml", quiet_config(dir));
  ServiceAgent agent(dir / "agent.yaml", dir / "state");
  ASSERT_TRUE(agent.ready()) << agent.output();
  const std::vector<std::string> as_nobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                              vigil_binary(), "status", "--state-dir", dir / "state"};
  // First line of defence: the state directory is 0700.
  auto refused = run(as_nobody, 30);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.out.find("permission denied"), std::string::npos) << refused.out;
  // Second: with the file system opened up, the agent still checks who is asking (SO_PEERCRED).
  ASSERT_EQ(::chmod((dir / "state").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir / "state/agent.sock").c_str(), 0666), 0);
  refused = run(as_nobody, 30);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.out.find("only root or the agent's user"), std::string::npos) << refused.out;
  EXPECT_EQ(vigil_status({"--state-dir", dir / "state"}).exit_code, 0);  // root still is
}

TEST(AgentService, TellsTheServiceManagerReadyReloadingAndStopping) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  NotifySocket notify(dir / "notify");
  ASSERT_TRUE(notify.bound());
  write_text(dir / "agent.yaml", quiet_config(dir));
  ServiceAgent agent(dir / "agent.yaml", dir / "state", {}, {{"NOTIFY_SOCKET", dir / "notify"}}, true);
  ASSERT_TRUE(agent.ready()) << agent.output();
  auto ready = notify.next();
  ASSERT_TRUE(ready) << agent.output();
  EXPECT_EQ(*ready, "READY=1\nSTATUS=mode log, watching no mounts");
  // READY=1 comes after the status socket: a unit ordered after the agent can ask it at once.
  EXPECT_EQ(vigil_status({"--state-dir", dir / "state"}).exit_code, 0);

  agent.signal(SIGHUP);
  auto reloading = notify.next();
  ASSERT_TRUE(reloading);
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  auto ready_again = notify.next();
  ASSERT_TRUE(ready_again);
  EXPECT_EQ(ready_again->rfind("READY=1", 0), 0u) << *ready_again;

  agent.signal(SIGTERM);
  auto stopping = notify.next();
  ASSERT_TRUE(stopping);
  EXPECT_EQ(*stopping, "STOPPING=1");
  EXPECT_EQ(WEXITSTATUS(agent.stop()), 0);
  // stderr was the journal's stream: every line of the agent's own carries its priority.
  const std::string output = agent.output();
  EXPECT_NE(output.find("<5>ready, mode log"), std::string::npos) << output;
  EXPECT_NE(output.find("<5>reload done"), std::string::npos) << output;
  EXPECT_EQ(output.find("vigil agent: ready"), std::string::npos) << output;
}

TEST(AgentService, AFailedStartIsLoggedAsAnErrorAndExits2) {
  VIGIL_REQUIRE_ROOT();
  TempDir dir;
  write_text(dir / "agent.yaml", quiet_config(dir, "policy: " + (dir / "missing.policy") + "\n"));
  ServiceAgent failed(dir / "agent.yaml", dir / "state");
  EXPECT_FALSE(failed.ready());
  EXPECT_EQ(WEXITSTATUS(failed.stop()), 2);
  EXPECT_NE(failed.output().find("vigil agent: error: "), std::string::npos) << failed.output();
}

TEST(AgentService, RunsWithOnlyTheUnitsCapabilities) {
  VIGIL_REQUIRE_ROOT();
  VIGIL_REQUIRE(have_program("setpriv"), "setpriv (util-linux) not installed");
  const auto caps = unit_capabilities();
  ASSERT_FALSE(caps.empty()) << "no CapabilityBoundingSet= in the unit";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  TmpfsMount mnt(dir / "mnt");
  VIGIL_REQUIRE(mnt.mounted(), "cannot mount tmpfs");
  // Everything the agent does at once: fanotify marks and measurement, eBPF probes with the
  // default rules, the process table, the console.
  write_text(dir / "agent.yaml", "mode: log\nstate_dir: " + (dir / "state") + "\nwatch: [" + mnt.path() +
                                     "]\npolicy_text: measure func=BPRM_CHECK\nruntime:\n  enabled: true\n"
                                     "console:\n  listen: 127.0.0.1:0\n");
  ServiceAgent agent(dir / "agent.yaml", dir / "state", setpriv_with(caps));
  ASSERT_TRUE(agent.ready()) << agent.output();
  // The restriction took: the agent holds exactly the unit's capabilities.
  const std::string proc_status = read_text("/proc/" + std::to_string(agent.pid()) + "/status");
  std::smatch eff;
  ASSERT_TRUE(std::regex_search(proc_status, eff, std::regex("CapEff:\\s*([0-9a-f]+)")));
  EXPECT_EQ(__builtin_popcountll(std::stoull(eff[1].str(), nullptr, 16)), static_cast<int>(caps.size())) << proc_status;

  ASSERT_EQ(run({"cp", "/bin/true", mnt / "true"}).exit_code, 0);
  ASSERT_EQ(run({mnt / "true"}).exit_code, 0);
  bool measured = false;
  for (int i = 0; i < 100 && !measured; ++i) {
    measured = read_text(dir / "state/ascii_runtime_measurements").find(mnt / "true") != std::string::npos;
    if (!measured) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(measured) << agent.output();
  const auto status = vigil_status({"--state-dir", dir / "state", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out << agent.output();
  const auto doc = nlohmann::json::parse(status.out, nullptr, false);
  EXPECT_EQ(doc["pillars"], (nlohmann::json{{"integrity", true}, {"runtime", true}, {"rules", true}, {"console", true}}))
      << status.out;
  EXPECT_GT(doc.value("rules_loaded", 0), 10) << status.out;
  EXPECT_EQ(WEXITSTATUS(agent.stop()), 0) << agent.output();

  // The control: one capability fewer (CAP_SYS_ADMIN: fanotify) and the agent cannot start,
  // so the set above is what made the difference.
  std::vector<std::string> fewer;
  for (const auto& cap : caps) if (cap != "sys_admin") fewer.push_back(cap);
  std::string control = read_text(dir / "agent.yaml");
  control.replace(control.find(dir / "state"), (dir / "state").size(), dir / "state2");
  write_text(dir / "control.yaml", control);
  ServiceAgent without(dir / "control.yaml", dir / "state2", setpriv_with(fewer));
  EXPECT_FALSE(without.ready());
  EXPECT_NE(WEXITSTATUS(without.stop()), 0) << without.output();
}
