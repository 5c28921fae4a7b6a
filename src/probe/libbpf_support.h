#pragma once
// Internal to vigil_probe: libbpf's diagnostics turned into vigil::Error messages, and RAII
// deleters for libbpf handles. Not installed for consumers (they see probe.h only).
#include <bpf/libbpf.h>

#include <cstddef>
#include <span>
#include <string>

#include "common/error.h"

namespace vigil::probe::detail {

// libbpf reports details (verifier log, missing BTF, ...) through one process-wide print
// callback. While a LibbpfLog is alive on a thread, warnings are collected for the error
// message; outside of one they go to stderr. Debug output is dropped.
class LibbpfLog {
 public:
  LibbpfLog();
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  // "what: strerror (libbpf: last lines)" for a libbpf call that returned -err (or set errno).
  std::unexpected<Error> fail(const std::string& what, int err) const;

 private:
  std::string text_;
  std::string* previous_ = nullptr;
};

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

// The callback of the poll in progress; ring_buffer__new binds a pointer to one of these.
struct PollContext {
  void (*fn)(void*, std::span<const std::uint8_t>) = nullptr;
  void* ctx = nullptr;
};
int on_ring_record(void* ctx, void* data, std::size_t size);

}  // namespace vigil::probe::detail
