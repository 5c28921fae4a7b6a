// PCRs of a TPM 2.0 through tss2-esys: a device (/dev/tpmrm0), swtpm or the Microsoft
// simulator, reached through the TCTI loader. One mutex serializes every ESYS call (an
// ESYS_CONTEXT is not thread-safe).
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm/tpm.h"

namespace vigil::tpm {

namespace detail {
// Defined in software_pcrs.cpp: orders the caller's digests by bank and rejects wrong sizes,
// unknown banks, duplicates and missing banks.
Result<std::vector<const crypto::Digest*>> match_bank_digests(std::span<const crypto::HashAlgo> banks,
                                                              std::span<const crypto::Digest> digests);
}  // namespace detail

namespace {

constexpr int kProbeTimeoutMs = 3000;

struct AlgoMapping {
  TPM2_ALG_ID tpm;
  crypto::HashAlgo algo;
};
constexpr AlgoMapping kAlgos[] = {
    {TPM2_ALG_SHA1, crypto::HashAlgo::sha1},     {TPM2_ALG_SHA256, crypto::HashAlgo::sha256},
    {TPM2_ALG_SHA384, crypto::HashAlgo::sha384}, {TPM2_ALG_SHA512, crypto::HashAlgo::sha512},
    {TPM2_ALG_SM3_256, crypto::HashAlgo::sm3},
};

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

std::unexpected<Error> tss_fail(const std::string& spec, const std::string& what, TSS2_RC rc) {
  const char* decoded = Tss2_RC_Decode(rc);
  return fail("TPM " + spec + ": " + what + ": " + (decoded ? decoded : "unknown error") + " (" + hex32(rc) + ")");
}

// ---- A bounded first contact with a TCP TPM ------------------------------------------------
// The swtpm TCTI blocks forever on a peer that accepts but never answers. Before handing the
// spec to it, vigil sends one TPM2_GetCapability itself, with a deadline, and checks that a
// TPM 2.0 response comes back.

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

Result<void> probe_tcp_tpm(const std::string& spec, const std::string& host, const std::string& port) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(kProbeTimeoutMs);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail("TPM " + spec + ": cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  std::string last_error = "no address";
  for (const addrinfo* address = addresses.get(); address != nullptr; address = address->ai_next) {
    Fd sock(::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol));
    if (sock.get() < 0) {
      last_error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (::connect(sock.get(), address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = "connect to " + host + ":" + port + ": " + std::strerror(errno);
        continue;
      }
      if (!wait_for(sock.get(), POLLOUT, deadline)) {
        last_error = "connect to " + host + ":" + port + ": timed out";
        continue;
      }
      int so_error = 0;
      socklen_t length = sizeof so_error;
      ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &so_error, &length);
      if (so_error != 0) {
        last_error = "connect to " + host + ":" + port + ": " + std::strerror(so_error);
        continue;
      }
    }
    // TPM2_GetCapability(TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1), no sessions.
    static constexpr uint8_t kCommand[] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x01, 0x7a, 0x00,
                                           0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01};
    if (::send(sock.get(), kCommand, sizeof kCommand, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kCommand)) {
      last_error = "send to " + host + ":" + port + ": " + std::strerror(errno);
      continue;
    }
    std::array<uint8_t, 4096> response{};
    size_t have = 0;
    size_t want = 10;  // the header first, then the size it announces
    while (have < want) {
      if (!wait_for(sock.get(), POLLIN, deadline)) {
        return fail("TPM " + spec + ": no TPM response from " + host + ":" + port + " within " +
                    std::to_string(kProbeTimeoutMs / 1000) + " s");
      }
      const ssize_t got = ::recv(sock.get(), response.data() + have, want - have, 0);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        return fail("TPM " + spec + ": " + host + ":" + port + " closed the connection without a TPM response");
      }
      have += static_cast<size_t>(got);
      if (have == 10) {
        const uint16_t tag = static_cast<uint16_t>(response[0] << 8 | response[1]);
        const uint32_t size = static_cast<uint32_t>(response[2]) << 24 | static_cast<uint32_t>(response[3]) << 16 |
                              static_cast<uint32_t>(response[4]) << 8 | response[5];
        if ((tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS) || size < 10 || size > response.size()) {
          return fail("TPM " + spec + ": " + host + ":" + port + " does not answer like a TPM 2.0");
        }
        want = size;
      }
    }
    return {};
  }
  return fail("TPM " + spec + ": " + last_error);
}

// "swtpm:host=H,port=P": probe H:P first. Other TCTIs (device, mssim, tabrmd) go straight in.
Result<void> probe_if_tcp(const std::string& spec, std::string_view name, std::string_view conf) {
  if (name != "swtpm") return {};
  std::string host = "localhost";
  std::string port = "2321";
  while (!conf.empty()) {
    const size_t comma = conf.find(',');
    const std::string_view item = conf.substr(0, comma);
    conf = comma == std::string_view::npos ? std::string_view{} : conf.substr(comma + 1);
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) return fail("TPM " + spec + ": expected key=value, got '" + std::string(item) + "'");
    const std::string_view key = item.substr(0, equals);
    const std::string_view value = item.substr(equals + 1);
    if (key == "host") {
      host = value;
    } else if (key == "port") {
      unsigned number = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (value.empty() || error != std::errc() || end != value.data() + value.size() || number == 0 || number > 65535) {
        return fail("TPM " + spec + ": bad port '" + std::string(value) + "'");
      }
      port = value;
    } else {
      return {};  // an option vigil does not know (e.g. path=): let the TCTI judge it
    }
  }
  return probe_tcp_tpm(spec, host, port);
}

// ---- The backend ---------------------------------------------------------------------------

struct EsysMemFree {
  void operator()(void* memory) const { Esys_Free(memory); }
};
template <class T>
using EsysPtr = std::unique_ptr<T, EsysMemFree>;

struct TctiFree {
  void operator()(TSS2_TCTI_CONTEXT* context) const { Tss2_TctiLdr_Finalize(&context); }
};
struct EsysFree {
  void operator()(ESYS_CONTEXT* context) const { Esys_Finalize(&context); }
};

// One TCTI and the ESYS context on it.
struct Connection {
  std::unique_ptr<TSS2_TCTI_CONTEXT, TctiFree> tcti;
  std::unique_ptr<ESYS_CONTEXT, EsysFree> esys;  // declared after tcti, so finalized before it
};

struct TpmBank {
  crypto::HashAlgo algo;
  TPM2_ALG_ID tpm_alg;
  uint8_t select_size;  // sizeofSelect the TPM reported for this bank
  bool operator==(const TpmBank&) const = default;
};

struct BankLayout {
  std::vector<TpmBank> banks;
  uint32_t pcr_count = 0;
};

// Probe (swtpm), load the TCTI, start ESYS, and send TPM2_Startup(CLEAR).
Result<Connection> connect(const std::string& spec, std::string_view name, std::string_view conf) {
  if (auto probed = probe_if_tcp(spec, name, conf); !probed) return std::unexpected(probed.error());
  Connection connection;
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  if (const TSS2_RC rc = Tss2_TctiLdr_Initialize(spec.c_str(), &tcti); rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, "Tss2_TctiLdr_Initialize", rc);
  }
  connection.tcti.reset(tcti);
  ESYS_CONTEXT* esys = nullptr;
  if (const TSS2_RC rc = Esys_Initialize(&esys, tcti, nullptr); rc != TSS2_RC_SUCCESS) {
    return tss_fail(spec, "Esys_Initialize", rc);
  }
  connection.esys.reset(esys);
  // A TPM that was started already (firmware, kernel, swtpm startup-clear) says INITIALIZE.
  if (const TSS2_RC rc = Esys_Startup(esys, TPM2_SU_CLEAR); rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
    return tss_fail(spec, "Esys_Startup", rc);
  }
  return connection;
}

// Active banks: those with any PCR allocated, among the algorithms vigil can hash.
Result<BankLayout> query_banks(const std::string& spec, ESYS_CONTEXT* esys) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc =
      Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owner(data);
  if (rc != TSS2_RC_SUCCESS) return tss_fail(spec, "Esys_GetCapability(TPM2_CAP_PCRS)", rc);
  if (data == nullptr || data->capability != TPM2_CAP_PCRS) {
    return fail("TPM " + spec + ": Esys_GetCapability(TPM2_CAP_PCRS) returned no PCR selection");
  }
  const TPML_PCR_SELECTION& assigned = data->data.assignedPCR;
  const uint32_t count = std::min<uint32_t>(assigned.count, TPM2_NUM_PCR_BANKS);
  BankLayout layout;
  layout.pcr_count = 32;  // ESYS_TR_PCR0..ESYS_TR_PCR31
  for (uint32_t i = 0; i < count; ++i) {
    const TPMS_PCR_SELECTION& selection = assigned.pcrSelections[i];
    const uint8_t select_size = std::min<uint8_t>(selection.sizeofSelect, TPM2_PCR_SELECT_MAX);
    const bool any = std::any_of(selection.pcrSelect, selection.pcrSelect + select_size, [](BYTE b) { return b != 0; });
    const auto known = std::find_if(std::begin(kAlgos), std::end(kAlgos),
                                    [&](const AlgoMapping& m) { return m.tpm == selection.hash; });
    if (!any || known == std::end(kAlgos)) continue;
    if (std::any_of(layout.banks.begin(), layout.banks.end(), [&](const TpmBank& b) { return b.algo == known->algo; })) {
      continue;
    }
    layout.banks.push_back({known->algo, selection.hash, select_size});
    layout.pcr_count = std::min<uint32_t>(layout.pcr_count, select_size * 8u);
  }
  if (layout.banks.empty()) return fail("TPM " + spec + ": no active PCR bank in sha1/sha256/sha384/sha512/sm3");
  return layout;
}

class EsysPcrs final : public PcrBackend {
 public:
  static Result<std::unique_ptr<PcrBackend>> open(const std::string& spec) {
    const size_t colon = spec.find(':');
    const std::string name = spec.substr(0, colon);
    // Only TCTIs vigil knows; the loader would otherwise dlopen whatever library is named.
    if (name != "device" && name != "swtpm" && name != "mssim" && name != "tabrmd") {
      return fail("TPM '" + spec + "': unknown TCTI '" + name +
                  "' (expected none, device:PATH, swtpm:host=H,port=P, mssim:..., tabrmd:...)");
    }
    auto backend = std::unique_ptr<EsysPcrs>(new EsysPcrs(spec, colon));
    auto connection = connect(spec, backend->name(), backend->conf());
    if (!connection) return std::unexpected(connection.error());
    auto layout = query_banks(spec, connection->esys.get());
    if (!layout) return std::unexpected(layout.error());
    backend->connection_.emplace(std::move(*connection));
    backend->layout_ = std::move(*layout);
    for (const auto& bank : backend->layout_.banks) backend->algos_.push_back(bank.algo);
    return std::unique_ptr<PcrBackend>(std::move(backend));
  }

  std::vector<crypto::HashAlgo> banks() const override { return algos_; }  // fixed after open

  Result<void> extend(uint32_t pcr, std::span<const crypto::Digest> digests) override {
    if (pcr >= layout_.pcr_count) return no_such_pcr("PCR extend", pcr);
    auto matched = detail::match_bank_digests(algos_, digests);
    if (!matched) return fail("TPM " + spec_ + ": " + matched.error().message);
    TPML_DIGEST_VALUES values{};
    values.count = static_cast<UINT32>(layout_.banks.size());
    for (size_t i = 0; i < layout_.banks.size(); ++i) {
      const crypto::Digest& digest = *(*matched)[i];
      values.digests[i].hashAlg = layout_.banks[i].tpm_alg;
      static_assert(sizeof(values.digests[i].digest) >= crypto::kMaxDigestSize);
      std::memcpy(&values.digests[i].digest, digest.bytes.data(), digest.size);
    }
    std::lock_guard lock(mutex_);
    auto esys = context();
    if (!esys) return std::unexpected(esys.error());
    const TSS2_RC rc = Esys_PCR_Extend(*esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) return failed("Esys_PCR_Extend(PCR " + std::to_string(pcr) + ")", rc);
    return {};
  }

  Result<crypto::Digest> read(uint32_t pcr, crypto::HashAlgo bank) override {
    if (pcr >= layout_.pcr_count) return no_such_pcr("PCR read", pcr);
    const auto found =
        std::find_if(layout_.banks.begin(), layout_.banks.end(), [&](const TpmBank& b) { return b.algo == bank; });
    if (found == layout_.banks.end()) {
      return fail("TPM " + spec_ + ": PCR read: no active " + std::string(crypto::hash_name(bank)) + " bank");
    }
    TPML_PCR_SELECTION selection{};
    selection.count = 1;
    selection.pcrSelections[0].hash = found->tpm_alg;
    selection.pcrSelections[0].sizeofSelect = found->select_size;
    selection.pcrSelections[0].pcrSelect[pcr / 8] = static_cast<BYTE>(1u << (pcr % 8));

    const std::string what =
        "Esys_PCR_Read(PCR " + std::to_string(pcr) + ", " + std::string(crypto::hash_name(bank)) + ")";
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION* selection_out = nullptr;
    TPML_DIGEST* values_out = nullptr;
    std::unique_lock lock(mutex_);
    auto esys = context();
    if (!esys) return std::unexpected(esys.error());
    const TSS2_RC rc = Esys_PCR_Read(*esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &selection, &update_counter,
                                     &selection_out, &values_out);
    EsysPtr<TPML_PCR_SELECTION> selection_owner(selection_out);
    EsysPtr<TPML_DIGEST> values_owner(values_out);
    if (rc != TSS2_RC_SUCCESS) return failed(what, rc);
    lock.unlock();

    const size_t expected = crypto::hash_size(bank);
    if (values_out == nullptr || values_out->count != 1 || values_out->digests[0].size != expected) {
      return fail("TPM " + spec_ + ": " + what + ": the TPM returned no " + std::to_string(expected) +
                  "-byte value (PCR not allocated in this bank?)");
    }
    crypto::Digest value;
    value.algo = bank;
    value.size = static_cast<uint8_t>(expected);
    std::memcpy(value.bytes.data(), values_out->digests[0].buffer, expected);
    return value;
  }

  std::string describe() const override { return "TPM 2.0 via " + spec_; }

 private:
  EsysPcrs(std::string spec, size_t colon) : spec_(std::move(spec)), colon_(colon) {}

  std::string_view name() const { return std::string_view(spec_).substr(0, colon_); }
  std::string_view conf() const {
    return colon_ == std::string::npos ? std::string_view{} : std::string_view(spec_).substr(colon_ + 1);
  }

  std::unexpected<Error> no_such_pcr(const std::string& what, uint32_t pcr) const {
    return fail("TPM " + spec_ + ": " + what + ": no PCR " + std::to_string(pcr) + " (this TPM has 0.." +
                std::to_string(layout_.pcr_count - 1) + ")");
  }

  // The live ESYS context; after a transport failure, a fresh connection to the same spec
  // whose banks must be the ones opened with. Caller holds mutex_.
  Result<ESYS_CONTEXT*> context() {
    if (connection_) return connection_->esys.get();
    auto connection = connect(spec_, name(), conf());
    if (!connection) return fail("reconnecting: " + connection.error().message);
    auto layout = query_banks(spec_, connection->esys.get());
    if (!layout) return fail("reconnecting: " + layout.error().message);
    if (layout->banks != layout_.banks || layout->pcr_count != layout_.pcr_count) {
      return fail("TPM " + spec_ + ": reconnected, but the PCR banks are not the ones opened with");
    }
    connection_.emplace(std::move(*connection));
    return connection_->esys.get();
  }

  // A TPM error leaves the ESYS context usable. A failure below the TPM (TCTI: connection lost,
  // I/O error; ESYS itself) leaves it stuck mid-command, so it is dropped and the next call
  // reconnects. Caller holds mutex_.
  std::unexpected<Error> failed(const std::string& what, TSS2_RC rc) {
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) connection_.reset();
    return tss_fail(spec_, what, rc);
  }

  const std::string spec_;
  const size_t colon_;                    // position of ':' in spec_, or npos
  BankLayout layout_;                     // fixed after open
  std::vector<crypto::HashAlgo> algos_;   // layout_.banks[i].algo, for banks()
  std::mutex mutex_;                      // ESYS is not thread-safe: guards connection_ and every call on it
  std::optional<Connection> connection_;  // empty after a transport failure until the next call
};

}  // namespace

Result<std::unique_ptr<PcrBackend>> open_pcr_backend(const std::string& spec) {
  if (spec == "none") return make_software_pcrs();
  if (spec.empty()) return fail("TPM spec is empty (expected none, device:PATH or swtpm:host=H,port=P)");
  return EsysPcrs::open(spec);
}

}  // namespace vigil::tpm
