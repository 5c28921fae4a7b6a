// The one place that knows which class serves which `type:` of output.
#include <type_traits>

#include "outputs/file_sink.h"
#include "outputs/outputs.h"
#include "outputs/stdout_sink.h"
#include "outputs/syslog_sink.h"
#include "outputs/webhook_sink.h"

namespace vigil::outputs {

Result<std::unique_ptr<AlertSink>> make_sink(const OutputConfig& config) {
  return std::visit(
      [](const auto& options) -> Result<std::unique_ptr<AlertSink>> {
        using T = std::decay_t<decltype(options)>;
        if constexpr (std::is_same_v<T, StdoutOutput>) {
          return std::make_unique<StdoutSink>(options.format);
        } else if constexpr (std::is_same_v<T, FileOutput>) {
          auto sink = FileSink::open(options);
          if (!sink) return std::unexpected(sink.error());
          return std::unique_ptr<AlertSink>(std::move(*sink));
        } else if constexpr (std::is_same_v<T, SyslogOutput>) {
          return std::make_unique<SyslogSink>(options);
        } else {
          auto sink = WebhookSink::create(options);
          if (!sink) return std::unexpected(sink.error());
          return std::unique_ptr<AlertSink>(std::move(*sink));
        }
      },
      config.sink);
}

}  // namespace vigil::outputs
