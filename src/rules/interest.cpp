#include "rules/interest.h"

#include <algorithm>

#include "rules/event_args.h"

namespace vigil::rules {

namespace {

using events::EventType;

std::bitset<events::kEventTypeCount> every_type() {
  std::bitset<events::kEventTypeCount> all;
  all.set();
  all.reset(static_cast<std::size_t>(EventType::unknown));
  return all;
}

bool is_open_type(EventType type) {
  return type == EventType::open || type == EventType::openat || type == EventType::openat2 ||
         type == EventType::creat;
}

// -1: depends on more than the event type; 0/1: decided by the type alone.
int truth_for_type(const Node& node, EventType type) {
  switch (node.kind) {
    case Node::Kind::constant: return node.constant ? 1 : 0;
    case Node::Kind::check: {
      const Check& check = *node.check;
      if (!check.is_event_type) return -1;
      const bool member = check.types.test(static_cast<std::size_t>(type));
      return (check.op == Operator::ne ? !member : member) ? 1 : 0;
    }
    case Node::Kind::negation: {
      const int inner = truth_for_type(node.children.front(), type);
      return inner < 0 ? -1 : 1 - inner;
    }
    case Node::Kind::all: {
      int result = 1;
      for (const Node& child : node.children) {
        const int value = truth_for_type(child, type);
        if (value == 0) return 0;
        if (value < 0) result = -1;
      }
      return result;
    }
    case Node::Kind::any: {
      int result = 0;
      for (const Node& child : node.children) {
        const int value = truth_for_type(child, type);
        if (value == 1) return 1;
        if (value < 0) result = -1;
      }
      return result;
    }
  }
  return -1;
}

bool is_path_argument(std::string_view name) {
  return name == "name" || name == "path" || name == "filename" || name == "pathname" || name == "oldpath" ||
         name == "newpath" || name == "dev" || name == "dir";
}

bool mentions_write_flag(std::string_view text) {
  return text.find("O_WRONLY") != std::string_view::npos || text.find("O_RDWR") != std::string_view::npos ||
         text.find("O_TRUNC") != std::string_view::npos || text.find("O_CREAT") != std::string_view::npos;
}

PathSet never() { return PathSet{true, {}}; }

PathSet prefixes(const std::vector<std::string>& values, bool as_directory) {
  PathSet set;
  for (std::string value : values) {
    if (as_directory && !value.ends_with('/')) value.push_back('/');
    set.terms.push_back(PathTerm{std::move(value), false});
  }
  return set;
}

// What one check says about the paths of `type` events.
PathSet check_constraint(const Check& check, EventType type) {
  const FieldId id = check.field.id;
  const bool open = is_open_type(type);
  const Operator op = check.op;
  // A field the event type does not have is missing: the check is false.
  if (id == FieldId::fd_name || id == FieldId::fd_nameraw || id == FieldId::fd_directory ||
      id == FieldId::fd_filename) {
    if (!open) return never();
    if (id == FieldId::fd_filename) return PathSet::any();
    if (id == FieldId::fd_directory) {
      if (op == Operator::eq) return prefixes({check.text}, true);
      if (op == Operator::in || op == Operator::intersects || op == Operator::pmatch) return prefixes(check.texts, true);
      return PathSet::any();
    }
  } else if (id == FieldId::evt_arg) {
    const int index = check.field.arg_index[static_cast<std::size_t>(type)];
    if (index < 0) return never();
    const std::string_view name = event_arg_name(type, index);
    if (name == "flags") {
      if (open && type != EventType::creat && (op == Operator::contains || op == Operator::icontains) &&
          mentions_write_flag(check.text)) {
        return PathSet{false, {PathTerm{"", true}}};
      }
      return PathSet::any();
    }
    if (!is_path_argument(name)) return PathSet::any();
  } else if (id == FieldId::evt_is_open_write) {
    const bool wants_write = (op == Operator::eq && check.integer == 1) || (op == Operator::ne && check.integer == 0);
    if (open && wants_write) return PathSet{false, {PathTerm{"", true}}};
    return PathSet::any();
  } else {
    return PathSet::any();
  }
  // A path field or path argument.
  switch (op) {
    case Operator::eq: case Operator::startswith: return prefixes({check.text}, false);
    case Operator::in: case Operator::intersects: case Operator::pmatch: return prefixes(check.texts, false);
    case Operator::glob: {
      const std::size_t wildcard = check.text.find_first_of("*?[");
      return prefixes({check.text.substr(0, wildcard)}, false);
    }
    default: return PathSet::any();
  }
}

PathSet intersect(PathSet a, PathSet b) {
  if (a.never || b.never) return never();
  if (a.terms.size() * b.terms.size() > 4096) return a.terms.size() <= b.terms.size() ? a : b;
  PathSet out;
  for (const PathTerm& x : a.terms) {
    for (const PathTerm& y : b.terms) {
      const bool write = x.write_only || y.write_only;
      if (x.prefix.starts_with(y.prefix)) {
        out.terms.push_back(PathTerm{x.prefix, write});
      } else if (y.prefix.starts_with(x.prefix)) {
        out.terms.push_back(PathTerm{y.prefix, write});
      }
    }
  }
  if (out.terms.empty()) return never();  // disjoint prefixes: nothing satisfies both
  return out;
}

// Drops terms another term already covers.
void simplify(PathSet& set) {
  std::sort(set.terms.begin(), set.terms.end());
  set.terms.erase(std::unique(set.terms.begin(), set.terms.end()), set.terms.end());
  std::vector<PathTerm> kept;
  for (const PathTerm& term : set.terms) {
    const bool covered = std::any_of(set.terms.begin(), set.terms.end(), [&](const PathTerm& other) {
      if (&other == &term || !term.prefix.starts_with(other.prefix)) return false;
      if (other.write_only && !term.write_only) return false;
      return other.prefix.size() < term.prefix.size() || (!other.write_only && term.write_only);
    });
    if (!covered) kept.push_back(term);
  }
  set.terms = std::move(kept);
}

}  // namespace


TypeSet event_types_of(const Node& node) {
  switch (node.kind) {
    case Node::Kind::constant:
      return TypeSet{node.constant ? every_type() : std::bitset<events::kEventTypeCount>{}, true};
    case Node::Kind::check: {
      const Check& check = *node.check;
      if (!check.is_event_type) return TypeSet{every_type(), false};
      return TypeSet{check.op == Operator::ne ? every_type() & ~check.types : check.types, true};
    }
    case Node::Kind::negation: {
      const TypeSet inner = event_types_of(node.children.front());
      if (!inner.exact) return TypeSet{every_type(), false};
      return TypeSet{every_type() & ~inner.types, true};
    }
    case Node::Kind::all: {
      TypeSet out{every_type(), true};
      for (const Node& child : node.children) {
        const TypeSet part = event_types_of(child);
        out.types &= part.types;
        out.exact = out.exact && part.exact;
      }
      return out;
    }
    case Node::Kind::any: {
      TypeSet out{{}, true};
      for (const Node& child : node.children) {
        const TypeSet part = event_types_of(child);
        out.types |= part.types;
        out.exact = out.exact && part.exact;
      }
      return out;
    }
  }
  return TypeSet{every_type(), false};
}

bool is_path_event_type(EventType type) {
  switch (type) {
    case EventType::open: case EventType::openat: case EventType::openat2: case EventType::creat:
    case EventType::unlink: case EventType::unlinkat: case EventType::rename: case EventType::renameat:
    case EventType::renameat2: case EventType::chmod: case EventType::fchmodat: case EventType::fchmodat2:
    case EventType::chown: case EventType::lchown: case EventType::fchownat: case EventType::mount:
    case EventType::umount2:
      return true;
    default: return false;
  }
}

PathSet path_constraint(const Node& node, EventType type) {
  const int truth = truth_for_type(node, type);
  if (truth == 0) return never();
  if (truth == 1) return PathSet::any();
  switch (node.kind) {
    case Node::Kind::constant: return node.constant ? PathSet::any() : never();
    case Node::Kind::check: return check_constraint(*node.check, type);
    case Node::Kind::negation: return PathSet::any();  // nothing positive can be proven under `not`
    case Node::Kind::all: {
      PathSet out = PathSet::any();
      for (const Node& child : node.children) {
        out = intersect(std::move(out), path_constraint(child, type));
        if (out.never) return out;
        simplify(out);
      }
      return out;
    }
    case Node::Kind::any: {
      PathSet out = never();
      for (const Node& child : node.children) {
        PathSet part = path_constraint(child, type);
        if (part.never) continue;
        out.never = false;
        out.terms.insert(out.terms.end(), part.terms.begin(), part.terms.end());
      }
      if (!out.never) simplify(out);
      return out;
    }
  }
  return PathSet::any();
}

void add_path_interest(PathInterest& interest, const PathSet& paths) {
  if (paths.never) return;
  for (const PathTerm& term : paths.terms) {
    if (term.prefix.empty()) {
      if (!term.write_only) {
        interest.any_path = true;
      } else {
        interest.write_prefixes.push_back("/");
      }
      continue;
    }
    // Relative prefixes never match an absolute path, and relative paths always pass.
    if (!term.prefix.starts_with('/')) continue;
    (term.write_only ? interest.write_prefixes : interest.read_prefixes).push_back(term.prefix);
  }
}

void finish_path_interest(PathInterest& interest) {
  if (interest.any_path) {
    interest.read_prefixes.clear();
    interest.write_prefixes.clear();
    return;
  }
  const auto minimal = [](std::vector<std::string>& prefixes, const std::vector<std::string>& covering) {
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    std::vector<std::string> kept;
    for (const std::string& prefix : prefixes) {
      const auto covers = [&](const std::string& other) { return other != prefix && prefix.starts_with(other); };
      if (std::any_of(prefixes.begin(), prefixes.end(), covers)) continue;
      if (&prefixes != &covering && std::any_of(covering.begin(), covering.end(), [&](const std::string& other) {
            return prefix.starts_with(other);
          })) {
        continue;
      }
      kept.push_back(prefix);
    }
    prefixes = std::move(kept);
  };
  minimal(interest.read_prefixes, interest.read_prefixes);
  minimal(interest.write_prefixes, interest.read_prefixes);
}

}  // namespace vigil::rules
