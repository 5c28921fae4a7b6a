#pragma once
// Events as text: one JSON object (nlohmann) or one human-readable line. Strings from records
// are escaped so a crafted argument cannot forge output lines.
#include <string>

#include <nlohmann/json.hpp>

#include "events/event.h"
#include "events/time_anchor.h"

namespace vigil::events {

// {"time": "2026-11-23T12:53:39.123456789Z" (only with an anchor), "ts_ns", "event", "pid", "tid",
//  "ppid", "uid", "gid", "comm", "cgroup_id", "mnt_ns", "pid_ns", "net_ns", then per type, e.g.
//  execve: "filename", "args": [...], "argc", "exe_ino", "exe_dev", "truncated": [...];
//  syscall records: "syscall_nr", "ret" and the payload fields}. docs/capture.md lists them.
nlohmann::json event_to_json(const Event& event, const TimeAnchor* anchor = nullptr);

// "12:53:39.123456789 execve pid=4242 ppid=1 uid=0 comm=ls filename=/usr/bin/ls args=[ls -l]"
// (time of day UTC with an anchor, else boot-time seconds). Appends to `out`, no newline.
void append_event_line(std::string& out, const Event& event, const TimeAnchor* anchor = nullptr);
std::string event_line(const Event& event, const TimeAnchor* anchor = nullptr);

}  // namespace vigil::events
