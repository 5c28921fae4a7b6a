// Falco rule files (YAML) -> Definitions. yaml-cpp throws; everything it does happens inside
// this file's try blocks, and every problem becomes a Diagnostic with the item's line.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>

#include "rules/definitions.h"

namespace vigil::rules {

void ConditionText::assign(std::string new_text, Location where) {
  text = std::move(new_text);
  pieces.clear();
  pieces.push_back(Piece{0, std::move(where)});
}

void ConditionText::append(const std::string& more, Location where) {
  if (!text.empty()) text.push_back(' ');
  pieces.push_back(Piece{text.size(), std::move(where)});
  text.append(more);
}

const ConditionText::Piece& ConditionText::piece_at(std::size_t offset, std::size_t& offset_in_piece) const {
  static const Piece kNone;
  const Piece* found = pieces.empty() ? &kNone : &pieces.front();
  for (const Piece& piece : pieces) {
    if (piece.begin <= offset) found = &piece;
  }
  offset_in_piece = offset >= found->begin ? offset - found->begin : 0;
  return *found;
}

namespace {

int line_of(const YAML::Node& node) {
  try {
    return node.Mark().line + 1;
  } catch (const std::exception&) {
    return 0;
  }
}

class FileReader {
 public:
  FileReader(const std::string& file, Definitions& defs, LoadReport& report)
      : file_(file), defs_(defs), report_(report) {}

  void read(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      error(e.mark.line + 1, "", "invalid YAML: " + e.msg);
      return;
    } catch (const std::exception& e) {
      error(0, "", std::string("invalid YAML: ") + e.what());
      return;
    }
    if (!root || root.IsNull()) return;  // an empty file defines nothing
    if (!root.IsSequence()) {
      error(line_of(root), "", "a rules file is a list of items (rule, macro, list, ...)");
      return;
    }
    for (const YAML::Node& item : root) {
      try {
        read_item(item);
      } catch (const YAML::Exception& e) {
        error(e.mark.line + 1, "", "invalid item: " + e.msg);
      } catch (const std::exception& e) {
        error(line_of(item), "", std::string("invalid item: ") + e.what());
      }
    }
  }

 private:
  void error(int line, std::string item, std::string message) {
    report_.errors.push_back(Diagnostic{file_, line, 0, std::move(item), std::move(message)});
  }
  void warning(int line, std::string item, std::string message) {
    report_.warnings.push_back(Diagnostic{file_, line, 0, std::move(item), std::move(message)});
  }
  Location here(const YAML::Node& node) const { return Location{file_, line_of(node)}; }

  static bool scalar(const YAML::Node& node, std::string& out) {
    if (!node || !node.IsScalar()) return false;
    out = node.Scalar();
    return true;
  }
  static bool boolean(const YAML::Node& node, bool& out) {
    std::string text;
    if (!scalar(node, text)) return false;
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    if (text == "true" || text == "yes" || text == "on") return out = true, true;
    if (text == "false" || text == "no" || text == "off") return out = false, true;
    return false;
  }
  // A sequence of scalars (or one scalar, where Falco allows it).
  static bool strings(const YAML::Node& node, std::vector<std::string>& out, bool allow_scalar = false) {
    out.clear();
    if (node && node.IsNull()) return true;
    if (allow_scalar && node && node.IsScalar()) {
      out.push_back(node.Scalar());
      return true;
    }
    if (!node || !node.IsSequence()) return false;
    for (const YAML::Node& element : node) {
      if (!element.IsScalar()) return false;
      out.push_back(element.Scalar());
    }
    return true;
  }

  void check_keys(const YAML::Node& item, const std::string& what, std::initializer_list<std::string_view> known) {
    for (auto it = item.begin(); it != item.end(); ++it) {
      std::string key;
      if (!scalar(it->first, key)) continue;
      if (std::find(known.begin(), known.end(), key) == known.end())
        warning(line_of(it->first), what, "unknown key '" + key + "' ignored");
    }
  }

  // override: {key: append|replace}; false (and an error) when malformed.
  bool read_override(const YAML::Node& item, const std::string& what, std::map<std::string, bool>& appends,
                     std::initializer_list<std::string_view> can_append,
                     std::initializer_list<std::string_view> can_replace) {
    const YAML::Node node = item["override"];
    if (!node.IsMap()) {
      error(line_of(node), what, "override must map keys to append or replace");
      return false;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key, mode;
      if (!scalar(it->first, key) || !scalar(it->second, mode) || (mode != "append" && mode != "replace")) {
        error(line_of(it->first), what, "override must map keys to append or replace");
        return false;
      }
      const auto& allowed = mode == "append" ? can_append : can_replace;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(line_of(it->first), what, "key '" + key + "' cannot be overridden with " + mode);
        return false;
      }
      if (!item[key]) {
        error(line_of(it->first), what, "override of '" + key + "' without a new '" + key + "' value");
        return false;
      }
      appends[key] = mode == "append";
    }
    return true;
  }

  void read_item(const YAML::Node& item) {
    if (!item.IsMap()) {
      error(line_of(item), "", "each item must be a map (rule, macro, list, ...)");
      return;
    }
    if (item["rule"]) return read_rule(item);
    if (item["macro"]) return read_macro(item);
    if (item["list"]) return read_list(item);
    if (item["required_engine_version"] || item["required_plugin_versions"]) return;  // accepted, not needed
    std::string first_key;
    if (item.begin() != item.end()) scalar(item.begin()->first, first_key);
    warning(line_of(item), "", "unknown item '" + first_key + "' ignored");
  }

  bool append_flag(const YAML::Node& item, const std::string& what, bool& append) {
    append = false;
    if (item["append"] && !boolean(item["append"], append)) {
      error(line_of(item["append"]), what, "append must be true or false");
      return false;
    }
    if (append && item["override"]) {
      error(line_of(item), what, "append and override cannot be used together");
      return false;
    }
    return true;
  }

  void read_list(const YAML::Node& item) {
    std::string name;
    if (!scalar(item["list"], name) || name.empty()) return error(line_of(item), "", "list without a name");
    const std::string what = "list '" + name + "'";
    check_keys(item, what, {"list", "items", "append", "override"});
    bool append = false;
    if (!append_flag(item, what, append)) return;
    std::vector<std::string> items;
    if (!strings(item["items"], items)) return error(line_of(item), what, "items must be a list of strings");
    std::map<std::string, bool> appends;
    const bool overriding = static_cast<bool>(item["override"]);
    if (overriding && !read_override(item, what, appends, {"items"}, {"items"})) return;
    const auto existing = defs_.list_index.find(name);
    if (append || overriding) {
      if (existing == defs_.list_index.end())
        return error(line_of(item), what, std::string(append ? "append" : "override") + " of an undefined list");
      ListDef& list = defs_.lists[existing->second];
      if (append || appends["items"]) {
        list.items.insert(list.items.end(), items.begin(), items.end());
      } else {
        list.items = std::move(items);
      }
      return;
    }
    ListDef def{name, std::move(items), here(item)};
    if (existing != defs_.list_index.end()) {
      defs_.lists[existing->second] = std::move(def);
    } else {
      defs_.list_index.emplace(name, defs_.lists.size());
      defs_.lists.push_back(std::move(def));
    }
  }

  void read_macro(const YAML::Node& item) {
    std::string name;
    if (!scalar(item["macro"], name) || name.empty()) return error(line_of(item), "", "macro without a name");
    const std::string what = "macro '" + name + "'";
    check_keys(item, what, {"macro", "condition", "append", "override", "source"});
    bool append = false;
    if (!append_flag(item, what, append)) return;
    std::string condition;
    if (!scalar(item["condition"], condition)) return error(line_of(item), what, "condition must be a string");
    std::map<std::string, bool> appends;
    const bool overriding = static_cast<bool>(item["override"]);
    if (overriding && !read_override(item, what, appends, {"condition"}, {"condition"})) return;
    const auto existing = defs_.macro_index.find(name);
    const Location where{file_, line_of(item["condition"])};
    if (append || overriding) {
      if (existing == defs_.macro_index.end())
        return error(line_of(item), what, std::string(append ? "append" : "override") + " of an undefined macro");
      MacroDef& macro = defs_.macros[existing->second];
      if (append || appends["condition"]) {
        macro.condition.append(condition, where);
      } else {
        macro.condition.assign(condition, where);
      }
      return;
    }
    MacroDef def{name, {}, here(item)};
    def.condition.assign(condition, where);
    if (existing != defs_.macro_index.end()) {
      defs_.macros[existing->second] = std::move(def);
    } else {
      defs_.macro_index.emplace(name, defs_.macros.size());
      defs_.macros.push_back(std::move(def));
    }
  }

  bool read_element(const YAML::Node& node, ExceptionDef::Element& out) {
    out = ExceptionDef::Element{};
    if (node.IsScalar()) {
      out.items.push_back(node.Scalar());
      return true;
    }
    out.is_list = true;
    return strings(node, out.items);
  }

  bool read_exceptions(const YAML::Node& node, const std::string& what, std::vector<ExceptionDef>& out) {
    out.clear();
    if (node.IsNull()) return true;
    if (!node.IsSequence()) {
      error(line_of(node), what, "exceptions must be a list");
      return false;
    }
    for (const YAML::Node& entry : node) {
      ExceptionDef exception;
      exception.where = here(entry);
      if (!entry.IsMap() || !scalar(entry["name"], exception.name) || exception.name.empty()) {
        error(line_of(entry), what, "each exception needs a name");
        return false;
      }
      const std::string label = what + " exception '" + exception.name + "'";
      const YAML::Node fields = entry["fields"];
      if (fields) {
        exception.fields_given = true;
        exception.fields_is_list = fields.IsSequence();
        if (!strings(fields, exception.fields, true) || exception.fields.empty()) {
          error(line_of(fields), label, "fields must be a field name or a list of them");
          return false;
        }
      }
      const YAML::Node comps = entry["comps"];
      if (comps && !strings(comps, exception.comps, true)) {
        error(line_of(comps), label, "comps must be an operator or a list of them");
        return false;
      }
      const YAML::Node values = entry["values"];
      if (values && !values.IsNull()) {
        if (!values.IsSequence()) {
          error(line_of(values), label, "values must be a list");
          return false;
        }
        for (const YAML::Node& value : values) {
          ExceptionDef::Value parsed;
          parsed.from_sequence = value.IsSequence();
          if (!exception.fields_given && !value.IsSequence()) {
            parsed.elements.emplace_back();
            read_element(value, parsed.elements.back());
          } else if (exception.fields_is_list) {
            if (!value.IsSequence()) {
              error(line_of(value), label, "with a list of fields, each value must be a list with one entry per field");
              return false;
            }
            for (const YAML::Node& element : value) {
              parsed.elements.emplace_back();
              if (!read_element(element, parsed.elements.back())) {
                error(line_of(element), label, "a value must be a string or a list of strings");
                return false;
              }
            }
          } else {
            parsed.elements.emplace_back();
            if (!read_element(value, parsed.elements.back())) {
              error(line_of(value), label, "a value must be a string or a list of strings");
              return false;
            }
          }
          exception.values.push_back(std::move(parsed));
        }
      }
      out.push_back(std::move(exception));
    }
    return true;
  }

  static void merge_exceptions(std::vector<ExceptionDef>& into, std::vector<ExceptionDef>&& more) {
    for (ExceptionDef& exception : more) {
      auto same = std::find_if(into.begin(), into.end(), [&](const ExceptionDef& e) { return e.name == exception.name; });
      if (same == into.end()) {
        into.push_back(std::move(exception));
        continue;
      }
      // Appending to an exception adds values (its fields and comps stay). Values read
      // without fields were taken as tuples; for a single-field exception a list is one value.
      for (ExceptionDef::Value& value : exception.values) {
        if (!exception.fields_given && !same->fields_is_list && value.from_sequence) {
          ExceptionDef::Element list;
          list.is_list = true;
          for (const ExceptionDef::Element& element : value.elements)
            list.items.insert(list.items.end(), element.items.begin(), element.items.end());
          value.elements.assign(1, std::move(list));
        }
        same->values.push_back(std::move(value));
      }
    }
  }

  void read_rule(const YAML::Node& item) {
    std::string name;
    if (!scalar(item["rule"], name) || name.empty()) return error(line_of(item), "", "rule without a name");
    const std::string what = "rule '" + name + "'";
    check_keys(item, what,
               {"rule", "desc", "condition", "output", "priority", "tags", "enabled", "exceptions", "source", "append",
                "override", "warn_evttypes", "skip-if-unknown-filter", "action", "capture", "capture_duration"});
    bool append = false;
    if (!append_flag(item, what, append)) return;
    const bool overriding = static_cast<bool>(item["override"]);
    const auto existing = defs_.rule_index.find(name);

    // Field by field, as given; validated here so append/override/definition share it.
    RuleDef given;
    given.name = name;
    given.where = here(item);
    bool has_condition = false, has_output = false, has_priority = false, has_desc = false, has_tags = false;
    bool has_enabled = false, has_exceptions = false, has_action = false;
    std::string condition;
    if (item["condition"]) {
      if (!scalar(item["condition"], condition)) return error(line_of(item["condition"]), what, "condition must be a string");
      has_condition = true;
    }
    if (item["output"]) {
      if (!scalar(item["output"], given.output)) return error(line_of(item["output"]), what, "output must be a string");
      has_output = true;
    }
    if (item["desc"]) {
      if (!scalar(item["desc"], given.description)) return error(line_of(item["desc"]), what, "desc must be a string");
      has_desc = true;
    }
    if (item["priority"]) {
      std::string priority;
      if (!scalar(item["priority"], priority) || !parse_priority(priority, given.priority))
        return error(line_of(item["priority"]), what, "unknown priority '" + priority + "'");
      has_priority = true;
    }
    if (item["tags"]) {
      if (!strings(item["tags"], given.tags)) return error(line_of(item["tags"]), what, "tags must be a list of strings");
      has_tags = true;
    }
    if (item["enabled"]) {
      if (!boolean(item["enabled"], given.enabled)) return error(line_of(item["enabled"]), what, "enabled must be true or false");
      has_enabled = true;
    }
    if (item["action"]) {
      std::string action;
      scalar(item["action"], action);
      if (action == "kill") {
        given.action = Action::kill;
      } else if (action == "alert") {
        given.action = Action::alert;
      } else {
        return error(line_of(item["action"]), what, "action must be kill or alert, not '" + action + "'");
      }
      has_action = true;
    }
    if (item["source"] && !scalar(item["source"], given.source))
      return error(line_of(item["source"]), what, "source must be a string");
    if (item["exceptions"]) {
      if (!read_exceptions(item["exceptions"], what, given.exceptions)) return;
      has_exceptions = true;
    }
    const Location condition_where{file_, line_of(item["condition"])};

    if (append) {
      if (existing == defs_.rule_index.end()) return error(line_of(item), what, "append of an undefined rule");
      RuleDef& rule = defs_.rules[existing->second];
      if (has_condition) rule.condition.append(condition, condition_where);
      if (has_exceptions) merge_exceptions(rule.exceptions, std::move(given.exceptions));
      if (has_output || has_priority || has_desc || has_tags)
        warning(line_of(item), what, "append only extends condition and exceptions; other keys ignored");
      return;
    }
    if (overriding) {
      std::map<std::string, bool> appends;
      if (!read_override(item, what, appends, {"condition", "output", "desc", "tags", "exceptions"},
                         {"condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "action"}))
        return;
      if (existing == defs_.rule_index.end()) return error(line_of(item), what, "override of an undefined rule");
      RuleDef& rule = defs_.rules[existing->second];
      for (const auto& [key, is_append] : appends) {
        if (key == "condition") {
          if (is_append) rule.condition.append(condition, condition_where);
          else rule.condition.assign(condition, condition_where);
        } else if (key == "output") {
          rule.output = is_append ? rule.output + " " + given.output : given.output;
        } else if (key == "desc") {
          rule.description = is_append ? rule.description + " " + given.description : given.description;
        } else if (key == "tags") {
          if (!is_append) rule.tags.clear();
          rule.tags.insert(rule.tags.end(), given.tags.begin(), given.tags.end());
        } else if (key == "exceptions") {
          if (is_append) merge_exceptions(rule.exceptions, std::move(given.exceptions));
          else rule.exceptions = std::move(given.exceptions);
        } else if (key == "priority") {
          rule.priority = given.priority;
        } else if (key == "enabled") {
          rule.enabled = given.enabled;
        } else if (key == "action") {
          rule.action = given.action;
        }
      }
      return;
    }
    // `- rule: X` with `enabled:` and nothing else that defines a rule: switch an existing one.
    if (has_enabled && !has_condition && !has_output && !has_priority && !has_exceptions) {
      if (existing == defs_.rule_index.end())
        return error(line_of(item), what, "enabled given for an undefined rule");
      defs_.rules[existing->second].enabled = given.enabled;
      if (has_action) defs_.rules[existing->second].action = given.action;
      return;
    }
    std::string missing;
    if (!has_condition) missing += " condition";
    if (!has_output) missing += " output";
    if (!has_priority) missing += " priority";
    if (!missing.empty()) return error(line_of(item), what, "missing" + missing);
    if (!has_desc) warning(line_of(item), what, "no desc");
    given.condition.assign(condition, condition_where);
    given.complete = true;
    if (existing != defs_.rule_index.end()) {
      defs_.rules[existing->second] = std::move(given);
    } else {
      defs_.rule_index.emplace(name, defs_.rules.size());
      defs_.rules.push_back(std::move(given));
    }
  }

  const std::string& file_;
  Definitions& defs_;
  LoadReport& report_;
};

}  // namespace

void read_rule_file(const std::string& text, const std::string& file, Definitions& defs, LoadReport& report) {
  try {
    FileReader(file, defs, report).read(text);
  } catch (const std::exception& e) {  // belt and braces: nothing from yaml-cpp escapes
    report.errors.push_back(Diagnostic{file, 0, 0, "", std::string("cannot read rules: ") + e.what()});
  }
}

}  // namespace vigil::rules
