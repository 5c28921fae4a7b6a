// The record a verified image leaves in the agent's measurement list, the request the hook sends
// for it, and the hook's side of the agent's image socket (docs/image.md, "Measurement").
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "image/image.h"

namespace vigil::image {

Result<ImageMeasurement> parse_image_measurement(std::string_view line) {
  const auto json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return fail("not a JSON object");
  if (!json.contains("container") || !json["container"].is_string()) return fail("no \"container\" string");
  if (!json.contains("manifest_digest") || !json["manifest_digest"].is_string()) {
    return fail("no \"manifest_digest\" string");
  }
  ImageMeasurement measurement;
  measurement.container = json["container"].get<std::string>();
  if (measurement.container.empty() || measurement.container.size() > 256) return fail("container id: 1 to 256 bytes");
  for (const char c : measurement.container) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return fail("container id: no spaces or control characters");
  }
  const std::string digest = json["manifest_digest"].get<std::string>();
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix) || digest.size() != kPrefix.size() + 64) {
    return fail("manifest_digest: expected sha256: and 64 hex digits");
  }
  measurement.manifest.algo = crypto::HashAlgo::sha256;
  measurement.manifest.size = 32;
  for (size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = digest[kPrefix.size() + 2 * i + k];
      int nibble = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (nibble < 0) return fail("manifest_digest: expected lower-case hex digits");
      value = value * 16 + static_cast<unsigned>(nibble);
    }
    measurement.manifest.bytes[i] = static_cast<uint8_t>(value);
  }
  return measurement;
}

std::string image_measurement_request(const ImageMeasurement& measurement) {
  return nlohmann::json{{"container", measurement.container}, {"manifest_digest", "sha256:" + measurement.manifest.hex()}}
             .dump() +
         "\n";
}

ima::MeasurementEntry image_measurement_entry(const ImageMeasurement& measurement, std::uint32_t pcr) {
  ima::MeasurementEntry entry;
  entry.pcr = pcr;
  entry.template_name = ima::TemplateName::ima_ng;
  entry.file_digest = measurement.manifest;
  entry.path = std::string(kImageMeasurementPrefix) + measurement.container;
  ima::compute_template_hashes(entry);
  return entry;
}

Result<void> send_image_measurement(const std::string& socket_path, const ImageMeasurement& measurement,
                                    int timeout_seconds) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) return fail(socket_path + ": path too long");
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail_errno("socket");
  const timeval timeout{timeout_seconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno("the agent does not answer on " + socket_path);
  }
  const std::string request = image_measurement_request(measurement);
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return fail_errno("sending to the agent");
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail_errno("waiting for the agent");
    if (got == 0) break;
    reply.append(buffer, static_cast<size_t>(got));
    if (reply.size() > 65536) return fail("the agent's answer is too long");
  }
  const auto json = nlohmann::json::parse(reply, nullptr, false);
  if (json.is_object() && json.contains("recorded") && json["recorded"] == true) return {};
  if (json.is_object() && json.contains("error") && json["error"].is_string()) {
    return fail("the agent did not record it: " + json["error"].get<std::string>());
  }
  return fail("the agent gave no answer");
}

}  // namespace vigil::image
