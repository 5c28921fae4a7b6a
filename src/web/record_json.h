#pragma once
// Stored records as the console API shows them (docs/api.md).
#include <nlohmann/json.hpp>

#include "store/store.h"

namespace vigil::web {

// `with_process_tree`: the single-alert view keeps "process_tree"; lists leave it out.
nlohmann::json alert_json(const store::AlertRecord& alert, bool with_process_tree);
nlohmann::json event_json(const store::EventRecord& event);
nlohmann::json measurement_json(const store::MeasurementRecord& measurement);
nlohmann::json decision_json(const store::DecisionRecord& decision);
// A network flow record (the agent's "netflow" audit record, docs/netpolicy.md) as the one-line
// summary the store keeps for it: "verdict=deny direction=egress protocol=tcp
// remote=198.18.0.2:80 policy=web rule=db subject=container=ab* comm=curl ". Every key=value is
// followed by a space, so "/api/netpolicy/flows" filters with exact "policy=web " substrings.
std::string netflow_summary(const nlohmann::json& flow);
// "Warning" for 4; "Unknown" outside 0..7.
std::string priority_text(int level);

}  // namespace vigil::web
