// Connections to a TPM 2.0 through the TCTI loader, one per operation (esys_connection.h).
#include "tpm/esys_connection.h"

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>

#include "common/unique_fd.h"

namespace vigil::tpm {

namespace {

constexpr int kProbeTimeoutMs = 3000;

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// ---- A bounded first contact with a TCP TPM ------------------------------------------------
// The swtpm TCTI blocks forever on a peer that accepts but never answers. Before handing the
// spec to it, vigil sends one TPM2_GetCapability itself, with a deadline, and checks that a
// TPM 2.0 response comes back.

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

Result<void> probe_tcp_tpm(const std::string& spec, const std::string& host, const std::string& port) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(kProbeTimeoutMs);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail("TPM " + spec + ": cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  std::string last_error = "no address";
  for (const addrinfo* address = addresses.get(); address != nullptr; address = address->ai_next) {
    UniqueFd sock(::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol));
    if (sock.get() < 0) {
      last_error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (::connect(sock.get(), address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = "connect to " + host + ":" + port + ": " + std::strerror(errno);
        continue;
      }
      if (!wait_for(sock.get(), POLLOUT, deadline)) {
        last_error = "connect to " + host + ":" + port + ": timed out";
        continue;
      }
      int so_error = 0;
      socklen_t length = sizeof so_error;
      ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &so_error, &length);
      if (so_error != 0) {
        last_error = "connect to " + host + ":" + port + ": " + std::strerror(so_error);
        continue;
      }
    }
    // TPM2_GetCapability(TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1), no sessions.
    static constexpr uint8_t kCommand[] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x01, 0x7a, 0x00,
                                           0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01};
    if (::send(sock.get(), kCommand, sizeof kCommand, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kCommand)) {
      last_error = "send to " + host + ":" + port + ": " + std::strerror(errno);
      continue;
    }
    std::array<uint8_t, 4096> response{};
    size_t have = 0;
    size_t want = 10;  // the header first, then the size it announces
    while (have < want) {
      if (!wait_for(sock.get(), POLLIN, deadline)) {
        return fail("TPM " + spec + ": no TPM response from " + host + ":" + port + " within " +
                    std::to_string(kProbeTimeoutMs / 1000) + " s");
      }
      const ssize_t got = ::recv(sock.get(), response.data() + have, want - have, 0);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        return fail("TPM " + spec + ": " + host + ":" + port + " closed the connection without a TPM response");
      }
      have += static_cast<size_t>(got);
      if (have == 10) {
        const uint16_t tag = static_cast<uint16_t>(response[0] << 8 | response[1]);
        const uint32_t size = static_cast<uint32_t>(response[2]) << 24 | static_cast<uint32_t>(response[3]) << 16 |
                              static_cast<uint32_t>(response[4]) << 8 | response[5];
        if ((tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS) || size < 10 || size > response.size()) {
          return fail("TPM " + spec + ": " + host + ":" + port + " does not answer like a TPM 2.0");
        }
        want = size;
      }
    }
    return {};
  }
  return fail("TPM " + spec + ": " + last_error);
}

// "swtpm:host=H,port=P": probe H:P first. Other TCTIs (device, mssim, tabrmd) go straight in.
Result<void> probe_if_tcp(const std::string& spec, std::string_view name, std::string_view conf) {
  if (name != "swtpm") return {};
  std::string host = "localhost";
  std::string port = "2321";
  while (!conf.empty()) {
    const size_t comma = conf.find(',');
    const std::string_view item = conf.substr(0, comma);
    conf = comma == std::string_view::npos ? std::string_view{} : conf.substr(comma + 1);
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) return fail("TPM " + spec + ": expected key=value, got '" + std::string(item) + "'");
    const std::string_view key = item.substr(0, equals);
    const std::string_view value = item.substr(equals + 1);
    if (key == "host") {
      host = value;
    } else if (key == "port") {
      unsigned number = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (value.empty() || error != std::errc() || end != value.data() + value.size() || number == 0 || number > 65535) {
        return fail("TPM " + spec + ": bad port '" + std::string(value) + "'");
      }
      port = value;
    } else {
      return {};  // an option vigil does not know (e.g. path=): let the TCTI judge it
    }
  }
  return probe_tcp_tpm(spec, host, port);
}

// Every vigil connection to any TPM, in turn (see the header).
std::mutex& connection_turn() {
  static std::mutex turn;
  return turn;
}

}  // namespace

std::unexpected<Error> tss_fail(const std::string& spec, const std::string& what, TSS2_RC rc) {
  const char* decoded = Tss2_RC_Decode(rc);
  return fail("TPM " + spec + ": " + what + ": " + (decoded ? decoded : "unknown error") + " (" + hex32(rc) + ")");
}

bool is_tpm_response_code(TSS2_RC rc) { return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER; }

Result<void> check_tcti_spec(const std::string& spec) {
  const std::string name = spec.substr(0, spec.find(':'));
  if (name != "device" && name != "swtpm" && name != "mssim" && name != "tabrmd") {
    return fail("TPM '" + spec + "': unknown TCTI '" + name +
                "' (expected none, device:PATH, swtpm:host=H,port=P, mssim:..., tabrmd:...)");
  }
  return {};
}

Result<EsysConnection> EsysConnection::open(const std::string& spec) {
  if (auto known = check_tcti_spec(spec); !known) return std::unexpected(known.error());
  EsysConnection connection;
  connection.turn_ = std::unique_lock(connection_turn());
  connection.spec_ = spec;
  const size_t colon = spec.find(':');
  const std::string_view name = std::string_view(spec).substr(0, colon);
  const std::string_view conf = colon == std::string::npos ? std::string_view{} : std::string_view(spec).substr(colon + 1);
  if (auto probed = probe_if_tcp(spec, name, conf); !probed) return std::unexpected(probed.error());
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  if (const TSS2_RC rc = Tss2_TctiLdr_Initialize(spec.c_str(), &tcti); rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, "Tss2_TctiLdr_Initialize", rc);
  }
  connection.tcti_.reset(tcti);
  ESYS_CONTEXT* esys = nullptr;
  if (const TSS2_RC rc = Esys_Initialize(&esys, tcti, nullptr); rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, "Esys_Initialize", rc);
  }
  connection.esys_.reset(esys);
  // A TPM that was started already (firmware, kernel, swtpm startup-clear) says INITIALIZE.
  if (const TSS2_RC rc = Esys_Startup(esys, TPM2_SU_CLEAR); rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
    return tss_fail(spec, "Esys_Startup", rc);
  }
  return connection;
}

}  // namespace vigil::tpm
