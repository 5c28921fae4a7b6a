#pragma once
// One conversation with a TPM 2.0 through tss2-esys: TCTI loaded, ESYS context started,
// TPM2_Startup sent; closed again when the object goes away. TCP TPMs (swtpm, mssim) serve one
// client at a time, so vigil never keeps a connection between operations: the agent's PCR
// extends, the attestation TPM and outside tools (tpm2-tools) each get their turn. Within the
// process one lock orders all connections, so two of vigil's never wait on each other at the
// socket.
#include <memory>
#include <mutex>
#include <string>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "common/error.h"

namespace vigil::tpm {

class EsysConnection {
 public:
  // spec: "device:/dev/tpmrm0", "swtpm:host=H,port=P", "mssim:...", "tabrmd:...". A TCP swtpm
  // is probed with a deadline first (its TCTI would block forever on a peer that never answers).
  static Result<EsysConnection> open(const std::string& spec);

  ESYS_CONTEXT* esys() const { return esys_.get(); }
  const std::string& spec() const { return spec_; }

 private:
  struct TctiFree {
    void operator()(TSS2_TCTI_CONTEXT* context) const { Tss2_TctiLdr_Finalize(&context); }
  };
  struct EsysFree {
    void operator()(ESYS_CONTEXT* context) const { Esys_Finalize(&context); }
  };

  EsysConnection() = default;

  // Destroyed in reverse: ESYS, then the TCTI, then the lock is released.
  std::unique_lock<std::mutex> turn_;
  std::string spec_;
  std::unique_ptr<TSS2_TCTI_CONTEXT, TctiFree> tcti_;
  std::unique_ptr<ESYS_CONTEXT, EsysFree> esys_;
};

// Checks that spec names a TCTI vigil knows (the loader would otherwise dlopen any library).
Result<void> check_tcti_spec(const std::string& spec);

// "TPM SPEC: WHAT: decoded rc (0x...)".
std::unexpected<Error> tss_fail(const std::string& spec, const std::string& what, TSS2_RC rc);

// True when rc comes from the TPM itself (the connection is still in step), false for
// failures below it (TCTI, ESYS).
bool is_tpm_response_code(TSS2_RC rc);

// Frees ESYS-allocated outputs.
struct EsysMemFree {
  void operator()(void* memory) const { Esys_Free(memory); }
};
template <class T>
using EsysPtr = std::unique_ptr<T, EsysMemFree>;

}  // namespace vigil::tpm
