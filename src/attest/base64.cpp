// RFC 4648 base64 with padding, strict: no whitespace, no URL alphabet, canonical padding bits,
// so every accepted text has exactly one meaning and round-trips byte for byte.
#include <array>

#include "attest/evidence_json.h"

namespace vigil::attest {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> table{};
  for (auto& value : table) value = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    text += kAlphabet[(group >> 18) & 63];
    text += kAlphabet[(group >> 12) & 63];
    text += kAlphabet[(group >> 6) & 63];
    text += kAlphabet[group & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t group = (uint32_t{bytes[i]} << 16) | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    text += kAlphabet[(group >> 18) & 63];
    text += kAlphabet[(group >> 12) & 63];
    text += rest == 2 ? kAlphabet[(group >> 6) & 63] : '=';
    text += '=';
  }
  return text;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return fail("base64 length " + std::to_string(text.size()) + " is not a multiple of 4");
  std::vector<uint8_t> out(text.size() / 4 * 3);
  size_t written = 0;
  const auto value_at = [&](size_t at) { return kDecode[static_cast<uint8_t>(text[at])]; };
  const auto invalid_in_group = [&](size_t group_start, size_t checked) {
    size_t at = group_start;
    while (at < group_start + checked && value_at(at) >= 0) ++at;
    return fail("base64 has an invalid character at offset " + std::to_string(at));
  };
  // Every group but the last has no padding: four table lookups, one sign test (the evidence's
  // entries are hundreds of kilobytes of this).
  const size_t unpadded_end = text.empty() ? 0 : text.size() - 4;
  for (size_t i = 0; i < unpadded_end; i += 4) {
    const int8_t a = value_at(i), b = value_at(i + 1), c = value_at(i + 2), d = value_at(i + 3);
    if ((a | b | c | d) < 0) return invalid_in_group(i, 4);
    const uint32_t group = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                           (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    out[written++] = static_cast<uint8_t>(group >> 16);
    out[written++] = static_cast<uint8_t>(group >> 8);
    out[written++] = static_cast<uint8_t>(group);
  }
  if (!text.empty()) {
    const size_t i = unpadded_end;
    const size_t padding = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
    uint32_t group = 0;
    for (size_t j = 0; j < 4 - padding; ++j) {
      const int8_t value = value_at(i + j);
      if (value < 0) return invalid_in_group(i, 4 - padding);
      group |= static_cast<uint32_t>(value) << (18 - 6 * j);
    }
    // Bits the padding drops must be zero, else two texts would decode alike.
    if ((padding == 1 && (group & 0xff) != 0) || (padding == 2 && (group & 0xffff) != 0)) {
      return fail("base64 has non-zero padding bits at offset " + std::to_string(i));
    }
    out[written++] = static_cast<uint8_t>(group >> 16);
    if (padding < 2) out[written++] = static_cast<uint8_t>(group >> 8);
    if (padding < 1) out[written++] = static_cast<uint8_t>(group);
  }
  out.resize(written);
  return out;
}

}  // namespace vigil::attest
