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

GuardState ExecGuard::state(GuardedInode inode) const {
  const vigil_guarded_inode_key key = key_of(inode);
  vigil_guarded_inode value{};
  if (bpf_map__lookup_elem(state_->skel->maps.guarded, &key, sizeof key, &value, sizeof value, 0) != 0) {
    return GuardState::absent;
  }
  switch (value.state) {
    case VIGIL_GUARD_PENDING: return GuardState::pending;
    case VIGIL_GUARD_CONFIRMED: return GuardState::confirmed;
    default: return GuardState::dirty;
  }
}

Result<void> ExecGuard::watch(GuardedInode inode) {
  const vigil_guarded_inode_key key = key_of(inode);
  const vigil_guarded_inode value{VIGIL_GUARD_PENDING, 0};
  const int err = bpf_map__update_elem(state_->skel->maps.guarded, &key, sizeof key, &value, sizeof value, BPF_ANY);
  if (err != 0) return detail::LibbpfLog().fail("exec guard: watch inode", err);
  return {};
}

void ExecGuard::mark_dirty(GuardedInode inode) {
  const vigil_guarded_inode_key key = key_of(inode);
  const vigil_guarded_inode value{VIGIL_GUARD_DIRTY, 0};
  (void)bpf_map__update_elem(state_->skel->maps.guarded, &key, sizeof key, &value, sizeof value, BPF_EXIST);
}

void ExecGuard::forget(GuardedInode inode) {
  const vigil_guarded_inode_key key = key_of(inode);
  (void)bpf_map__delete_elem(state_->skel->maps.guarded, &key, sizeof key, 0);
}

void ExecGuard::clear() {
  const int fd = bpf_map__fd(state_->skel->maps.guarded);
  vigil_guarded_inode_key key{};
  vigil_guarded_inode_key next{};
  // Deleting while iterating restarts from the beginning each time: simple and always ends.
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0) {
    key = next;
    if (bpf_map_delete_elem(fd, &key) != 0) break;
  }
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
  std::uint64_t* fields[] = {&counters.kills, &counters.lost_reports, &counters.dirtied};
  for (__u32 index = 0; index < 3; ++index) {
    if (bpf_map__lookup_elem(state_->skel->maps.counters, &index, sizeof index, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0) {
      continue;
    }
    for (std::uint64_t n : per_cpu) *fields[index] += n;
  }
  return counters;
}

}  // namespace vigil::probe
