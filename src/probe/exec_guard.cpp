// ExecGuard: the libbpf skeleton of bpf/exec_guard.bpf.c behind RAII handles.
#include "probe/exec_guard.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "exec_guard_map.h"
#include "exec_guard.skel.h"
#include "probe/libbpf_support.h"

namespace vigil::probe {
namespace {

struct SkeletonDeleter {
  void operator()(vigil_exec_guard_bpf* skel) const { vigil_exec_guard_bpf::destroy(skel); }
};

vigil_guarded_inode_key key_of(GuardedInode inode) {
  vigil_guarded_inode_key key{};
  key.inode = inode.inode;
  key.dev = inode.kernel_dev;
  return key;
}

vigil_exec_ticket_key ticket_key_of(std::uint32_t tgid, GuardedInode inode) {
  vigil_exec_ticket_key key{};
  key.inode = inode.inode;
  key.dev = inode.kernel_dev;
  key.tgid = tgid;
  return key;
}

vigil_exec_baseline to_kernel(const ExecBaseline& baseline) {
  vigil_exec_baseline value{};
  value.releases = baseline.releases;
  value.ctime_sec = baseline.ctime_sec;
  value.ctime_nsec = baseline.ctime_nsec;
  value.size = baseline.size;
  value.flags = (baseline.poison ? static_cast<__u32>(VIGIL_BASELINE_POISON) : 0u) |
                (baseline.report_only ? static_cast<__u32>(VIGIL_BASELINE_REPORT_ONLY) : 0u);
  return value;
}

}  // namespace

struct ExecGuard::State {
  std::unique_ptr<vigil_exec_guard_bpf, SkeletonDeleter> skel;
  std::unique_ptr<ring_buffer, detail::RingBufferDeleter> ring;
  std::vector<std::unique_ptr<bpf_link, detail::LinkDeleter>> links;
  const std::function<void(const GuardKill&)>* on_kill = nullptr;  // during poll_kills only
};

GuardedInode GuardedInode::of(dev_t st_dev, ino_t st_ino) {
  // The kernel's internal dev_t: MINORBITS = 20.
  return {static_cast<std::uint32_t>(major(st_dev) << 20 | minor(st_dev)), static_cast<std::uint64_t>(st_ino)};
}

ExecBaseline ExecBaseline::of(const struct stat& st, std::uint64_t releases) {
  ExecBaseline baseline;
  baseline.releases = releases;
  baseline.ctime_sec = st.st_ctim.tv_sec;
  baseline.ctime_nsec = static_cast<std::uint32_t>(st.st_ctim.tv_nsec);
  baseline.size = st.st_size;
  return baseline;
}

bool ExecBaseline::same_file_state(const struct stat& st) const {
  return st.st_ctim.tv_sec == ctime_sec && static_cast<std::uint32_t>(st.st_ctim.tv_nsec) == ctime_nsec &&
         st.st_size == size;
}

Result<ExecGuard> ExecGuard::open() {
  detail::LibbpfLog log;
  auto state = std::make_unique<State>();
  state->skel.reset(vigil_exec_guard_bpf::open_and_load());
  if (!state->skel) return log.fail("load eBPF exec guard", errno);
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, state->skel->obj) {
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) return log.fail(std::string("attach eBPF program ") + bpf_program__name(program), errno);
    state->links.emplace_back(link);
  }
  auto* raw = state.get();
  state->ring.reset(ring_buffer__new(
      bpf_map__fd(state->skel->maps.kills),
      [](void* ctx, void* data, std::size_t size) -> int {
        auto* self = static_cast<State*>(ctx);
        if (size < sizeof(vigil_guard_kill) || self->on_kill == nullptr) return 0;
        vigil_guard_kill record;
        std::memcpy(&record, data, sizeof record);
        GuardKill kill;
        kill.timestamp_ns = record.timestamp_ns;
        kill.inode = {record.dev, record.inode};
        kill.pid = record.pid;
        kill.uid = record.uid;
        kill.comm.assign(record.comm, strnlen(record.comm, sizeof record.comm));
        kill.killed = (record.flags & VIGIL_KILL_KILLED) != 0;
        kill.from_ticket = (record.flags & VIGIL_KILL_FROM_TICKET) != 0;
        kill.changed = (record.flags & VIGIL_KILL_CHANGED) != 0;
        (*self->on_kill)(kill);
        return 0;
      },
      raw, nullptr));
  if (!state->ring) return log.fail("open exec guard ring buffer", errno);
  return ExecGuard(std::move(state));
}

ExecGuard::ExecGuard(std::unique_ptr<State> state) : state_(std::move(state)) {}
ExecGuard::ExecGuard(ExecGuard&&) noexcept = default;
ExecGuard& ExecGuard::operator=(ExecGuard&&) noexcept = default;
ExecGuard::~ExecGuard() = default;

Result<void> ExecGuard::guard(GuardedInode inode, bool unlocked) {
  const vigil_guarded_inode_key key = key_of(inode);
  vigil_guarded_inode value{};
  value.flags = unlocked ? static_cast<__u32>(VIGIL_GUARD_UNLOCKED) : 0u;
  const int err = bpf_map__update_elem(state_->skel->maps.guarded, &key, sizeof key, &value, sizeof value, BPF_NOEXIST);
  if (err != 0 && err != -EEXIST) return detail::LibbpfLog().fail("exec guard: guard inode", err);
  return {};
}

std::optional<std::uint64_t> ExecGuard::releases(GuardedInode inode) const {
  const vigil_guarded_inode_key key = key_of(inode);
  vigil_guarded_inode value{};
  if (bpf_map__lookup_elem(state_->skel->maps.guarded, &key, sizeof key, &value, sizeof value, 0) != 0) {
    return std::nullopt;
  }
  return value.releases;
}

void ExecGuard::unguard(GuardedInode inode) {
  const vigil_guarded_inode_key key = key_of(inode);
  (void)bpf_map__delete_elem(state_->skel->maps.guarded, &key, sizeof key, 0);
}

Result<void> ExecGuard::issue_ticket(std::uint32_t tgid, GuardedInode inode, const ExecBaseline& baseline) {
  const vigil_exec_ticket_key key = ticket_key_of(tgid, inode);
  const vigil_exec_baseline value = to_kernel(baseline);
  const int err = bpf_map__update_elem(state_->skel->maps.tickets, &key, sizeof key, &value, sizeof value, BPF_ANY);
  if (err != 0) return detail::LibbpfLog().fail("exec guard: issue ticket", err);
  return {};
}

bool ExecGuard::ticket_outstanding(std::uint32_t tgid, GuardedInode inode) const {
  const vigil_exec_ticket_key key = ticket_key_of(tgid, inode);
  vigil_exec_baseline value{};
  return bpf_map__lookup_elem(state_->skel->maps.tickets, &key, sizeof key, &value, sizeof value, 0) == 0;
}

void ExecGuard::withdraw_ticket(std::uint32_t tgid, GuardedInode inode) {
  const vigil_exec_ticket_key key = ticket_key_of(tgid, inode);
  (void)bpf_map__delete_elem(state_->skel->maps.tickets, &key, sizeof key, 0);
}

Result<void> ExecGuard::set_cached(GuardedInode inode, const ExecBaseline& baseline) {
  const vigil_guarded_inode_key key = key_of(inode);
  const vigil_exec_baseline value = to_kernel(baseline);
  const int err = bpf_map__update_elem(state_->skel->maps.cached, &key, sizeof key, &value, sizeof value, BPF_ANY);
  if (err != 0) return detail::LibbpfLog().fail("exec guard: cache baseline", err);
  return {};
}

std::optional<ExecBaseline> ExecGuard::cached(GuardedInode inode) const {
  const vigil_guarded_inode_key key = key_of(inode);
  vigil_exec_baseline value{};
  if (bpf_map__lookup_elem(state_->skel->maps.cached, &key, sizeof key, &value, sizeof value, 0) != 0) {
    return std::nullopt;
  }
  ExecBaseline baseline;
  baseline.releases = value.releases;
  baseline.ctime_sec = value.ctime_sec;
  baseline.ctime_nsec = value.ctime_nsec;
  baseline.size = value.size;
  baseline.poison = (value.flags & VIGIL_BASELINE_POISON) != 0;
  baseline.report_only = (value.flags & VIGIL_BASELINE_REPORT_ONLY) != 0;
  return baseline;
}

void ExecGuard::remove_cached(GuardedInode inode) {
  const vigil_guarded_inode_key key = key_of(inode);
  (void)bpf_map__delete_elem(state_->skel->maps.cached, &key, sizeof key, 0);
}

namespace {
template <typename Key>
void delete_all(int fd) {
  Key next{};
  // Deleting while iterating restarts from the beginning each time: simple and always ends.
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0) {
    Key key = next;
    if (bpf_map_delete_elem(fd, &key) != 0) break;
  }
}
}  // namespace

void ExecGuard::clear() {
  // Baselines before counts: a baseline without its count kills, never the reverse.
  delete_all<vigil_guarded_inode_key>(bpf_map__fd(state_->skel->maps.cached));
  delete_all<vigil_exec_ticket_key>(bpf_map__fd(state_->skel->maps.tickets));
  delete_all<vigil_guarded_inode_key>(bpf_map__fd(state_->skel->maps.guarded));
}

Result<std::size_t> ExecGuard::poll_kills(std::chrono::milliseconds timeout,
                                          const std::function<void(const GuardKill&)>& on_kill) {
  const auto ms = timeout.count();
  state_->on_kill = &on_kill;
  const int n = ring_buffer__poll(state_->ring.get(), ms < 0 ? -1 : static_cast<int>(std::min<long long>(ms, INT_MAX)));
  state_->on_kill = nullptr;
  if (n == -EINTR) return std::size_t{0};
  if (n < 0) return detail::LibbpfLog().fail("poll exec guard ring buffer", n);
  return static_cast<std::size_t>(n);
}

GuardCounters ExecGuard::counters() const {
  GuardCounters counters;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return counters;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  std::uint64_t* fields[] = {&counters.kills, &counters.lost_reports, &counters.releases, &counters.reported,
                             &counters.tickets_consumed};
  for (__u32 index = 0; index < 5; ++index) {
    if (bpf_map__lookup_elem(state_->skel->maps.counters, &index, sizeof index, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0) {
      continue;
    }
    for (std::uint64_t n : per_cpu) *fields[index] += n;
  }
  return counters;
}

}  // namespace vigil::probe
