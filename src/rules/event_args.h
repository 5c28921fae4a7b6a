#pragma once
// Falco's argument names per event type (evt.arg.NAME, evt.arg[N], evt.args) over vigil's
// records, and the renderers that turn raw numbers into Falco's text (O_RDONLY|O_CLOEXEC,
// ENOENT, CAP_SYS_ADMIN, AF_PACKET, PTRACE_ATTACH...). vigil records a syscall once, at exit,
// with its entry arguments, so one list per type holds what Falco splits over two events.
#include <cstdint>
#include <string>
#include <string_view>

#include "events/event.h"

namespace vigil::rules {

// Position of the named argument in the type's list; -1 when the type has no such argument.
int event_arg_index(events::EventType type, std::string_view name) noexcept;
// Name of argument `index` of the type; "" past the end.
std::string_view event_arg_name(events::EventType type, int index) noexcept;
int event_arg_count(events::EventType type) noexcept;
// True when some event type has an argument with this name.
bool is_known_event_arg(std::string_view name) noexcept;

// Renders argument `index` of the event into out (replacing it). False when the event lacks
// it (wrong payload, unreadable path).
bool render_event_arg(const events::Event& event, int index, std::string& out);
// "name=value name=value ..." for evt.args; `scratch` holds each value on the way.
void render_event_args(const events::Event& event, std::string& out, std::string& scratch);

// Renderers (append).
void append_open_flags(std::string& out, std::uint64_t flags);  // "O_WRONLY|O_CREAT|O_CLOEXEC"
void append_mode_bits(std::string& out, std::uint32_t mode);    // "S_IRUSR|S_IWUSR|S_IXUSR"
void append_capabilities(std::string& out, std::uint64_t mask); // "CAP_CHOWN CAP_SYS_ADMIN"
// "ENOENT", ... for a negative syscall return; "" when unknown.
std::string_view errno_name(std::int64_t ret) noexcept;

}  // namespace vigil::rules
