#include "outputs/syslog_sink.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "outputs/one_line.h"

namespace vigil::outputs {
namespace {

// RFC 5424 header fields are PRINTUSASCII (33..126) with a maximum length, "-" when empty.
std::string header_field(std::string_view text, size_t max_length) {
  std::string out;
  for (const char c : text) {
    if (out.size() == max_length) break;
    const auto byte = static_cast<unsigned char>(c);
    out += (byte >= 33 && byte <= 126) ? c : '_';
  }
  return out.empty() ? "-" : out;
}

std::string message_body(const SyslogOutput& config, const Alert& alert) {
  if (config.format == LineFormat::json) {
    std::string line = alert_json_line(alert);
    line.pop_back();  // the '\n'
    return line;
  }
  std::string body(priority_name(alert.priority));
  body += ' ';
  append_one_line(body, alert.output);
  return body;
}

std::string rfc5424_time(int64_t time_ns) {
  // TIME-SECFRAC allows at most 6 digits: microseconds.
  std::string full = rfc3339_ns(time_ns);  // ...SS.nnnnnnnnnZ
  return full.substr(0, full.size() - 4) + "Z";
}

std::string rfc3164_time(int64_t time_ns) {
  const time_t t = static_cast<time_t>(time_ns / 1'000'000'000);
  struct tm local{};
  if (localtime_r(&t, &local) == nullptr) return "Jan  1 00:00:00";
  char text[32];
  // "Mmm dd hh:mm:ss" with the day padded by a space, always in the C locale's month names.
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::snprintf(text, sizeof text, "%s %2d %02d:%02d:%02d", kMonths[local.tm_mon % 12], local.tm_mday % 100,
                local.tm_hour % 100, local.tm_min % 100, local.tm_sec % 100);
  return text;
}

}  // namespace

std::string syslog_message(const SyslogOutput& config, const Alert& alert, int pid) {
  const int severity = static_cast<int>(alert.priority) & 7;
  std::string out = "<" + std::to_string(config.facility * 8 + severity) + ">";
  if (config.protocol == SyslogProtocol::rfc5424) {
    out += "1 ";
    out += rfc5424_time(alert.time_ns) + " ";
    out += header_field(alert.hostname, 255) + " ";
    out += header_field(config.app_name, 48) + " ";
    out += std::to_string(pid) + " ";
    out += "- - ";  // MSGID, STRUCTURED-DATA
  } else {
    out += rfc3164_time(alert.time_ns) + " ";
    out += header_field(config.app_name, 32) + "[" + std::to_string(pid) + "]: ";
  }
  out += message_body(config, alert);
  return out;
}

SyslogSink::SyslogSink(const SyslogOutput& config) : config_(config) {}

SyslogSink::~SyslogSink() { close_socket(); }

void SyslogSink::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> SyslogSink::connect_socket() {
  close_socket();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (config_.socket_path.size() >= sizeof address.sun_path) return fail(config_.socket_path + ": socket path too long");
  std::memcpy(address.sun_path, config_.socket_path.data(), config_.socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket for " + config_.socket_path);
  // A syslog daemon that stops reading must not hold this worker forever: give up after 1 s.
  const timeval timeout{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    auto error = fail_errno("connect " + config_.socket_path);
    ::close(fd);
    return error;
  }
  fd_ = fd;
  return {};
}

Result<void> SyslogSink::deliver(const Alert& alert) {
  const std::string message = syslog_message(config_, alert, static_cast<int>(::getpid()));
  // The daemon may have restarted (new socket at the same path) since the last alert:
  // one reconnect and resend before calling it a failure.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0) {
      auto connected = connect_socket();
      if (!connected) return connected;
    }
    ssize_t sent;
    do {
      sent = ::send(fd_, message.data(), message.size(), MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent == static_cast<ssize_t>(message.size())) return {};
    if (sent >= 0) return fail("send " + config_.socket_path + ": message truncated");
    const int error = errno;
    if (attempt == 0 && (error == ECONNREFUSED || error == ENOTCONN || error == ENOENT || error == EPIPE)) {
      close_socket();
      continue;
    }
    errno = error;
    return fail_errno("send " + config_.socket_path);
  }
  return fail("send " + config_.socket_path + ": not connected");
}

}  // namespace vigil::outputs
