#pragma once
// Bytes as lowercase hex, the way digests, key ids and nonces are shown everywhere in vigil.
#include <cstdint>
#include <span>
#include <string>

namespace vigil {

std::string hex_text(std::span<const uint8_t> bytes);

}  // namespace vigil
