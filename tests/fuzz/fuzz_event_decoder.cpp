// Raw ring-buffer records are untrusted bytes (a capture file can hold anything; a mismatched
// kernel object could write anything). The decoder must accept or reject every input without
// reading outside it, and what it accepts must be a consistent Event: the type's payload is
// present, every view lies inside the record, and rendering it works.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "event_header.h"
#include "events/event.h"
#include "events/render.h"

namespace {

using vigil::events::EventType;

const std::uint8_t* g_begin = nullptr;
const std::uint8_t* g_end = nullptr;

void check_inside(std::string_view view) {
  if (view.empty()) return;
  const auto* data = reinterpret_cast<const std::uint8_t*>(view.data());
  if (data < g_begin || data + view.size() > g_end) std::abort();
}

void check_inside(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return;
  if (bytes.data() < g_begin || bytes.data() + bytes.size() > g_end) std::abort();
}

bool payload_matches_type(const vigil::events::Event& event) {
  const std::uint32_t record = vigil::events::record_type_of(event.type);
  switch (record) {
    case VIGIL_EVENT_EXEC:
    case VIGIL_EVENT_SYSCALL_EXEC: return event.exec() != nullptr;
    case VIGIL_EVENT_FORK: return event.fork() != nullptr;
    case VIGIL_EVENT_EXIT: return event.exit() != nullptr;
    case VIGIL_EVENT_SYSCALL_FILE: return event.file() != nullptr;
    case VIGIL_EVENT_SYSCALL_NET: return event.net() != nullptr;
    case VIGIL_EVENT_SYSCALL_CRED: return event.cred() != nullptr;
    case VIGIL_EVENT_SYSCALL_PROC: return event.proc() != nullptr;
    default: return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::uint8_t> record(data, size);
  g_begin = data;
  g_end = data + size;
  auto event = vigil::events::decode_record(record);
  if (!event) {
    // Every rejection names a reason and can be described.
    if (static_cast<std::size_t>(event.error().reason) >= vigil::events::kDecodeErrorReasonCount) std::abort();
    if (vigil::events::describe(event.error()).empty()) std::abort();
    return 0;
  }
  if (event->type == EventType::unknown || !payload_matches_type(*event)) std::abort();
  if (event->record_type != vigil::events::record_type_of(event->type)) std::abort();
  if (event->task.comm.size() >= VIGIL_COMM_LEN) std::abort();
  check_inside(event->task.comm);
  if (const auto* exec = event->exec()) {
    check_inside(exec->filename);
    check_inside(exec->args.raw());
    std::size_t count = 0;
    for (std::string_view arg : exec->args) {
      check_inside(arg);
      if (++count > exec->args.raw().size() + 1) std::abort();  // the walk must end
    }
    if (count != exec->args.size()) std::abort();
  }
  if (const auto* file = event->file()) {
    check_inside(file->path);
    check_inside(file->path2);
    check_inside(file->fstype);
  }
  if (const auto* net = event->net()) {
    for (const auto* address : {&net->local, &net->remote}) {
      check_inside(address->addr);
      check_inside(address->unix_path);
    }
  }
  if (const auto* proc = event->proc()) check_inside(proc->str);
  const vigil::events::TimeAnchor anchor{1, 2};
  const std::string json = vigil::events::event_to_json(*event, &anchor)
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string line = vigil::events::event_line(*event, &anchor);
  if (json.empty() || line.empty() || line.find('\n') != std::string::npos) std::abort();
  return 0;
}
