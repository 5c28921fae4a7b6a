#pragma once
// A daemon's own log lines (not alerts, not audit records): one line per message on stderr,
// with a level. Under systemd, stderr is a stream to the journal (the service manager says
// so in $JOURNAL_STREAM); there each line starts with the sd-daemon(3) priority prefix
// "<N>" so the journal files it at that level, and the program name is left to the journal.
// Elsewhere (a terminal, a file) the level is spelled out: "vigil agent: warning: ...".
#include <functional>
#include <string>
#include <string_view>

namespace vigil::log {

// syslog(3) priorities, as the "<N>" prefix carries them.
enum class Level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// The line for `message` (each of its lines prefixed when it has several), ending in '\n'.
// `journal`: the "<N>" form; otherwise "<program>: <level>: message" (no level word for
// notice and info, so everyday lines read as before).
std::string format_line(Level level, std::string_view program, std::string_view message, bool journal);

// True when $JOURNAL_STREAM ("device:inode") names the file on fd `fd`, i.e. a line written
// there reaches the journal directly.
bool fd_is_journal_stream(int fd);

// Names the program in non-journal lines ("vigil agent"); default "vigil".
void set_program(std::string program);
// Told of every line written at warning level or above (the agent keeps the last errors for
// `vigil status`). Set once, before other threads log; must not block or log.
void set_observer(std::function<void(Level, std::string_view message)> observer);

// Writes one message to stderr with a single write(2), so concurrent lines do not interleave.
void write(Level level, std::string_view message);
inline void error(std::string_view message) { write(Level::error, message); }
inline void warning(std::string_view message) { write(Level::warning, message); }
inline void notice(std::string_view message) { write(Level::notice, message); }
inline void info(std::string_view message) { write(Level::info, message); }

}  // namespace vigil::log
