#pragma once
// vigil_rules: Falco-compatible detection rules (docs/rules.md). A RuleSet is loaded once from
// YAML rule files (lists, macros, rules, append/override, exceptions), compiled to expression
// trees indexed by event type, then evaluated against every decoded event together with the
// process table. Evaluation allocates nothing on the path of an event that matches no rule.
//
// Order with the process table: evaluate an event *before* ProcessTable::apply(event), so that
// close() still sees the descriptor it closes; everything else (opens, dups, connects) is
// computed from the event itself plus descriptors that already existed.
#include <bitset>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.h"
#include "events/event.h"

namespace vigil::state {
class ProcessTable;
}

namespace vigil::rules {

// Falco's priorities, most severe first.
enum class Priority : std::uint8_t { emergency, alert, critical, error, warning, notice, informational, debug };
// "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug" (Falco's spelling).
std::string_view priority_name(Priority priority) noexcept;
// Case-insensitive; also "info". False when the name is not a priority.
bool parse_priority(std::string_view name, Priority& out) noexcept;

// What the agent does on a match (vigil's `action:` extension; Falco only alerts).
enum class Action : std::uint8_t { alert, kill };
std::string_view action_name(Action action) noexcept;

// One error or warning, printed as "file:line: message" (line 0: the file as a whole).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;    // column in the condition text when known (1-based), else 0
  std::string item;  // "rule 'Name'", "macro 'name'", ... when the problem belongs to one
  std::string message;
  std::string to_string() const;
};

struct LoadOptions {
  // Falco fields vigil does not implement (k8s.*, container.image*, ...) skip the rule that
  // uses them, with a warning; off: they are errors.
  bool compatibility_mode = true;
  // Instead of skipping such a rule, load it with those fields always missing (a check on
  // them is false, `not` of it true), with a warning. Falco's default rules exclude known
  // images with `not container.image.repository in (...)`; this keeps those rules.
  bool unsupported_fields_as_missing = false;
};

struct LoadReport {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  std::size_t loaded = 0;    // rules compiled (enabled or not)
  std::size_t enabled = 0;   // of those, enabled
  std::size_t skipped = 0;   // rules left out on purpose: unsupported fields or source
  std::size_t failed = 0;    // rules left out because of errors
  bool ok() const { return errors.empty(); }
};

// A rule as loaded (for `vigil rules list`).
struct RuleSummary {
  std::string name;
  std::string description;
  Priority priority = Priority::warning;
  Action action = Action::alert;
  std::vector<std::string> tags;
  bool enabled = true;
  bool all_event_types = false;                // no evt.type constraint
  std::vector<events::EventType> event_types;  // what it can match (empty with all_event_types)
  std::string file;
  int line = 0;
};

// A field the output references, with its value for this event ("<NA>" when missing).
struct OutputField {
  std::string_view name;   // "proc.name", "proc.aname[2]"
  std::string_view value;
};

// One matching rule. Views are valid during the sink call only.
struct Match {
  std::string_view rule;
  Priority priority = Priority::warning;
  Action action = Action::alert;
  std::span<const std::string> tags;
  std::string_view output;               // formatted output line
  std::span<const OutputField> fields;   // every %field of the output, in order
};

// A non-owning callable (no allocation when a lambda is passed per call).
class MatchSink {
 public:
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, MatchSink>)
  MatchSink(F&& callable) noexcept  // NOLINT: implicit on purpose; the callable outlives the call
      : object_(const_cast<void*>(static_cast<const void*>(&callable))),
        call_([](void* object, const Match& match) { (*static_cast<std::remove_reference_t<F>*>(object))(match); }) {}
  void operator()(const Match& match) const { call_(object_, match); }

 private:
  void* object_;
  void (*call_)(void*, const Match&);
};

// What an event is evaluated with.
struct EvalContext {
  const events::Event& event;
  const state::ProcessTable* processes = nullptr;  // null: only the event's own fields
  // Added to the event's CLOCK_BOOTTIME timestamp for evt.time (TimeAnchor gives it); 0 keeps
  // boot time.
  std::int64_t boot_to_wall_ns = 0;
};

// Which events of one file event type some enabled rule can match, by path. A path argument
// (fd.name / evt.arg.name / ... of that type; both paths of rename* and mount) that starts with
// a read prefix is needed; one that starts with a write prefix is needed only when the open is
// writable (access mode not O_RDONLY, or O_CREAT or O_TRUNC set; always for non-open types).
// The kernel must also keep relative paths and paths with "." or ".." components or "//",
// whose resolved fd.name it cannot know. any_path: no path filter is possible.
struct PathInterest {
  bool any_path = true;
  std::vector<std::string> read_prefixes;
  std::vector<std::string> write_prefixes;
};

struct Interest {
  std::bitset<events::kEventTypeCount> event_types;  // types enabled rules can match
  bool all_event_types = false;                      // some enabled rule has no evt.type constraint
  // Per file event type in event_types (open, openat, openat2, creat, unlink*, rename*,
  // chmod*, chown*, mount, umount2): indexed by EventType.
  std::vector<PathInterest> paths = std::vector<PathInterest>(events::kEventTypeCount);
  bool wants(events::EventType type) const { return event_types.test(static_cast<std::size_t>(type)); }
};

struct RuleCounters {
  std::string_view rule;
  std::uint64_t evaluations = 0;
  std::uint64_t matches = 0;
};

struct EvalCounters {
  std::uint64_t events = 0;
  std::uint64_t rule_evaluations = 0;
  std::uint64_t matches = 0;
  std::uint64_t eval_ns = 0;  // total time spent in evaluate()
};

// A YAML text and the name its diagnostics use.
struct RuleSource {
  std::string name;
  std::string text;
};

class RuleSet {
 public:
  RuleSet();
  ~RuleSet();
  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;

  // Loads the files in order: later files extend or override what earlier ones defined. Rules
  // with errors are left out and reported; the rest load. Never throws or aborts on input.
  static RuleSet load_files(std::span<const std::string> paths, LoadReport& report, const LoadOptions& options = {});
  static RuleSet load_sources(std::span<const RuleSource> sources, LoadReport& report,
                              const LoadOptions& options = {});

  std::size_t size() const;  // rules loaded
  std::vector<RuleSummary> rules() const;
  // Enables or disables a loaded rule; false when no rule has that name.
  bool set_enabled(std::string_view rule, bool enabled);

  // Calls sink for every enabled rule the event matches, in load order. Uses the set's scratch
  // buffers: one thread at a time (the agent's pipeline thread).
  void evaluate(const EvalContext& context, MatchSink sink);

  Interest interest() const;
  // Event types on which an enabled `action: kill` rule matches whatever else the event says
  // (its condition is only about evt.type): the kernel can kill at the call's return.
  std::bitset<events::kEventTypeCount> kernel_kill_types() const;

  std::vector<RuleCounters> rule_counters() const;
  EvalCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::rules
