#pragma once
#include <optional>
#include <string_view>

namespace vigil::ima {

// IMA measurement templates: ima = d|n, ima-ng = d-ng|n-ng, ima-sig = d-ng|n-ng|sig.
enum class TemplateName { ima, ima_ng, ima_sig };

inline std::string_view template_name_text(TemplateName name) {
  switch (name) {
    case TemplateName::ima: return "ima";
    case TemplateName::ima_ng: return "ima-ng";
    case TemplateName::ima_sig: return "ima-sig";
  }
  return "ima-ng";
}

inline std::optional<TemplateName> template_name_from_text(std::string_view text) {
  if (text == "ima") return TemplateName::ima;
  if (text == "ima-ng") return TemplateName::ima_ng;
  if (text == "ima-sig") return TemplateName::ima_sig;
  return std::nullopt;
}

}  // namespace vigil::ima
