#pragma once
// Field values of one event: the event itself, its process and ancestors in the process
// table, and the descriptor the event is about. Lookups (process, ancestors, descriptor) are
// done once per event, on first use; computed strings go to per-field scratch buffers that
// keep their capacity, so a warmed-up extractor allocates nothing.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/fields.h"
#include "rules/rules.h"
#include "rules/values.h"

#include "state/fd_table.h"

namespace vigil::state {
struct Process;
}  // namespace vigil::state

namespace vigil::rules {

// uid/gid -> name through the host's passwd/group databases, remembered (misses too).
class NameCache {
 public:
  std::string_view user(std::uint32_t uid);
  std::string_view group(std::uint32_t gid);

 private:
  std::unordered_map<std::uint32_t, std::string> users_;
  std::unordered_map<std::uint32_t, std::string> groups_;
};

class Extractor {
 public:
  // Scratch slots: one per distinct field the rule set names (see Compiler).
  void set_slot_count(std::size_t slots) { scratch_.resize(slots); }
  void begin(const EvalContext& context, std::uint64_t event_number);
  events::EventType event_type() const { return context_->event.type; }
  // Every value of the field for the current event (none: missing).
  void extract(const FieldRef& field, std::size_t slot, Values& out);
  // The field as output text: values joined by spaces; false (and "") when missing.
  bool render(const FieldRef& field, std::size_t slot, std::string& out);

 private:
  struct Endpoint {
    bool known = false;
    IpAddress ip;
    std::uint16_t port = 0;
  };
  // The descriptor the event is about (docs/rules.md, fd.* fields).
  struct FdView {
    bool present = false;
    std::int64_t num = -1;
    char typechar = 'o';
    std::string_view type = "unknown";
    std::string_view name;       // resolved path, socket tuple, unix path
    std::string_view nameraw;    // path as passed
    bool is_file = false;
    bool is_socket = false;
    std::uint16_t family = 0;
    std::uint32_t socket_type = 0;
    std::uint32_t protocol = 0;
    Endpoint local, remote;
    bool server_is_local = false;
    state::SocketRole role = state::SocketRole::unknown;
  };

  const state::Process* process();
  const state::Process* parent();
  // Ancestor at level n (1: parent); null past the known chain.
  const state::Process* ancestor(int level);
  const FdView& fd();
  void fill_fd_from_entry(const state::FdEntry& entry);
  void fill_socket_name();
  std::string_view resolve_path(std::string_view path, std::int32_t dirfd, std::string& out);

  // Per-process values that prefer a successful exec event's own payload.
  bool exec_event_args(std::string_view& argv0, std::string_view& raw_args) const;
  std::string_view exe_of(const state::Process& process) const;  // argv[0]
  void append_args_of(std::string_view raw_args, std::string& out) const;  // argv[1..] joined
  bool process_exe(std::string_view& out);
  bool process_args(std::string& out);
  bool process_exepath(std::string_view& out);

  void extract_ancestors(const FieldRef& field, std::size_t slot, Values& out);
  void extract_fd(const FieldRef& field, std::size_t slot, Values& out);
  void extract_event(const FieldRef& field, std::size_t slot, Values& out);
  void extract_process(const FieldRef& field, std::size_t slot, Values& out);
  void extract_stdio(const FieldRef& field, std::size_t slot, Values& out);
  void extract_container(const FieldRef& field, std::size_t slot, Values& out);
  // proc.name: the name as of exec (the header's comm when the table has nothing better).
  std::string_view process_name();
  std::string_view name_of(const state::Process& process) const;

  const EvalContext* context_ = nullptr;
  std::uint64_t event_number_ = 0;
  bool process_looked_up_ = false;
  const state::Process* process_ = nullptr;
  int ancestors_known_ = 0;  // levels resolved in ancestors_ (0: none yet)
  bool ancestors_complete_ = false;
  std::vector<const state::Process*> ancestors_ = std::vector<const state::Process*>(kMaxValues, nullptr);
  bool fd_computed_ = false;
  FdView fd_;
  std::string fd_name_;  // resolved fd.name
  std::string fd_name_socket_;
  std::string path_scratch_;  // base + relative path, before normalization
  std::vector<std::string> scratch_;
  std::string hostname_;
  NameCache names_;
};

}  // namespace vigil::rules
