// libbpf diagnostics into vigil::Error messages (see libbpf_support.h).
#include "probe/libbpf_support.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <utility>

namespace vigil::probe::detail {
namespace {

thread_local std::string* captured_log = nullptr;
constexpr std::size_t kMaxLog = 4096;  // keep the tail: the verifier's verdict is at the end

int print_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof(line), format, args);
  if (n < 0) return 0;
  std::size_t len = std::min(static_cast<std::size_t>(n), sizeof(line) - 1);
  if (captured_log == nullptr) {
    std::fprintf(stderr, "libbpf: %.*s", static_cast<int>(len), line);
    return 0;
  }
  captured_log->append(line, len);
  if (captured_log->size() > kMaxLog) captured_log->erase(0, captured_log->size() - kMaxLog);
  return 0;
}

}  // namespace

LibbpfLog::LibbpfLog() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(print_libbpf); });
  previous_ = std::exchange(captured_log, &text_);
}

LibbpfLog::~LibbpfLog() { captured_log = previous_; }

std::unexpected<Error> LibbpfLog::fail(const std::string& what, int err) const {
  err = err < 0 ? -err : err;
  char reason[256];
  libbpf_strerror(err, reason, sizeof(reason));
  std::string message = what + ": " + reason;
  // libbpf's lines start with "libbpf: "; keep the message on one line.
  std::string log;
  for (char c : text_) log += c == '\n' ? std::string("; ") : std::string(1, c);
  while (!log.empty() && (log.back() == ' ' || log.back() == ';')) log.pop_back();
  if (!log.empty()) message += " (" + log + ")";
  return vigil::fail(std::move(message), err);
}

int on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* poll = static_cast<PollContext*>(ctx);
  poll->fn(poll->ctx, std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data), size));
  return 0;
}

}  // namespace vigil::probe::detail
