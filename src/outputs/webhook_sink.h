#pragma once
// Alerts POSTed as JSON to an HTTP(S) endpoint with cpp-httplib. Retries connection errors,
// 5xx and 429 answers with exponential backoff; other answers fail at once (resending what
// the server rejected would only be rejected again).
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "outputs/config.h"
#include "outputs/sink.h"

namespace httplib {
class Client;
}

namespace vigil::outputs {

// "http://host:port/path?q" -> {"http://host:port", "/path?q"}; an error for anything else.
struct WebhookTarget {
  std::string origin;  // scheme://host[:port], what httplib::Client takes
  std::string path;    // at least "/"
};
Result<WebhookTarget> parse_webhook_url(const std::string& url);

class WebhookSink final : public AlertSink {
 public:
  static Result<std::unique_ptr<WebhookSink>> create(const WebhookOutput& config);
  ~WebhookSink() override;
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  std::string name() const override { return "webhook:" + config_.url; }
  Result<void> deliver(const Alert& alert) override;
  void interrupt() override;

 private:
  WebhookSink(const WebhookOutput& config, WebhookTarget target);
  // Sleeps before a retry; false when interrupted.
  bool back_off(unsigned retry);

  WebhookOutput config_;
  WebhookTarget target_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<bool> interrupted_{false};
  std::mutex wait_mutex_;
  std::condition_variable wake_;
};

}  // namespace vigil::outputs
