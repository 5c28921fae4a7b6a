#include "outputs/webhook_sink.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

namespace vigil::outputs {
namespace {

constexpr unsigned kMaxBackoffMs = 30'000;

// cpp-httplib's error names are terse ("Read"); the counters should say what went wrong.
std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection: return "cannot connect";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    case httplib::Error::Read: return "no answer (read timed out or connection closed)";
    case httplib::Error::Write: return "sending the request failed";
    case httplib::Error::Canceled: return "canceled";
    default: return httplib::to_string(error);
  }
}

}  // namespace

Result<WebhookTarget> parse_webhook_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return fail("url '" + url + "' has no scheme (want http:// or https://)");
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return fail("url '" + url + "': scheme must be http or https");
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (scheme == "https") return fail("url '" + url + "': this build of cpp-httplib has no TLS support");
#endif
  const size_t authority_start = scheme_end + 3;
  const size_t path_start = url.find_first_of("/?#", authority_start);
  const std::string authority = url.substr(authority_start, path_start - authority_start);
  if (authority.empty()) return fail("url '" + url + "' has no host");
  if (authority.find('@') != std::string::npos) {
    return fail("url '" + url + "': credentials in the URL are not supported; use an Authorization header");
  }
  // The port, if any, is what follows the last ':' outside an IPv6 literal's brackets.
  const size_t colon = authority.rfind(':');
  const size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(port) == 0 || std::stoul(port) > 65535) {
      return fail("url '" + url + "': port must be a number from 1 to 65535");
    }
    if (colon == 0) return fail("url '" + url + "' has no host");
  }
  std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (const size_t hash = path.find('#'); hash != std::string::npos) path.erase(hash);  // fragments stay client-side
  if (path.empty() || path[0] != '/') path.insert(0, "/");
  return WebhookTarget{scheme + "://" + authority, path};
}

Result<std::unique_ptr<WebhookSink>> WebhookSink::create(const WebhookOutput& config) {
  auto target = parse_webhook_url(config.url);
  if (!target) return std::unexpected(target.error());
  try {
    std::unique_ptr<WebhookSink> sink(new WebhookSink(config, *target));
    if (!sink->client_->is_valid()) return fail("url '" + config.url + "': cpp-httplib cannot use it");
    return sink;
  } catch (const std::exception& e) {
    return fail("webhook " + config.url + ": " + e.what());
  }
}

WebhookSink::WebhookSink(const WebhookOutput& config, WebhookTarget target)
    : config_(config), target_(std::move(target)), client_(std::make_unique<httplib::Client>(target_.origin)) {
  const auto timeout = std::chrono::milliseconds(std::max(config_.timeout_ms, 1u));
  client_->set_connection_timeout(timeout);
  client_->set_read_timeout(timeout);
  client_->set_write_timeout(timeout);
  client_->set_keep_alive(true);  // one connection for a burst of alerts
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  client_->enable_server_certificate_verification(config_.tls_verify);
  if (!config_.ca_file.empty()) client_->set_ca_cert_path(config_.ca_file);
#endif
}

WebhookSink::~WebhookSink() = default;

void WebhookSink::interrupt() {
  {
    std::lock_guard lock(wait_mutex_);
    interrupted_ = true;
  }
  wake_.notify_all();
  // Shuts the socket of a request in flight (cpp-httplib allows this from another thread).
  client_->stop();
}

bool WebhookSink::back_off(unsigned retry) {
  uint64_t delay = config_.retry_backoff_ms;
  for (unsigned i = 0; i < retry && delay < kMaxBackoffMs; ++i) delay *= 2;
  delay = std::min<uint64_t>(delay, kMaxBackoffMs);
  std::unique_lock lock(wait_mutex_);
  return !wake_.wait_for(lock, std::chrono::milliseconds(delay), [this] { return interrupted_.load(); });
}

Result<void> WebhookSink::deliver(const Alert& alert) {
  std::string body = alert_json_line(alert);
  body.pop_back();  // the '\n'
  httplib::Headers headers;
  for (const auto& [key, value] : config_.headers) headers.emplace(key, value);

  std::string last_error;
  for (unsigned attempt = 0; attempt <= config_.retries; ++attempt) {
    if (interrupted_) return fail("webhook " + config_.url + ": interrupted at shutdown");
    if (attempt > 0 && !back_off(attempt - 1)) return fail("webhook " + config_.url + ": interrupted at shutdown");
    httplib::Result result = client_->Post(target_.path, headers, body, "application/json");
    if (!result) {
      last_error = describe(result.error());
      continue;  // connection refused, timeout, reset: worth another try
    }
    const int status = result->status;
    if (status >= 200 && status < 300) return {};
    last_error = "HTTP " + std::to_string(status);
    if (status < 500 && status != 429) break;
  }
  return fail("webhook " + config_.url + ": " + last_error);
}

}  // namespace vigil::outputs
