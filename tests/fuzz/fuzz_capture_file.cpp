// Capture files are untrusted input (`vigil capture -r` reads files from anywhere). The reader
// must accept or reject every input without reading outside it or allocating what a length
// claims; every record it returns lies inside the input; what it reads writes back to the same
// bytes; and a replay over it ends.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "events/capture_file.h"
#include "events/replay_source.h"

namespace {

struct CountingHandler final : vigil::events::EventHandler {
  std::size_t events = 0;
  std::size_t errors = 0;
  void on_event(const vigil::events::Event&, std::span<const std::uint8_t>) override { ++events; }
  void on_decode_error(const vigil::events::DecodeError&, std::span<const std::uint8_t>) override { ++errors; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  auto reader = vigil::events::CaptureReader::from_memory(input);
  if (!reader) return 0;

  // Everything read, re-encoded, must be exactly the input up to where reading stopped.
  const std::size_t header_size = static_cast<std::size_t>(reader->offset());
  if (header_size < vigil::events::kCaptureHeaderBytes || header_size > size) std::abort();
  const std::vector<std::uint8_t> header_again = vigil::events::encode_capture_header(reader->header());
  // Every header field but header_size (bytes 12..15) and the reserved bytes (40..) came from the input.
  if (!std::equal(header_again.begin(), header_again.begin() + 12, data) ||
      !std::equal(header_again.begin() + 16, header_again.begin() + 40, data + 16)) {
    std::abort();
  }
  std::vector<std::uint8_t> records_again;
  std::size_t records = 0;
  bool clean_end = false;
  for (;;) {
    auto record = reader->next();
    if (!record) break;
    if (!*record) {
      clean_end = true;
      break;
    }
    const auto bytes = **record;
    if (bytes.size() > vigil::events::kCaptureMaxRecordBytes) std::abort();
    if (!bytes.empty() && (bytes.data() < data || bytes.data() + bytes.size() > data + size)) std::abort();
    vigil::events::append_capture_record(records_again, bytes);
    ++records;
  }
  if (reader->offset() > size) std::abort();
  if (clean_end && reader->offset() != size) std::abort();
  if (header_size + records_again.size() != reader->offset()) std::abort();
  if (!std::equal(records_again.begin(), records_again.end(), data + header_size)) std::abort();

  // A replay over the same bytes delivers the same records, then ends.
  auto replay_reader = vigil::events::CaptureReader::from_memory(input);
  if (!replay_reader) std::abort();
  vigil::events::ReplaySource replay(std::move(*replay_reader), 64);
  CountingHandler handler;
  for (int calls = 0;; ++calls) {
    if (calls > 100000) std::abort();
    auto batch = replay.next_batch(std::chrono::milliseconds(0), handler);
    if (batch && batch->end) break;
  }
  if (handler.events + handler.errors != records) std::abort();
  const auto counters = replay.counters();
  if (counters.records != records || counters.events != handler.events) std::abort();
  return 0;
}
