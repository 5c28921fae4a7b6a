// The attestation protocol's JSON bodies come from the network (agents and the verifier). The
// first byte picks the parser, the rest is the body. Every parser must answer without crashing
// or throwing, and what one accepts must survive to_json and parse again unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/evidence_json.h"

namespace {

using namespace vigil::attest;

template <class T, class Parse, class Same>
void round_trip(std::string_view text, Parse parse, Same same) {
  auto parsed = parse(text);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return;
  }
  auto again = parse(to_json(static_cast<const T&>(*parsed)));
  if (!again || !same(*parsed, *again)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      round_trip<EnrollRequest>(text, parse_enroll_request, [](const auto& a, const auto& b) {
        return a.ek_public == b.ek_public && a.ak_public == b.ak_public && a.ek_certificate == b.ek_certificate;
      });
      break;
    case 1:
      round_trip<EnrollChallenge>(text, parse_enroll_challenge, [](const auto& a, const auto& b) {
        return a.credential_blob == b.credential_blob && a.encrypted_secret == b.encrypted_secret;
      });
      break;
    case 2:
      round_trip<ActivateRequest>(text, parse_activate_request,
                                  [](const auto& a, const auto& b) { return a.secret == b.secret; });
      break;
    case 3:
      round_trip<RoundChallenge>(text, parse_round_challenge, [](const auto& a, const auto& b) {
        return a.nonce == b.nonce && a.list_start == b.list_start && a.selection.bank == b.selection.bank &&
               a.selection.pcrs == b.selection.pcrs && a.interval_ms == b.interval_ms;
      });
      break;
    case 4:
      round_trip<RoundEvidence>(text, parse_round_evidence, [](const auto& a, const auto& b) {
        return a.quote.attest == b.quote.attest && a.quote.signature == b.quote.signature &&
               a.quote.selection.bank == b.quote.selection.bank && a.quote.selection.pcrs == b.quote.selection.pcrs &&
               a.quote.pcr_values == b.quote.pcr_values && a.list_start == b.list_start && a.entries == b.entries;
      });
      break;
    default: {
      auto decoded = base64_decode(text);
      if (decoded && base64_encode(*decoded) != text) std::abort();  // strict: one text per value
      break;
    }
  }
  return 0;
}
