// `vigil capture`: print or record runtime events, live from the eBPF probes or from a capture
// file (-r), filtered by type, pid and container. Reads any EventSource, so everything it shows
// from a replay it would have shown live.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/capture_filter.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "events/capture_file.h"
#include "events/live/live_source.h"
#include "events/render.h"
#include "events/replay_source.h"

namespace vigil::cli {
namespace {

using namespace std::chrono_literals;

struct CaptureArgs {
  std::string write_path;
  std::string read_path;
  bool json = false;
  bool print = false;  // with -w: print too
  std::vector<std::string> types;
  std::vector<std::uint32_t> pids;
  std::vector<std::string> containers;
  std::vector<std::string> path_prefixes;  // live: the kernel's path filter on single-path file syscalls
  std::uint64_t count = 0;  // 0: unlimited
  double duration_seconds = 0;
  std::size_t ring_buffer_mb = 8;
};

volatile sig_atomic_t g_stop = 0;

void request_stop(int) { g_stop = 1; }

// SIGINT/SIGTERM end the capture after the current batch; no SA_RESTART, so a blocked poll
// returns at once.
void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

constexpr std::size_t kMaxReportedDecodeErrors = 10;

class CaptureSink final : public events::EventHandler {
 public:
  CaptureSink(const CaptureArgs& args, CaptureFilter& filter, events::TimeAnchor anchor,
              std::optional<events::CaptureWriter> writer)
      : args_(args), filter_(filter), anchor_(anchor), writer_(std::move(writer)) {}

  void on_event(const events::Event& event, std::span<const std::uint8_t> raw) override {
    if (done() || !filter_.matches(event)) return;
    if (args_.duration_seconds > 0 && replay_) {
      // Replay: --duration is measured in recorded time from the first event.
      if (!first_timestamp_) first_timestamp_ = event.task.timestamp_ns;
      if (static_cast<double>(event.task.timestamp_ns - *first_timestamp_) / 1e9 > args_.duration_seconds) {
        duration_reached_ = true;
        return;
      }
    }
    ++matched_;
    write(raw);
    if (!writer_ || args_.print) print(event);
  }

  void on_decode_error(const events::DecodeError& error, std::span<const std::uint8_t> raw) override {
    // Unfiltered captures keep every record as it came, decodable or not.
    if (!filter_.filters_anything() && !done()) write(raw);
    if (++decode_errors_ <= kMaxReportedDecodeErrors) {
      std::fprintf(stderr, "vigil capture: undecodable record: %s%s\n", events::describe(error).c_str(),
                   decode_errors_ == kMaxReportedDecodeErrors ? " (further ones are only counted)" : "");
    }
  }

  bool done() const {
    return (args_.count > 0 && matched_ >= args_.count) || duration_reached_ || write_error_.has_value();
  }
  void set_replay(bool replay) { replay_ = replay; }
  std::uint64_t matched() const { return matched_; }
  const std::optional<Error>& write_error() const { return write_error_; }
  Result<void> close_writer() { return writer_ ? writer_->close() : Result<void>{}; }

 private:
  void write(std::span<const std::uint8_t> raw) {
    if (!writer_) return;
    if (auto written = writer_->write(raw); !written) write_error_ = written.error();
  }

  void print(const events::Event& event) {
    if (args_.json) {
      print_json(events::event_to_json(event, &anchor_));
      return;
    }
    line_.clear();
    events::append_event_line(line_, event, &anchor_);
    line_ += '\n';
    std::fwrite(line_.data(), 1, line_.size(), stdout);
  }

  const CaptureArgs& args_;
  CaptureFilter& filter_;
  events::TimeAnchor anchor_;
  std::optional<events::CaptureWriter> writer_;
  std::string line_;  // reused: one allocation for the whole capture
  std::uint64_t matched_ = 0;
  std::uint64_t decode_errors_ = 0;
  std::optional<std::uint64_t> first_timestamp_;
  bool replay_ = false;
  bool duration_reached_ = false;
  std::optional<Error> write_error_;
};

void print_summary(const events::CounterSnapshot& counters, std::uint64_t matched) {
  std::string text = fmt::format("vigil capture: {} records, {} events", counters.records, counters.events);
  if (counters.events > 0) {
    std::string by_type;
    for (std::size_t i = 0; i < events::kEventTypeCount; ++i) {
      if (counters.events_by_type[i] == 0) continue;
      if (!by_type.empty()) by_type += ", ";
      by_type += fmt::format("{} {}", events::event_type_name(static_cast<events::EventType>(i)),
                             counters.events_by_type[i]);
    }
    text += " (" + by_type + ")";
  }
  text += fmt::format(", {} matched the filters, {} decode errors", matched, counters.decode_errors);
  if (counters.decode_errors > 0) {
    std::string by_reason;
    for (std::size_t i = 0; i < events::kDecodeErrorReasonCount; ++i) {
      if (counters.decode_errors_by_reason[i] == 0) continue;
      if (!by_reason.empty()) by_reason += ", ";
      by_reason += fmt::format("{} {}", events::decode_error_reason_name(static_cast<events::DecodeErrorReason>(i)),
                               counters.decode_errors_by_reason[i]);
    }
    text += " (" + by_reason + ")";
  }
  if (counters.ring_buffer_fill) {
    text += fmt::format(", {} dropped by the kernel, ring buffer {}/{} bytes", counters.drops,
                        counters.ring_buffer_fill->pending_bytes, counters.ring_buffer_fill->capacity_bytes);
  }
  std::fprintf(stderr, "%s\n", text.c_str());
}

std::unique_ptr<events::EventSource> open_source(const CaptureArgs& args, const CaptureFilter& filter) {
  if (!args.read_path.empty()) {
    auto replay = events::ReplaySource::open(args.read_path);
    if (!replay) throw UsageError(replay.error().message);
    return std::make_unique<events::ReplaySource>(std::move(*replay));
  }
  events::LiveSourceOptions options;
  options.ring_buffer_bytes = args.ring_buffer_mb << 20;
  if (const auto types = filter.types(); !types.empty()) options.types = types;
  auto live = events::LiveSource::open(options);
  if (!live) {
    if (::geteuid() != 0) {
      throw UsageError(
          "live capture needs root (CAP_BPF and CAP_PERFMON); to read a recorded capture use -r FILE (eBPF: " +
          live.error().message + ")");
    }
    throw UsageError("cannot start the eBPF probes: " + live.error().message);
  }
  if (!args.path_prefixes.empty()) {
    // Every single-path file syscall being captured gets the same filter.
    std::map<events::EventType, probe::PathFilter> filters;
    probe::PathFilter filter_of_paths;
    filter_of_paths.prefixes = args.path_prefixes;
    for (const auto& supported : probe::EventProbe::supported_syscalls()) {
      const events::EventType type = events::event_type_of_syscall(supported.number);
      const auto wanted = filter.types();
      const bool captured = wanted.empty() || std::ranges::find(wanted, type) != wanted.end();
      if (captured && probe::path_filter_supported(supported.number)) filters[type] = filter_of_paths;
    }
    if (auto set = live->set_path_filters(filters); !set) throw UsageError("--path: " + set.error().message);
  }
  return std::make_unique<events::LiveSource>(std::move(*live));
}

int run_capture(const CaptureArgs& args) {
  if ((args.ring_buffer_mb & (args.ring_buffer_mb - 1)) != 0 || args.ring_buffer_mb == 0) {
    throw UsageError("--ring-buffer-mb must be a power of two");
  }
  if (!args.path_prefixes.empty() && !args.read_path.empty()) {
    throw UsageError("--path filters in the kernel while capturing live; it cannot be used with -r");
  }
  CaptureFilter filter;
  for (const auto& name : args.types) filter.add_type_name(name);
  for (auto pid : args.pids) filter.add_pid(pid);
  for (const auto& id : args.containers) filter.add_container(id);

  auto source = open_source(args, filter);
  const bool replay = !args.read_path.empty();
  if (!replay) filter.exclude_pid(static_cast<std::uint32_t>(::getpid()));
  std::optional<events::CaptureWriter> writer;
  if (!args.write_path.empty()) {
    // The source's anchor, so a re-written capture shows the same wall times.
    auto created = events::CaptureWriter::create(args.write_path, source->time_anchor());
    if (!created) throw UsageError(created.error().message);
    writer.emplace(std::move(*created));
  }
  CaptureSink sink(args, filter, source->time_anchor(), std::move(writer));
  sink.set_replay(replay);
  install_stop_handlers();

  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(args.duration_seconds));
  int exit_code = kExitOk;
  while (!g_stop && !sink.done()) {
    if (!replay && args.duration_seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
    auto batch = source->next_batch(200ms, sink);
    std::fflush(stdout);
    if (!batch) {
      std::fprintf(stderr, "vigil capture: %s\n", batch.error().message.c_str());
      exit_code = kExitFailures;
      break;
    }
    if (batch->end) break;
  }
  if (sink.write_error()) {
    std::fprintf(stderr, "vigil capture: %s\n", sink.write_error()->message.c_str());
    exit_code = kExitFailures;
  }
  if (auto closed = sink.close_writer(); !closed) {
    std::fprintf(stderr, "vigil capture: %s\n", closed.error().message.c_str());
    exit_code = kExitFailures;
  }
  print_summary(source->counters(), sink.matched());
  return exit_code;
}

}  // namespace

void add_capture_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* capture = app.add_subcommand(
      "capture", "Print or record runtime events (eBPF, live; needs root) or replay a capture file (-r)");
  capture->add_option("-w,--write", args->write_path, "Write the raw records to FILE (a capture file, mode 0600)");
  capture->add_option("-r,--read", args->read_path, "Read events from a capture FILE instead of the live probes")
      ->check(CLI::ExistingFile);
  capture->add_flag("--json", args->json, "Print one JSON object per event and line");
  capture->add_flag("--print", args->print, "With -w: print the events too");
  capture->add_option("--syscall", args->types,
                      "Only this event type (repeatable): a syscall name (openat, connect, execve, ...) or "
                      "procexec/fork/procexit; live, the kernel records only these syscalls");
  capture->add_option("--path", args->path_prefixes,
                      "Live: file syscalls with a path (open*, creat, unlink*, rename*, chmod*, chown*, mount, "
                      "umount2) leave the kernel only under this absolute prefix (repeatable; byte-wise)");
  capture->add_option("--pid", args->pids, "Only events of this process (repeatable), and the fork creating it");
  capture->add_option("--container", args->containers,
                      "Only events in this container (repeatable): ID or a prefix of at least 4 hex digits");
  capture->add_option("--count", args->count, "Stop after N events (that matched the filters)");
  capture->add_option("--duration", args->duration_seconds,
                      "Stop after S seconds (replay: S seconds of recorded time)")
      ->check(CLI::NonNegativeNumber);
  capture->add_option("--ring-buffer-mb", args->ring_buffer_mb, "Kernel ring buffer size in MiB (power of two)")
      ->capture_default_str();
  capture->callback([args, &exit_code] { exit_code = run_capture(*args); });
}

}  // namespace vigil::cli
