// EventProbe: the libbpf skeletons of bpf/process.bpf.c and bpf/syscalls.bpf.c behind RAII
// handles, sharing one ring buffer and one set of drop counters.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <climits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "probe/libbpf_support.h"
#include "probe/probe.h"
#include "process.skel.h"
#include "path_filter.h"
#include "syscall_events.h"
#include "syscalls.skel.h"

namespace vigil::probe {
namespace {

using detail::LibbpfLog;
using detail::LinkDeleter;
using detail::PollContext;
using detail::RingBufferDeleter;

// Ascending by number. The eBPF side decodes each of these (bpf/syscalls.bpf.c, on_*).
constexpr SupportedSyscall kSupported[] = {
    {"open", VIGIL_NR_open, VIGIL_EVENT_SYSCALL_FILE, false},
    {"close", VIGIL_NR_close, VIGIL_EVENT_SYSCALL_PROC, false},
    {"mmap", VIGIL_NR_mmap, VIGIL_EVENT_SYSCALL_PROC, false},
    {"mprotect", VIGIL_NR_mprotect, VIGIL_EVENT_SYSCALL_PROC, false},
    {"dup", VIGIL_NR_dup, VIGIL_EVENT_SYSCALL_PROC, false},
    {"dup2", VIGIL_NR_dup2, VIGIL_EVENT_SYSCALL_PROC, false},
    {"socket", VIGIL_NR_socket, VIGIL_EVENT_SYSCALL_NET, false},
    {"connect", VIGIL_NR_connect, VIGIL_EVENT_SYSCALL_NET, false},
    {"accept", VIGIL_NR_accept, VIGIL_EVENT_SYSCALL_NET, false},
    {"sendto", VIGIL_NR_sendto, VIGIL_EVENT_SYSCALL_IO, false},
    {"recvfrom", VIGIL_NR_recvfrom, VIGIL_EVENT_SYSCALL_IO, false},
    {"sendmsg", VIGIL_NR_sendmsg, VIGIL_EVENT_SYSCALL_IO, false},
    {"recvmsg", VIGIL_NR_recvmsg, VIGIL_EVENT_SYSCALL_IO, false},
    {"bind", VIGIL_NR_bind, VIGIL_EVENT_SYSCALL_NET, false},
    {"listen", VIGIL_NR_listen, VIGIL_EVENT_SYSCALL_NET, false},
    {"execve", VIGIL_NR_execve, VIGIL_EVENT_SYSCALL_EXEC, true},
    {"kill", VIGIL_NR_kill, VIGIL_EVENT_SYSCALL_PROC, false},
    {"chdir", VIGIL_NR_chdir, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchdir", VIGIL_NR_fchdir, VIGIL_EVENT_SYSCALL_FILE, false},
    {"rename", VIGIL_NR_rename, VIGIL_EVENT_SYSCALL_FILE, false},
    {"mkdir", VIGIL_NR_mkdir, VIGIL_EVENT_SYSCALL_FILE, false},
    {"rmdir", VIGIL_NR_rmdir, VIGIL_EVENT_SYSCALL_FILE, false},
    {"creat", VIGIL_NR_creat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"link", VIGIL_NR_link, VIGIL_EVENT_SYSCALL_FILE, false},
    {"unlink", VIGIL_NR_unlink, VIGIL_EVENT_SYSCALL_FILE, false},
    {"symlink", VIGIL_NR_symlink, VIGIL_EVENT_SYSCALL_FILE, false},
    {"chmod", VIGIL_NR_chmod, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchmod", VIGIL_NR_fchmod, VIGIL_EVENT_SYSCALL_FILE, false},
    {"chown", VIGIL_NR_chown, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchown", VIGIL_NR_fchown, VIGIL_EVENT_SYSCALL_FILE, false},
    {"lchown", VIGIL_NR_lchown, VIGIL_EVENT_SYSCALL_FILE, false},
    {"ptrace", VIGIL_NR_ptrace, VIGIL_EVENT_SYSCALL_PROC, false},
    {"setuid", VIGIL_NR_setuid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setgid", VIGIL_NR_setgid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setreuid", VIGIL_NR_setreuid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setregid", VIGIL_NR_setregid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setresuid", VIGIL_NR_setresuid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setresgid", VIGIL_NR_setresgid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setfsuid", VIGIL_NR_setfsuid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"setfsgid", VIGIL_NR_setfsgid, VIGIL_EVENT_SYSCALL_CRED, true},
    {"capset", VIGIL_NR_capset, VIGIL_EVENT_SYSCALL_CRED, true},
    {"mount", VIGIL_NR_mount, VIGIL_EVENT_SYSCALL_FILE, false},
    {"umount2", VIGIL_NR_umount2, VIGIL_EVENT_SYSCALL_FILE, false},
    {"init_module", VIGIL_NR_init_module, VIGIL_EVENT_SYSCALL_PROC, false},
    {"tkill", VIGIL_NR_tkill, VIGIL_EVENT_SYSCALL_PROC, false},
    {"tgkill", VIGIL_NR_tgkill, VIGIL_EVENT_SYSCALL_PROC, false},
    {"openat", VIGIL_NR_openat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"mkdirat", VIGIL_NR_mkdirat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchownat", VIGIL_NR_fchownat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"unlinkat", VIGIL_NR_unlinkat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"renameat", VIGIL_NR_renameat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"linkat", VIGIL_NR_linkat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"symlinkat", VIGIL_NR_symlinkat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchmodat", VIGIL_NR_fchmodat, VIGIL_EVENT_SYSCALL_FILE, false},
    {"unshare", VIGIL_NR_unshare, VIGIL_EVENT_SYSCALL_PROC, false},
    {"accept4", VIGIL_NR_accept4, VIGIL_EVENT_SYSCALL_NET, false},
    {"dup3", VIGIL_NR_dup3, VIGIL_EVENT_SYSCALL_PROC, false},
    {"setns", VIGIL_NR_setns, VIGIL_EVENT_SYSCALL_PROC, false},
    {"finit_module", VIGIL_NR_finit_module, VIGIL_EVENT_SYSCALL_PROC, false},
    {"renameat2", VIGIL_NR_renameat2, VIGIL_EVENT_SYSCALL_FILE, false},
    {"memfd_create", VIGIL_NR_memfd_create, VIGIL_EVENT_SYSCALL_PROC, false},
    {"bpf", VIGIL_NR_bpf, VIGIL_EVENT_SYSCALL_PROC, false},
    {"execveat", VIGIL_NR_execveat, VIGIL_EVENT_SYSCALL_EXEC, true},
    {"userfaultfd", VIGIL_NR_userfaultfd, VIGIL_EVENT_SYSCALL_PROC, false},
    {"openat2", VIGIL_NR_openat2, VIGIL_EVENT_SYSCALL_FILE, false},
    {"fchmodat2", VIGIL_NR_fchmodat2, VIGIL_EVENT_SYSCALL_FILE, false},
};

constexpr bool sorted_and_in_range() {
  for (std::size_t i = 0; i < std::size(kSupported); ++i) {
    if (kSupported[i].number < 0 || kSupported[i].number >= VIGIL_SYSCALL_NR_MAX) return false;
    if (i > 0 && kSupported[i - 1].number >= kSupported[i].number) return false;
  }
  return true;
}
static_assert(sorted_and_in_range(), "kSupported must be ascending and below VIGIL_SYSCALL_NR_MAX");

using SyscallSet = std::bitset<VIGIL_SYSCALL_NR_MAX>;

struct ProcessSkeletonDeleter {
  void operator()(vigil_process_bpf* skel) const { vigil_process_bpf::destroy(skel); }
};
struct SyscallsSkeletonDeleter {
  void operator()(vigil_syscalls_bpf* skel) const { vigil_syscalls_bpf::destroy(skel); }
};

// A read-only mapping of one page of the ring buffer map (its consumer or producer position).
class MappedPage {
 public:
  MappedPage() = default;
  MappedPage(const MappedPage&) = delete;
  MappedPage& operator=(const MappedPage&) = delete;
  ~MappedPage() {
    if (address_ != nullptr) ::munmap(address_, size_);
  }
  bool map(int fd, std::size_t page, off_t offset) {
    void* address = ::mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, offset);
    if (address == MAP_FAILED) return false;
    address_ = address;
    size_ = page;
    return true;
  }
  // The kernel's unsigned long at the start of the page (ring buffer positions are 8 bytes).
  std::uint64_t position() const {
    return __atomic_load_n(static_cast<const unsigned long*>(address_), __ATOMIC_ACQUIRE);
  }

 private:
  void* address_ = nullptr;
  std::size_t size_ = 0;
};

Result<SyscallSet> to_set(std::span<const int> numbers) {
  SyscallSet set;
  for (int number : numbers) {
    if (EventProbe::find_syscall(number) == nullptr)
      return fail("syscall " + std::to_string(number) + " is not supported by the syscall probe");
    set.set(static_cast<std::size_t>(number));
  }
  return set;
}

SyscallSet all_supported() {
  SyscallSet set;
  for (const auto& s : kSupported) set.set(static_cast<std::size_t>(s.number));
  return set;
}

}  // namespace

// Members are destroyed in reverse order: links (detach) first, then the ring buffer reader
// and mappings, then the skeletons (programs and maps).
struct EventProbe::State {
  std::unique_ptr<vigil_process_bpf, ProcessSkeletonDeleter> process;
  std::unique_ptr<vigil_syscalls_bpf, SyscallsSkeletonDeleter> syscalls;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
  MappedPage consumer_page;
  MappedPage producer_page;
  std::uint64_t ring_bytes = 0;
  SyscallSet wanted;  // mirrors the interest map
  SyscallSet kill_on_exit;  // mirrors the kill_on_exit map
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> process_links;
  SyscallSet tracked;  // mirrors the VIGIL_INTEREST_TRACK_CREDS bits of the interest map
  std::unique_ptr<bpf_link, LinkDeleter> exec_prepare;  // while execve/execveat is captured
  std::unique_ptr<bpf_link, LinkDeleter> cred_fork;     // these two while a set*id/capset is
  std::unique_ptr<bpf_link, LinkDeleter> cred_exec;     // captured (credential tracking)
  std::unique_ptr<bpf_link, LinkDeleter> sys_exit;
  __u32 cred_generation = 0;  // the last one handed to the kernel side
  PollContext poll{};  // the callback of the poll in progress (ring_buffer__new binds &poll)
  PathFilters path_filters;
  std::map<int, __u8> path_groups;  // syscall -> group id in the kernel's path_filter_groups
  std::vector<std::pair<__u8, std::string>> path_entries;  // the kernel's path_prefixes keys

  Result<void> apply(const SyscallSet& next);
  Result<void> apply(const PathFilters& filters);
  Result<void> write_interest(const SyscallSet& next_wanted, const SyscallSet& next_tracked);
  Result<void> start_cred_tracking();
  void stop_cred_tracking();
  Result<void> seed_creds();
};

namespace {

vigil_path_prefix_key prefix_key(__u8 group, const std::string& prefix) {
  vigil_path_prefix_key key{};
  key.prefixlen = static_cast<__u32>(8 * (1 + prefix.size()));
  key.group = group;
  std::copy(prefix.begin(), prefix.end(), key.path);
  return key;
}

}  // namespace

// New entries go in under group ids nobody uses yet, then each syscall's group switches in one
// array update, then the old entries go: a call is always judged by a complete filter.
Result<void> EventProbe::State::apply(const PathFilters& filters) {
  auto plan = plan_path_filters(filters);
  if (!plan) return std::unexpected(plan.error());
  LibbpfLog log;
  bpf_map* groups_map = syscalls->maps.path_filter_groups;
  bpf_map* prefixes_map = syscalls->maps.path_prefixes;

  std::bitset<256> in_use;
  for (const auto& [number, id] : path_groups) in_use.set(id);
  for (const auto& [id, prefix] : path_entries) in_use.set(id);
  std::vector<__u8> ids;
  for (unsigned id = 1; id < 256 && ids.size() < plan->filters.size(); ++id)
    if (!in_use.test(id)) ids.push_back(static_cast<__u8>(id));
  if (ids.size() < plan->filters.size()) return fail("no free path filter group ids");

  std::vector<std::pair<__u8, std::string>> added;
  auto undo_added = [&] {
    for (const auto& [id, prefix] : added) {
      auto key = prefix_key(id, prefix);
      bpf_map__delete_elem(prefixes_map, &key, sizeof(key), 0);
    }
  };
  for (const auto& entry : plan->entries) {
    __u8 id = ids[entry.group];
    auto key = prefix_key(id, entry.prefix);
    __u8 want = entry.want;
    int err = bpf_map__update_elem(prefixes_map, &key, sizeof(key), &want, sizeof(want), BPF_ANY);
    if (err != 0) {
      undo_added();
      return log.fail("update eBPF path filter prefixes", err);
    }
    added.emplace_back(id, entry.prefix);
  }

  // Each new group's leads before any syscall switches to it.
  std::vector<vigil_path_leads> leads(plan->filters.size());
  for (const auto& entry : plan->entries) {
    auto& bits = leads[entry.group].bits;
    if (entry.prefix.size() < 2) {
      for (auto& word : bits) word = ~__u64{0};
      continue;
    }
    auto lead = static_cast<unsigned char>(entry.prefix[1]);
    bits[lead / 64] |= __u64{1} << (lead % 64);
  }
  for (std::size_t group = 0; group < leads.size(); ++group) {
    __u32 key = ids[group];
    int err = bpf_map__update_elem(syscalls->maps.path_leads, &key, sizeof(key), &leads[group], sizeof(leads[group]), BPF_ANY);
    if (err != 0) {
      undo_added();
      return log.fail("update eBPF path filter leads", err);
    }
  }

  std::map<int, __u8> next_groups;
  for (const auto& [number, group] : plan->group_of) next_groups[number] = ids[group];
  auto set_group = [&](int number, __u8 id) {
    __u32 key = static_cast<__u32>(number);
    return bpf_map__update_elem(groups_map, &key, sizeof(key), &id, sizeof(id), BPF_ANY);
  };
  for (const auto& [number, id] : next_groups) {
    if (int err = set_group(number, id); err != 0) {
      for (const auto& [n, old] : path_groups) set_group(n, old);
      for (const auto& [n, id2] : next_groups)
        if (!path_groups.contains(n)) set_group(n, 0);
      undo_added();
      return log.fail("update eBPF path filter groups", err);
    }
  }
  for (const auto& [number, id] : path_groups)
    if (!next_groups.contains(number)) set_group(number, 0);
  for (const auto& [id, prefix] : path_entries) {
    auto key = prefix_key(id, prefix);
    bpf_map__delete_elem(prefixes_map, &key, sizeof(key), 0);
  }
  path_groups = std::move(next_groups);
  path_entries = std::move(added);
  path_filters = filters;
  return {};
}

namespace {

// The calls that can change a thread's credentials as vigil_creds holds them (set-user-ID
// execs are seen by vigil_cred_exec): noted at exit while any credential call is captured.
constexpr int kCredChanging[] = {VIGIL_NR_setuid,   VIGIL_NR_setgid,   VIGIL_NR_setreuid, VIGIL_NR_setregid,
                                 VIGIL_NR_setresuid, VIGIL_NR_setresgid, VIGIL_NR_setfsuid, VIGIL_NR_setfsgid,
                                 VIGIL_NR_capset,   VIGIL_NR_unshare,  VIGIL_NR_setns};

Result<std::unique_ptr<bpf_link, LinkDeleter>> attach(bpf_program* program) {
  LibbpfLog log;
  bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) return log.fail(std::string("attach eBPF program ") + bpf_program__name(program), errno);
  return std::unique_ptr<bpf_link, LinkDeleter>(link);
}

}  // namespace

Result<void> EventProbe::State::write_interest(const SyscallSet& next_wanted, const SyscallSet& next_tracked) {
  LibbpfLog log;
  for (std::size_t number = 0; number < next_wanted.size(); ++number) {
    if (next_wanted.test(number) == wanted.test(number) && next_tracked.test(number) == tracked.test(number)) continue;
    __u32 key = static_cast<__u32>(number);
    __u8 value = (next_wanted.test(number) ? VIGIL_INTEREST_CAPTURE : 0) |
                 (next_tracked.test(number) ? VIGIL_INTEREST_TRACK_CREDS : 0);
    int err = bpf_map__update_elem(syscalls->maps.interest, &key, sizeof(key), &value, sizeof(value), BPF_ANY);
    if (err != 0) return log.fail("update eBPF syscall interest map", err);
    wanted.set(number, next_wanted.test(number));
    tracked.set(number, next_tracked.test(number));
  }
  return {};
}

// Every thread that exists now gets an entry of the current generation, unless its own call
// already made one.
Result<void> EventProbe::State::seed_creds() {
  LibbpfLog log;
  std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach_iter(syscalls->progs.vigil_cred_seed, nullptr));
  if (!link) return log.fail("attach eBPF iterator vigil_cred_seed", errno);
  UniqueFd iterator(bpf_iter_create(bpf_link__fd(link.get())));
  if (iterator.get() < 0) return log.fail("create eBPF iterator vigil_cred_seed", errno);
  char sink[64];
  for (;;) {  // the program prints nothing: reading to the end runs it on every thread
    ssize_t n = ::read(iterator.get(), sink, sizeof(sink));
    if (n == 0) return {};
    if (n < 0 && errno != EINTR) return log.fail("run eBPF iterator vigil_cred_seed", errno);
  }
}

// A new generation, so no entry noted before is trusted; the calls that change credentials
// noted at exit and the fork/exec programs attached before the threads already running are
// seeded, so no change falls between the two.
Result<void> EventProbe::State::start_cred_tracking() {
  cred_generation = cred_generation == UINT32_MAX ? 1 : cred_generation + 1;
  syscalls->bss->cred_generation = cred_generation;
  SyscallSet next_tracked;
  for (int number : kCredChanging) next_tracked.set(static_cast<std::size_t>(number));
  if (auto ok = write_interest(wanted, next_tracked); !ok) return ok;
  auto fork_link = attach(syscalls->progs.vigil_cred_fork);
  if (!fork_link) return std::unexpected(fork_link.error());
  auto exec_link = attach(syscalls->progs.vigil_cred_exec);
  if (!exec_link) return std::unexpected(exec_link.error());
  cred_fork = std::move(*fork_link);
  cred_exec = std::move(*exec_link);
  return seed_creds();
}

// Generation 0: no entry counts, so a later start trusts nothing noted before it.
void EventProbe::State::stop_cred_tracking() {
  syscalls->bss->cred_generation = 0;
  cred_fork.reset();
  cred_exec.reset();
}

// Attach before widening the interest map and detach after narrowing it, so a captured call
// whose record needs prior state never returns without that state being kept (except calls
// already under way, which carry VIGIL_SYSCALL_NO_ENTER).
Result<void> EventProbe::State::apply(const SyscallSet& next) {
  bool need_exec_state = false;
  bool need_creds = false;
  for (const auto& s : kSupported) {
    if (!s.needs_prior_state || !next.test(static_cast<std::size_t>(s.number))) continue;
    need_exec_state |= s.record_type == VIGIL_EVENT_SYSCALL_EXEC;
    need_creds |= s.record_type == VIGIL_EVENT_SYSCALL_CRED;
  }
  if (next.any() && !sys_exit) {
    auto link = attach(syscalls->progs.vigil_sys_exit);
    if (!link) return std::unexpected(link.error());
    sys_exit = std::move(*link);
  }
  if (need_exec_state && !exec_prepare) {
    auto link = attach(syscalls->progs.vigil_exec_prepare);
    if (!link) return std::unexpected(link.error());
    exec_prepare = std::move(*link);
  }
  if (need_creds && !cred_fork) {
    if (auto ok = start_cred_tracking(); !ok) {
      stop_cred_tracking();
      (void)write_interest(wanted, SyscallSet{});
      return ok;
    }
  }
  if (auto ok = write_interest(next, need_creds ? tracked : SyscallSet{}); !ok) return ok;
  if (!need_creds && cred_fork) stop_cred_tracking();
  if (!need_exec_state) exec_prepare.reset();
  if (!next.any()) sys_exit.reset();
  return {};
}

Result<void> validate(const EventProbeOptions& options) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t bytes = options.ring_buffer_bytes;
  if (bytes < page || (bytes & (bytes - 1)) != 0 || bytes > (std::size_t{1} << 30)) {
    return fail("ring buffer size " + std::to_string(bytes) +
                " must be a power of two between one page (" + std::to_string(page) + ") and 1 GiB");
  }
  if (options.syscalls) {
    if (auto set = to_set(*options.syscalls); !set) return std::unexpected(set.error());
  }
  return {};
}

Result<EventProbe> EventProbe::open(const EventProbeOptions& options) {
  if (auto ok = validate(options); !ok) return std::unexpected(ok.error());
  SyscallSet initial = options.syscalls ? *to_set(*options.syscalls) : all_supported();
  LibbpfLog log;
  auto state = std::make_unique<State>();

  // The process object creates the shared maps (ring buffer, drop counters) ...
  state->process.reset(vigil_process_bpf::open());
  if (!state->process) return log.fail("open eBPF process probe", errno);
  int err = bpf_map__set_max_entries(state->process->maps.events,
                                     static_cast<__u32>(options.ring_buffer_bytes));
  if (err != 0) return log.fail("size eBPF ring buffer", err);
  err = vigil_process_bpf::load(state->process.get());
  if (err != 0) return log.fail("load eBPF process probe", err);

  // ... and the syscall object reuses them, so there is one ring buffer for every record.
  state->syscalls.reset(vigil_syscalls_bpf::open());
  if (!state->syscalls) return log.fail("open eBPF syscall probe", errno);
  err = bpf_map__reuse_fd(state->syscalls->maps.events, bpf_map__fd(state->process->maps.events));
  if (err != 0) return log.fail("share eBPF ring buffer with the syscall probe", err);
  err = bpf_map__reuse_fd(state->syscalls->maps.drops, bpf_map__fd(state->process->maps.drops));
  if (err != 0) return log.fail("share eBPF drop counters with the syscall probe", err);
  state->syscalls->rodata->wakeup_pending_bytes = options.ring_buffer_bytes / 4;
  err = vigil_syscalls_bpf::load(state->syscalls.get());
  if (err != 0) return log.fail("load eBPF syscall probe", err);

  // Programs are attached one by one (not with the skeleton's attach) so each link is owned
  // here and a program that is not wanted or not supported can be left out.
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, state->process->obj) {
    if (!bpf_program__autoload(program)) continue;
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      return log.fail(std::string("attach eBPF program ") + bpf_program__name(program), errno);
    }
    state->process_links.emplace_back(link);
  }
  if (auto ok = state->apply(initial); !ok) return std::unexpected(ok.error());

  const int ring_fd = bpf_map__fd(state->process->maps.events);
  state->ring.reset(ring_buffer__new(ring_fd, detail::on_ring_record, &state->poll, nullptr));
  if (!state->ring) return log.fail("open eBPF ring buffer", errno);
  // The ring buffer map's first page holds the consumer position, the second the producer's.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (!state->consumer_page.map(ring_fd, page, 0) ||
      !state->producer_page.map(ring_fd, page, static_cast<off_t>(page))) {
    return fail_errno("map eBPF ring buffer positions");
  }
  state->ring_bytes = options.ring_buffer_bytes;
  return EventProbe(std::move(state));
}

EventProbe::EventProbe(std::unique_ptr<State> state) : state_(std::move(state)) {}
EventProbe::EventProbe(EventProbe&&) noexcept = default;
EventProbe& EventProbe::operator=(EventProbe&&) noexcept = default;
EventProbe::~EventProbe() = default;

Result<std::size_t> EventProbe::poll_impl(std::chrono::milliseconds timeout, RecordFn fn, void* ctx) {
  if (!state_) return fail("event probe is closed");
  auto ms = timeout.count();
  int timeout_ms = ms < 0 ? -1 : static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
  state_->poll = PollContext{fn, ctx};
  LibbpfLog log;
  int n = ring_buffer__poll(state_->ring.get(), timeout_ms);
  // Syscall records do not wake the reader below a fill threshold (bpf/syscalls.bpf.c, submit):
  // drain what is there after every wait, woken or not.
  if (n >= 0 || n == -EINTR) {
    int more = ring_buffer__consume(state_->ring.get());
    n = more < 0 ? more : std::max(n, 0) + more;
  }
  state_->poll = PollContext{};
  if (n == -EINTR) return std::size_t{0};
  if (n < 0) return log.fail("poll eBPF ring buffer", n);
  return static_cast<std::size_t>(n);
}

Result<DropCounts> EventProbe::drops() const {
  if (!state_) return fail("event probe is closed");
  LibbpfLog log;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return log.fail("count possible CPUs", cpus);
  DropCounts counts;
  counts.by_cpu.assign(static_cast<std::size_t>(cpus), 0);
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (__u32 type = 0; type < VIGIL_EVENT_TYPE_COUNT; ++type) {
    int err = bpf_map__lookup_elem(state_->process->maps.drops, &type, sizeof(type), per_cpu.data(),
                                   per_cpu.size() * sizeof(std::uint64_t), 0);
    if (err != 0) return log.fail("read eBPF drop counters", err);
    for (std::size_t cpu = 0; cpu < per_cpu.size(); ++cpu) {
      counts.by_type[type] += per_cpu[cpu];
      counts.by_cpu[cpu] += per_cpu[cpu];
    }
    counts.total += counts.by_type[type];
  }
  return counts;
}

Result<RingBufferFill> EventProbe::ring_buffer_fill() const {
  if (!state_) return fail("event probe is closed");
  // Consumer first: the producer only moves ahead of it, so the difference is never negative.
  std::uint64_t consumer = state_->consumer_page.position();
  std::uint64_t producer = state_->producer_page.position();
  return RingBufferFill{.pending_bytes = producer >= consumer ? producer - consumer : 0,
                        .capacity_bytes = state_->ring_bytes};
}

Result<void> EventProbe::set_syscalls(std::span<const int> numbers) {
  if (!state_) return fail("event probe is closed");
  auto next = to_set(numbers);
  if (!next) return std::unexpected(next.error());
  return state_->apply(*next);
}

std::vector<int> EventProbe::syscalls() const {
  std::vector<int> numbers;
  if (!state_) return numbers;
  for (const auto& s : kSupported)
    if (state_->wanted.test(static_cast<std::size_t>(s.number))) numbers.push_back(s.number);
  return numbers;
}

Result<void> EventProbe::set_kill_on_exit(std::span<const int> numbers) {
  if (!state_) return fail("event probe is closed");
  auto next = to_set(numbers);
  if (!next) return std::unexpected(next.error());
  LibbpfLog log;
  state_->syscalls->bss->kill_exempt_tgid = static_cast<__u32>(::getpid());
  for (const auto& s : kSupported) {
    const auto index = static_cast<std::size_t>(s.number);
    if (next->test(index) == state_->kill_on_exit.test(index)) continue;
    __u32 key = static_cast<__u32>(s.number);
    __u8 value = next->test(index) ? 1 : 0;
    int err = bpf_map__update_elem(state_->syscalls->maps.kill_on_exit, &key, sizeof(key), &value, sizeof(value), BPF_ANY);
    if (err != 0) return log.fail("update eBPF kill_on_exit map", err);
    state_->kill_on_exit.set(index, next->test(index));
  }
  return {};
}

Result<void> EventProbe::set_path_filters(const PathFilters& filters) {
  if (!state_) return fail("event probe is closed");
  return state_->apply(filters);
}

const PathFilters& EventProbe::path_filters() const {
  static const PathFilters none;
  return state_ ? state_->path_filters : none;
}

Result<std::uint64_t> EventProbe::filtered_by_path() const {
  if (!state_) return fail("event probe is closed");
  LibbpfLog log;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return log.fail("count possible CPUs", cpus);
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  __u32 zero = 0;
  int err = bpf_map__lookup_elem(state_->syscalls->maps.filtered, &zero, sizeof(zero), per_cpu.data(),
                                 per_cpu.size() * sizeof(std::uint64_t), 0);
  if (err != 0) return log.fail("read eBPF path filter counter", err);
  std::uint64_t total = 0;
  for (auto n : per_cpu) total += n;
  return total;
}

int EventProbe::event_fd() const { return state_ ? ring_buffer__epoll_fd(state_->ring.get()) : -1; }

std::span<const SupportedSyscall> EventProbe::supported_syscalls() { return kSupported; }

const SupportedSyscall* EventProbe::find_syscall(std::string_view name) {
  for (const auto& s : kSupported)
    if (s.name == name) return &s;
  return nullptr;
}

const SupportedSyscall* EventProbe::find_syscall(int number) {
  for (const auto& s : kSupported)
    if (s.number == number) return &s;
  return nullptr;
}

}  // namespace vigil::probe
