#pragma once
// Runs `vigil agent` against a private tmpfs, never anything else, under a watchdog that
// kills the agent (by its PID) if a test runs too long: closing its fanotify fd releases
// every pending event, so a broken agent cannot hang the machine.
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "privileged/cli_fixture.h"

namespace vigil::test {

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& where) : where_(where) {
    ::mkdir(where.c_str(), 0755);
    mounted_ = ::mount("vigil-test", where.c_str(), "tmpfs", 0, "size=64m,mode=0755") == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& path() const { return where_; }
  std::string operator/(const std::string& name) const { return where_ + "/" + name; }

 private:
  std::string where_;
  bool mounted_ = false;
};

// The JSON objects of a JSON-lines file (alerts.jsonl): lines that are not objects are left out.
inline std::vector<nlohmann::json> read_json_objects(const std::string& path) {
  std::vector<nlohmann::json> objects;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto object = nlohmann::json::parse(line, nullptr, false);
    if (object.is_object()) objects.push_back(std::move(object));
  }
  return objects;
}

class AgentProcess {
 public:
  // A config without a `console` section gets one on an ephemeral loopback port, so tests never
  // compete for the default 7373 (console_url() tells where it is).
  // nofile_limit > 0: the agent starts with RLIMIT_NOFILE (soft and hard) at that value.
  AgentProcess(const std::string& config_path, const std::string& state_dir, int watchdog_seconds = 120,
               rlim_t nofile_limit = 0)
      : state_dir_(state_dir) {
    out_path_ = state_dir + ".out";
    if (const std::string text = read_text(config_path);
        text.find("\nconsole:") == std::string::npos && text.rfind("console:", 0) != 0) {
      write_text(config_path, text + "\nconsole:\n  listen: 127.0.0.1:0\n");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out, 1);
      ::dup2(out, 2);
      if (nofile_limit > 0) {
        const rlimit limit{nofile_limit, nofile_limit};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
      }
      const std::string binary = vigil_binary();
      ::execl(binary.c_str(), binary.c_str(), "agent", "--config", config_path.c_str(), nullptr);
      ::_exit(127);
    }
    watchdog_ = std::thread([this, watchdog_seconds] {
      std::unique_lock lock(mutex_);
      if (!done_.wait_for(lock, std::chrono::seconds(watchdog_seconds), [this] { return finished_; })) {
        ::kill(pid_, SIGKILL);
      }
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < until) {
      // Only this agent's own announcement counts: one killed earlier may have left its file.
      if (read_text(state_dir + "/agent.ready") == std::to_string(pid_) + "\n") {
        ready_ = true;
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  ~AgentProcess() { stop(); }

  // SIGTERM, then SIGKILL after 10 s; returns what the agent printed.
  std::string stop() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 500; ++i) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          exited_ = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        exited_ = true;
      }
    }
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    done_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    return output();
  }

  void signal(int sig) const {
    if (!exited_) ::kill(pid_, sig);
  }
  // True once the agent has exited (then it is reaped here, and never signalled again); waits
  // up to `timeout` for that.
  bool wait_exit(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exited_;
  }
  // The console's base URL the agent printed ("http://127.0.0.1:41234/"), or "".
  std::string console_url() const {
    const std::string text = output();
    const std::string marker = "console at ";
    const std::size_t at = text.find(marker);
    if (at == std::string::npos) return "";
    const std::size_t end = text.find(' ', at + marker.size());
    return text.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size());
  }
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  std::string output() const { return read_text(out_path_); }

  // Asks for status.json (SIGUSR1) and returns it.
  nlohmann::json status() const {
    const std::string path = state_dir_ + "/status.json";
    ::unlink(path.c_str());
    ::kill(pid_, SIGUSR1);
    for (int i = 0; i < 250; ++i) {
      auto text = read_text(path);
      if (!text.empty()) {
        auto parsed = nlohmann::json::parse(text, nullptr, false);
        if (!parsed.is_discarded()) return parsed;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return {};
  }

  std::vector<nlohmann::json> audit() const {
    std::vector<nlohmann::json> records;
    std::ifstream in(state_dir_ + "/audit.jsonl");
    for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line, nullptr, false));
    return records;
  }

 private:
  std::string state_dir_, out_path_;
  pid_t pid_ = -1;
  bool ready_ = false, exited_ = false;
  std::thread watchdog_;
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
};

}  // namespace vigil::test
