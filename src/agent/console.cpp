#include "agent/console.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "agent/runtime_monitor.h"
#include "common/time_text.h"
#include "store/store.h"
#include "web/access.h"
#include "web/api.h"
#include "web/http/server.h"

namespace vigil::agent {

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

// The running agent as the console API asks for it.
class AgentBackend final : public web::ConsoleBackend {
 public:
  explicit AgentBackend(ConsoleSources sources)
      : sources_(std::move(sources)), started_ns_(wall_clock_ns()), hostname_(host_name()) {}

  nlohmann::json health() const override {
    nlohmann::json runtime = {{"enabled", sources_.runtime != nullptr}};
    if (sources_.runtime) {
      const nlohmann::json status = sources_.runtime->status();
      if (status.contains("error")) runtime["error"] = status["error"];
      runtime["rules"] = status.contains("rules");
    }
    return {{"status", "ok"},
            {"version", VIGIL_VERSION},
            {"hostname", hostname_},
            {"started", rfc3339_ns(started_ns_)},
            {"uptime_s", (wall_clock_ns() - started_ns_) / 1'000'000'000},
            {"integrity", {{"enabled", true}, {"mode", sources_.mode}, {"watch", sources_.watch}}},
            {"runtime", runtime}};
  }
  std::optional<nlohmann::json> processes(const std::optional<std::string>& container_id) const override {
    if (!sources_.runtime) return std::nullopt;
    return sources_.runtime->processes_json(container_id);
  }
  std::optional<nlohmann::json> running_containers() const override {
    if (!sources_.runtime) return std::nullopt;
    return sources_.runtime->running_containers_json();
  }
  nlohmann::json process_tree(std::int64_t pid) const override {
    if (!sources_.runtime || pid <= 0 || pid > 0x7fffffff) return nlohmann::json::array();
    return sources_.runtime->process_tree_json(static_cast<std::uint32_t>(pid));
  }
  nlohmann::json integrity() const override { return sources_.integrity(); }
  nlohmann::json rules() const override {
    if (sources_.runtime) {
      if (auto rules = sources_.runtime->rules_json()) return *rules;
    }
    return {{"enabled", false}, {"sources", nlohmann::json::array()}, {"loaded", nlohmann::json::array()},
            {"skipped", nlohmann::json::array()}, {"warnings", nlohmann::json::array()}};
  }
  nlohmann::json policy() const override { return sources_.policy(); }
  nlohmann::json status() const override { return sources_.status(); }

 private:
  ConsoleSources sources_;
  std::int64_t started_ns_;
  std::string hostname_;
};

}  // namespace

struct Console::Parts {
  ConsoleConfig config;
  std::string token;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ConsoleFeed> feed;
  std::unique_ptr<AgentBackend> backend;
  std::unique_ptr<web::Api> api;
  std::unique_ptr<web::ConsoleServer> server;
};

Console::Console(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Console::~Console() { stop(); }
ConsoleFeed& Console::feed() { return *parts_->feed; }

Result<std::unique_ptr<Console>> Console::open(const ConsoleConfig& config) {
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  std::string note;
  auto token = web::load_or_create_token(config.token_file, &note);
  if (!token) return std::unexpected(token.error());
  if (!note.empty()) std::fprintf(stderr, "vigil agent: %s\n", note.c_str());
  parts->token = std::move(*token);
  // SQLite gives the WAL and shared-memory files the database file's mode: alerts and command
  // lines are for root's eyes, so the file starts out 0600.
  if (int fd = ::open(config.store_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600); fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
  store::StoreConfig store_config;
  store_config.path = config.store_path;
  store_config.max_age = std::chrono::hours(config.max_age_hours);
  store_config.max_size_bytes = config.max_size_bytes;
  auto store = store::open_sqlite_store(store_config);
  if (!store) return fail("console store: " + store.error().message);
  parts->store = std::move(*store);
  parts->feed = std::make_unique<ConsoleFeed>(*parts->store);
  return std::unique_ptr<Console>(new Console(std::move(parts)));
}

Result<void> Console::serve(ConsoleSources sources, web::StaticFiles files) {
  parts_->backend = std::make_unique<AgentBackend>(std::move(sources));
  parts_->api = std::make_unique<web::Api>(*parts_->store, *parts_->backend);
  web::ServerOptions options;
  options.address = parts_->config.address;
  options.port = parts_->config.port;
  options.tls_cert = parts_->config.tls_cert;
  options.tls_key = parts_->config.tls_key;
  options.token = parts_->token;
  options.token_for_loopback = parts_->config.token_for_loopback;
  options.allowed_hosts = parts_->config.allowed_hosts;
  options.max_connections = parts_->config.max_connections;
  options.max_connections_per_peer = parts_->config.max_connections_per_peer;
  options.files = std::move(files);
  auto server = web::ConsoleServer::start(std::move(options), *parts_->api, *parts_->backend);
  if (!server) return std::unexpected(server.error());
  parts_->server = std::move(*server);
  return {};
}

std::string Console::url() const { return parts_->server ? parts_->server->url() : ""; }

nlohmann::json Console::status() const {
  nlohmann::json status = parts_->server ? parts_->server->status() : nlohmann::json::object();
  status["url"] = url();
  if (!parts_->server && parts_->api) status["store"] = parts_->api->store_status();
  return status;
}

void Console::stop_serving() {
  if (parts_ && parts_->server) parts_->server->stop();
}

void Console::flush() {
  if (parts_ && parts_->store) (void)parts_->store->flush(std::chrono::seconds(2));
}

void Console::stop() {
  stop_serving();
  flush();
}

int console_descriptor_budget(const ConsoleConfig& config) {
  if (!config.enabled) return 0;
  web::ServerOptions options;
  options.max_connections = config.max_connections;
  // The server's own, plus the store's database, WAL and shared-memory files for its writer and
  // the server's read-only connections.
  return web::console_descriptor_budget(options) + 16;
}

}  // namespace vigil::agent
