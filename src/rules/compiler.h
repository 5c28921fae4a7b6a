#pragma once
// Definitions -> compiled conditions and outputs: macros inlined (cycle-checked), lists
// expanded, fields resolved and type-checked, exceptions turned into `and not (...)`.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rules/compiled.h"
#include "rules/definitions.h"

namespace vigil::rules {

// One distinct field text -> one extractor scratch slot, shared by the whole rule set.
class SlotTable {
 public:
  std::size_t slot_of(const std::string& field_text);
  std::size_t size() const { return slots_.size(); }

 private:
  std::map<std::string, std::size_t, std::less<>> slots_;
};

struct OutputTemplate {
  struct Piece {
    std::string literal;          // text before the field (or the whole piece)
    std::optional<FieldRef> field;  // absent: literal only, or a field vigil lacks (<NA>)
    std::string field_text;       // as written, for output_fields
    std::size_t slot = 0;
    bool has_field = false;
  };
  std::vector<Piece> pieces;
  std::size_t field_count = 0;
};

struct CompiledCondition {
  Node root;
  std::set<std::string> unsupported_fields;  // Falco fields vigil lacks: the rule is skipped
  std::set<std::string> uncaptured_event_types;  // evt.type names vigil does not capture (warned)
  bool uses_dns_names = false;                   // fd.sip.name and the like (DnsNames)
};

class Compiler {
 public:
  Compiler(const Definitions& defs, SlotTable& slots) : defs_(defs), slots_(slots) {}

  // The rule's condition with its exceptions. On error returns a Diagnostic.
  std::optional<Diagnostic> compile_rule(const RuleDef& rule, CompiledCondition& out);
  // Output format: %field, %field[N], %(field). Falco fields vigil lacks render <NA> and are
  // listed in unsupported; unknown fields are errors.
  std::optional<Diagnostic> compile_output(const RuleDef& rule, OutputTemplate& out,
                                           std::set<std::string>& unsupported);
  // Syntax errors of macros no rule used (those used were checked with their rules).
  std::vector<Diagnostic> check_unused_macros();

 private:
  struct Source {
    const ConditionText* text;
    std::string label;
  };
  std::optional<Diagnostic> resolve(const Expr& expr, const Source& source, Node& out, CompiledCondition& result);
  std::optional<Diagnostic> build_check(const Expr& expr, const Source& source, Node& out,
                                        CompiledCondition& result);
  std::optional<Diagnostic> expand_values(const Expr& expr, const Source& source, std::vector<std::string>& out);
  bool expand_list(const std::string& name, std::vector<std::string>& out, int depth);
  Diagnostic at(const Source& source, std::size_t position, std::string message) const;

  const Definitions& defs_;
  SlotTable& slots_;
  std::vector<std::string> macro_stack_;
  std::size_t nodes_ = 0;  // nodes of the rule being compiled: macro expansion can explode
  std::size_t depth_ = 0;  // nesting through macros: evaluation recurses as deep
  std::map<std::size_t, std::unique_ptr<Expr>> parsed_macros_;  // by macro index
};

}  // namespace vigil::rules
