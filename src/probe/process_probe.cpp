// ProcessProbe: the libbpf skeleton of bpf/process.bpf.c behind RAII handles.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "probe/probe.h"
#include "process.skel.h"

namespace vigil::probe {
namespace {

// libbpf reports details (verifier log, missing BTF, ...) through one process-wide print
// callback. While a LibbpfLog is alive on a thread, warnings are collected for the error message.
thread_local std::string* captured_log = nullptr;
constexpr std::size_t kMaxLog = 4096;  // keep the tail: the verifier's verdict is at the end

int print_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof(line), format, args);
  if (n < 0) return 0;
  std::size_t len = std::min(static_cast<std::size_t>(n), sizeof(line) - 1);
  if (captured_log == nullptr) {
    std::fprintf(stderr, "libbpf: %.*s", static_cast<int>(len), line);
    return 0;
  }
  captured_log->append(line, len);
  if (captured_log->size() > kMaxLog) captured_log->erase(0, captured_log->size() - kMaxLog);
  return 0;
}

class LibbpfLog {
 public:
  LibbpfLog() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(print_libbpf); });
    previous_ = std::exchange(captured_log, &text_);
  }
  ~LibbpfLog() { captured_log = previous_; }
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  // "what: strerror (libbpf: last lines)" for a libbpf call that returned -err.
  std::unexpected<Error> fail(const std::string& what, int err) const {
    err = err < 0 ? -err : err;
    char reason[256];
    libbpf_strerror(err, reason, sizeof(reason));
    std::string message = what + ": " + reason;
    // libbpf's lines start with "libbpf: "; keep the message on one line.
    std::string log;
    for (char c : text_) log += c == '\n' ? std::string("; ") : std::string(1, c);
    while (!log.empty() && (log.back() == ' ' || log.back() == ';')) log.pop_back();
    if (!log.empty()) message += " (" + log + ")";
    return vigil::fail(std::move(message), err);
  }

 private:
  std::string text_;
  std::string* previous_ = nullptr;
};

struct SkeletonDeleter {
  void operator()(vigil_process_bpf* skel) const { vigil_process_bpf::destroy(skel); }
};
struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

struct PollContext {
  void (*fn)(void*, std::span<const std::uint8_t>);
  void* ctx;
};

int on_ring_record(void* ctx, void* data, std::size_t size) {
  auto* poll = static_cast<PollContext*>(ctx);
  poll->fn(poll->ctx, std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data), size));
  return 0;
}

}  // namespace

// Members are destroyed in reverse order: links (detach) first, then the ring buffer reader,
// then the skeleton (programs and maps).
struct ProcessProbe::State {
  std::unique_ptr<vigil_process_bpf, SkeletonDeleter> skel;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  PollContext poll{};  // the callback of the poll in progress (ring_buffer__new binds &poll)
};

Result<void> validate(const ProcessProbeOptions& options) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t bytes = options.ring_buffer_bytes;
  if (bytes < page || (bytes & (bytes - 1)) != 0 || bytes > (std::size_t{1} << 30)) {
    return fail("ring buffer size " + std::to_string(bytes) +
                " must be a power of two between one page (" + std::to_string(page) + ") and 1 GiB");
  }
  return {};
}

Result<ProcessProbe> ProcessProbe::open(const ProcessProbeOptions& options) {
  if (auto ok = validate(options); !ok) return std::unexpected(ok.error());
  LibbpfLog log;
  auto state = std::make_unique<State>();

  state->skel.reset(vigil_process_bpf::open());
  if (!state->skel) return log.fail("open eBPF process probe", errno);
  int err = bpf_map__set_max_entries(state->skel->maps.events,
                                     static_cast<__u32>(options.ring_buffer_bytes));
  if (err != 0) return log.fail("size eBPF ring buffer", err);
  err = vigil_process_bpf::load(state->skel.get());
  if (err != 0) return log.fail("load eBPF process probe", err);

  // Programs are attached one by one (not with the skeleton's attach) so each link is owned
  // here and a program that is not wanted or not supported can be left out later.
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, state->skel->obj) {
    if (!bpf_program__autoload(program)) continue;
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      return log.fail(std::string("attach eBPF program ") + bpf_program__name(program), errno);
    }
    state->links.emplace_back(link);
  }

  state->ring.reset(ring_buffer__new(bpf_map__fd(state->skel->maps.events), on_ring_record,
                                     &state->poll, nullptr));
  if (!state->ring) return log.fail("open eBPF ring buffer", errno);
  return ProcessProbe(std::move(state));
}

ProcessProbe::ProcessProbe(std::unique_ptr<State> state) : state_(std::move(state)) {}
ProcessProbe::ProcessProbe(ProcessProbe&&) noexcept = default;
ProcessProbe& ProcessProbe::operator=(ProcessProbe&&) noexcept = default;
ProcessProbe::~ProcessProbe() = default;

Result<std::size_t> ProcessProbe::poll_impl(std::chrono::milliseconds timeout, RecordFn fn, void* ctx) {
  if (!state_) return fail("process probe is closed");
  auto ms = timeout.count();
  int timeout_ms = ms < 0 ? -1 : static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
  state_->poll = PollContext{fn, ctx};
  LibbpfLog log;
  int n = ring_buffer__poll(state_->ring.get(), timeout_ms);
  state_->poll = PollContext{};
  if (n == -EINTR) return std::size_t{0};
  if (n < 0) return log.fail("poll eBPF ring buffer", n);
  return static_cast<std::size_t>(n);
}

Result<DropCounts> ProcessProbe::drops() const {
  if (!state_) return fail("process probe is closed");
  LibbpfLog log;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return log.fail("count possible CPUs", cpus);
  DropCounts counts;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (__u32 type = 0; type < VIGIL_EVENT_TYPE_COUNT; ++type) {
    int err = bpf_map__lookup_elem(state_->skel->maps.drops, &type, sizeof(type), per_cpu.data(),
                                   per_cpu.size() * sizeof(std::uint64_t), 0);
    if (err != 0) return log.fail("read eBPF drop counters", err);
    for (std::uint64_t n : per_cpu) counts.by_type[type] += n;
    counts.total += counts.by_type[type];
  }
  return counts;
}

int ProcessProbe::event_fd() const { return state_ ? ring_buffer__epoll_fd(state_->ring.get()) : -1; }

}  // namespace vigil::probe
