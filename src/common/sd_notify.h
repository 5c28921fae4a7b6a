#pragma once
// The service manager's readiness protocol (sd_notify(3)), spoken directly: one datagram of
// newline-separated KEY=VALUE assignments to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or "@name" for the abstract namespace). No libsystemd needed. Under no service
// manager (NOTIFY_SOCKET unset) every call is a no-op that returns false.
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::sd {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET. true: sent;
// false: not running under a service manager. Fails when the socket is named but unusable.
Result<bool> notify(std::string_view state);
// The same to an explicit socket address (NOTIFY_SOCKET syntax).
Result<bool> notify_to(const std::string& socket_address, std::string_view state);
// "RELOADING=1\nMONOTONIC_USEC=<now>": what a reload starts with (systemd >= 253 needs the
// timestamp for Type=notify-reload; older managers ignore it).
std::string reloading_state();

}  // namespace vigil::sd
