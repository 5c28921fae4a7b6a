#pragma once
// Interest analysis: which event types, and for file events which path prefixes, the enabled
// rules can possibly match. Conservative by construction: whatever cannot be proven keeps
// every path (docs/rules.md, "Interest analysis").
#include <bitset>
#include <string>
#include <vector>

#include "rules/compiled.h"
#include "rules/rules.h"

namespace vigil::rules {

// Event types a condition can match: exact when the condition is only about evt.type.
struct TypeSet {
  std::bitset<events::kEventTypeCount> types;
  bool exact = false;
};
TypeSet event_types_of(const Node& node);

// True for the types interest() gives path prefixes for (those with a path argument).
bool is_path_event_type(events::EventType type);

// Path constraint of a condition on events of `type`: a union of terms, each "the path starts
// with prefix" (empty prefix: any path), optionally only for writable opens. `never`: no event
// of this type can match.
struct PathTerm {
  std::string prefix;
  bool write_only = false;
  bool operator<(const PathTerm& other) const {
    return prefix != other.prefix ? prefix < other.prefix : write_only < other.write_only;
  }
  bool operator==(const PathTerm&) const = default;
};
struct PathSet {
  bool never = false;
  std::vector<PathTerm> terms;  // empty with never == false: any path
  static PathSet any() { return PathSet{false, {PathTerm{}}}; }
};
PathSet path_constraint(const Node& node, events::EventType type);

// Folds one rule's constraint into the type's interest (prefixes deduplicated, nested ones
// dropped).
void add_path_interest(PathInterest& interest, const PathSet& paths);
void finish_path_interest(PathInterest& interest);

}  // namespace vigil::rules
