// `vigil status`: asks a running agent how it is doing over its status socket
// (<state_dir>/agent.sock, agent/status_server.h). Exit 0 healthy, 1 degraded, 2 not running,
// 3 could not ask (permission, a garbled answer).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/status_server.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/unique_fd.h"

namespace vigil::cli {
namespace {

constexpr int kExitDegraded = 1;
constexpr int kExitNotRunning = 2;
constexpr int kExitCannotAsk = 3;
constexpr const char* kDefaultConfig = "/etc/vigil/agent.yaml";

struct StatusArgs {
  std::string socket;
  std::string state_dir;
  std::string config;
  bool json = false;
  int timeout_ms = 5000;
};

// --socket, else <state_dir>/agent.sock with the state directory from --state-dir, --config,
// the installed config, or the default /var/lib/vigil, in that order.
std::string socket_path(const StatusArgs& args) {
  if (!args.socket.empty()) return args.socket;
  if (!args.state_dir.empty()) return agent::status_socket_path(args.state_dir);
  std::string config = args.config;
  if (config.empty() && ::access(kDefaultConfig, R_OK) == 0) config = kDefaultConfig;
  if (!config.empty()) {
    auto loaded = agent::load_config(config);
    if (!loaded) throw UsageError(loaded.error().message);
    return agent::status_socket_path(loaded->state_dir);
  }
  return agent::status_socket_path(agent::AgentConfig{}.state_dir);
}

struct Answer {
  int exit_code = kExitOk;
  std::string problem;  // when the agent could not be asked
  nlohmann::json document;
};

Answer ask(const std::string& path, int timeout_ms) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return {kExitCannotAsk, path + ": too long for a socket path", {}};
  std::memcpy(address.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {kExitCannotAsk, std::string("socket: ") + std::strerror(errno), {}};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    if (error == ENOENT || error == ECONNREFUSED) {
      return {kExitNotRunning, "not running (nothing answers on " + path + ")", {}};
    }
    if (error == EACCES || error == EPERM) {
      return {kExitCannotAsk, path + ": permission denied (the agent answers root and its own user)", {}};
    }
    return {kExitCannotAsk, path + ": " + std::strerror(error), {}};
  }
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {kExitCannotAsk, "no answer from " + path + " within " + std::to_string(timeout_ms) + " ms", {}};
    pollfd ready{fd.get(), POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    char buffer[65536];
    const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return {kExitCannotAsk, path + ": " + std::strerror(errno), {}};
    }
    text.append(buffer, static_cast<size_t>(got));
    if (text.size() > (size_t{16} << 20)) return {kExitCannotAsk, path + ": answer too large", {}};
  }
  auto document = nlohmann::json::parse(text, nullptr, false);
  if (!document.is_object()) return {kExitCannotAsk, path + ": the answer is not a JSON object", {}};
  if (document.contains("error")) return {kExitCannotAsk, path + ": " + document.value("error", ""), {}};
  const std::string status = document.value("status", "");
  if (status != "healthy" && status != "degraded") return {kExitCannotAsk, path + ": unknown status '" + status + "'", {}};
  return {status == "healthy" ? kExitOk : kExitDegraded, "", std::move(document)};
}

std::string duration_text(std::int64_t seconds) {
  char text[64];
  if (seconds >= 86400) {
    std::snprintf(text, sizeof text, "%lldd %02lldh %02lldm", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds / 3600 % 24), static_cast<long long>(seconds / 60 % 60));
  } else if (seconds >= 3600) {
    std::snprintf(text, sizeof text, "%lldh %02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60));
  } else {
    std::snprintf(text, sizeof text, "%lldm %02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  }
  return text;
}

std::uint64_t count(const nlohmann::json& object, const char* key) {
  return object.contains(key) && object[key].is_number_unsigned() ? object[key].get<std::uint64_t>() : 0;
}

// Non-const: a field an older or newer agent does not send reads as null, not as undefined behaviour.
void print_text(nlohmann::json d) {
  const auto& pillars = d["pillars"];
  auto on = [&](const char* name) { return pillars.value(name, false) ? "on" : "off"; };
  std::string watch;
  for (const auto& mount : d["watch"]) watch += (watch.empty() ? "" : " ") + mount.get<std::string>();
  std::printf("vigil agent: %s (pid %lld, up %s, version %s)\n", d.value("status", "").c_str(),
              static_cast<long long>(d.value("pid", 0LL)), duration_text(d.value("uptime_s", 0LL)).c_str(),
              d.value("version", "").c_str());
  std::printf("  mode          %s (config %s, state in %s)\n", d.value("mode", "").c_str(), d.value("config", "").c_str(),
              d.value("state_dir", "").c_str());
  std::printf("  integrity     %s%s%s\n", on("integrity"), watch.empty() ? "" : ", watching ", watch.c_str());
  std::printf("  runtime       %s, %llu events (%.1f/s), %llu dropped\n", on("runtime"),
              static_cast<unsigned long long>(count(d, "events")), d.value("events_per_second", 0.0),
              static_cast<unsigned long long>(count(d, "drops")));
  std::printf("  rules         %s, %llu loaded (%llu enabled), %llu alerts\n", on("rules"),
              static_cast<unsigned long long>(count(d, "rules_loaded")),
              static_cast<unsigned long long>(count(d, "rules_enabled")),
              static_cast<unsigned long long>(count(d, "alerts")));
  const std::string url = d.value("console_url", "");
  std::printf("  console       %s%s%s\n", on("console"), url.empty() ? "" : ", ", url.c_str());
  const auto& decisions = d["decisions"];
  std::printf("  decisions     %llu (%llu allowed, %llu denied, %llu past the deadline)\n",
              static_cast<unsigned long long>(count(decisions, "total")),
              static_cast<unsigned long long>(count(decisions, "allowed")),
              static_cast<unsigned long long>(count(decisions, "denied")),
              static_cast<unsigned long long>(count(decisions, "timeouts")));
  std::printf("  measurements  %llu in the list, %llu failures\n", static_cast<unsigned long long>(count(d, "measurements")),
              static_cast<unsigned long long>(count(d, "measurement_failures")));
  if (!d["problems"].empty()) {
    std::printf("problems:\n");
    for (const auto& problem : d["problems"]) std::printf("  - %s\n", problem.get<std::string>().c_str());
  }
  if (!d["last_errors"].empty()) {
    std::printf("last errors:\n");
    for (const auto& error : d["last_errors"]) {
      const auto times = count(error, "count");
      std::printf("  %s  %s%s\n", error.value("time", "").c_str(), error.value("message", "").c_str(),
                  times > 1 ? (" (x" + std::to_string(times) + ")").c_str() : "");
    }
  }
}

}  // namespace

void add_status_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* status = app.add_subcommand("status", "Ask the running agent how it is doing: exit 0 healthy, 1 degraded, "
                                                  "2 not running");
  status->add_option("--state-dir", args->state_dir, "The agent's state directory (its socket is agent.sock there)");
  status->add_option("--config,-c", args->config, "Take the state directory from this agent config")
      ->excludes("--state-dir");
  status->add_option("--socket", args->socket, "The status socket itself")->excludes("--state-dir")->excludes("--config");
  status->add_flag("--json", args->json, "The agent's answer as one JSON document");
  status->add_option("--timeout-ms", args->timeout_ms, "How long to wait for the answer")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  status->footer(
      "Without options the state directory comes from /etc/vigil/agent.yaml, else /var/lib/vigil. Degraded means "
      "the agent runs but something is wrong: events dropped or decisions past their deadline in the last minute, "
      "files it could not measure, alerts it could not deliver, a failed reload, a stopped pipeline; the reasons "
      "are listed. Exit 3: the agent could not be asked (permission, a garbled answer).");
  status->callback([args, &exit_code] {
    const std::string path = socket_path(*args);
    Answer answer = ask(path, args->timeout_ms);
    if (!answer.problem.empty()) {
      if (args->json) {
        print_json({{"status", answer.exit_code == kExitNotRunning ? "not-running" : "unknown"},
                    {"socket", path},
                    {"error", answer.problem}});
      } else {
        std::printf("vigil agent: %s\n", answer.problem.c_str());
      }
    } else if (args->json) {
      print_json(answer.document);
    } else {
      print_text(answer.document);
    }
    exit_code = answer.exit_code;
  });
}

}  // namespace vigil::cli
