#pragma once
// /metrics: the agent's counters in the Prometheus text exposition format (version 0.0.4),
// rendered from the status document the agent already keeps (Agent::status(), status.json),
// so the two never disagree. docs/api.md lists the families.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::web {

// Builds one exposition: each family's HELP and TYPE once, then its samples.
class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string_view, std::string>>;
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Label values escaped as the format wants: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

std::string render_metrics(const nlohmann::json& status);

}  // namespace vigil::web
