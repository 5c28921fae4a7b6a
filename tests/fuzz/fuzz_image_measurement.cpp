// The request `vigil oci-hook` sends to the agent's image socket (root or the agent's user only,
// still parsed as untrusted): reject or accept without crashing; what is accepted re-encodes to
// a request that parses to the same measurement.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil;
  auto parsed = image::parse_image_measurement(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed) return 0;
  const std::string request = image::image_measurement_request(*parsed);
  auto again = image::parse_image_measurement(std::string_view(request).substr(0, request.size() - 1));
  if (!again || again->container != parsed->container || !(again->manifest == parsed->manifest)) std::abort();
  (void)image::image_measurement_entry(*again, 10);
  return 0;
}
