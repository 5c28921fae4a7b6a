// NetPolicyKernel: the libbpf skeletons of bpf/netpolicy_*.bpf.c, pinned (see the header).
#include "probe/netpolicy_kernel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/unique_fd.h"
#include "netpolicy_host.skel.h"
#include "netpolicy_skb.skel.h"
#include "netpolicy_sock.skel.h"
#include "probe/libbpf_support.h"

namespace vigil::probe {
namespace {

template <class Skel, void (*Destroy)(Skel*)>
struct SkelDeleter {
  void operator()(Skel* skel) const { Destroy(skel); }
};
using SockSkel = std::unique_ptr<vigil_netpolicy_sock_bpf, SkelDeleter<vigil_netpolicy_sock_bpf, vigil_netpolicy_sock_bpf::destroy>>;
using SkbSkel = std::unique_ptr<vigil_netpolicy_skb_bpf, SkelDeleter<vigil_netpolicy_skb_bpf, vigil_netpolicy_skb_bpf::destroy>>;
using HostSkel = std::unique_ptr<vigil_netpolicy_host_bpf, SkelDeleter<vigil_netpolicy_host_bpf, vigil_netpolicy_host_bpf::destroy>>;

constexpr const char* kMapsDir = "/maps";
constexpr const char* kLinksDir = "/links";

Result<std::string> cgroup2_root() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // ... root mountpoint ... - fstype source options
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype == "cgroup2" && root == "/") return mount_point;
  }
  return fail("no cgroup2 hierarchy is mounted");
}

Result<void> make_dirs(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return fail("cannot create " + path + ": " + error.message());
  return {};
}

void set_key_addr(std::uint8_t* out, const netpolicy::Cidr& cidr) { std::memcpy(out, cidr.addr.data(), 16); }

std::uint8_t family_of(const netpolicy::Cidr& cidr) { return cidr.ipv6 ? VIGIL_NP_FAMILY_INET6 : VIGIL_NP_FAMILY_INET; }

// Updates every key (in one batch where the kernel allows it). Returns how many were written.
template <class Key, class Value>
std::size_t write_entries(int fd, const std::vector<Key>& keys, const std::vector<Value>& values, int& error) {
  error = 0;
  if (keys.empty()) return 0;
  constexpr std::size_t kChunk = 65536;
  std::size_t written = 0;
  bool batch = true;
  while (written < keys.size()) {
    const std::size_t n = std::min(kChunk, keys.size() - written);
    if (batch) {
      __u32 count = static_cast<__u32>(n);
      LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
      const int rc = bpf_map_update_batch(fd, keys.data() + written, values.data() + written, &count, &opts);
      if (rc == 0) {
        written += n;
        continue;
      }
      if ((errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) && count == 0) {
        batch = false;  // this map type has no batch update: one by one
        continue;
      }
      written += count;
      error = errno;
      return written;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (bpf_map_update_elem(fd, &keys[written], &values[written], BPF_ANY) != 0) {
        error = errno;
        return written;
      }
      ++written;
    }
  }
  return written;
}

template <class Key>
void delete_entries(int fd, const std::vector<Key>& keys) {
  if (keys.empty()) return;
  constexpr std::size_t kChunk = 65536;
  for (std::size_t done = 0; done < keys.size();) {
    const std::size_t n = std::min(kChunk, keys.size() - done);
    __u32 count = static_cast<__u32>(n);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_delete_batch(fd, keys.data() + done, &count, &opts) == 0) {
      done += n;
      continue;
    }
    // A missing key stops a batch: finish this chunk one by one.
    for (std::size_t i = done; i < done + n; ++i) bpf_map_delete_elem(fd, &keys[i]);
    done += n;
  }
}

// Every key of `fd` whose generation is `gen` (after a takeover, what the last writer left).
template <class Key>
std::vector<Key> keys_of_generation(int fd, std::uint32_t gen) {
  std::vector<Key> keys;
  Key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    if (next.gen == gen) keys.push_back(next);
    key = next;
    previous = &key;
  }
  return keys;
}

// TC fallback: a classic clsact ingress filter (the kernel keeps it without a link, so no pin);
// a directory "tc_<ifindex>" under links/ remembers it for detach().
constexpr __u32 kTcHandle = 0x766e;
constexpr __u32 kTcPriority = 0x7669;

Result<void> attach_tc(const std::string& pin_dir, const std::string& interface, int ifindex, int prog_fd) {
  detail::LibbpfLog log;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  const int created = bpf_tc_hook_create(&hook);
  if (created != 0 && created != -EEXIST) return log.fail("creating the clsact qdisc of " + interface, created);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  if (const int rc = bpf_tc_attach(&hook, &opts); rc != 0) return log.fail("attaching the TC program to " + interface, rc);
  const std::string marker = pin_dir + kLinksDir + "/tc_" + std::to_string(ifindex);
  if (::mkdir(marker.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno("creating " + marker);
  return {};
}

void detach_tc(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  bpf_tc_detach(&hook, &opts);
}

}  // namespace

struct NetPolicyKernel::State {
  NetPolicyKernelOptions options;
  SockSkel sock;
  SkbSkel skb;
  HostSkel host;
  std::vector<std::unique_ptr<bpf_link, detail::LinkDeleter>> links;
  std::unique_ptr<ring_buffer, detail::RingBufferDeleter> ring;
  const std::function<void(const vigil_np_flow&)>* on_flow = nullptr;
  std::vector<HostAttachment> host_attachments;
  std::mutex apply_mutex;
  // The keys of each generation, to delete it when it is retired.
  std::vector<vigil_np_prefix_key> prefix_keys[2];
  std::vector<vigil_np_subject_key> subject_keys[2];
  std::vector<vigil_np_host_key> host_keys[2];

  int map_fd(const char* name) const { return bpf_object__find_map_fd_by_name(sock->obj, name); }
  int host_map_fd(const char* name) const { return bpf_object__find_map_fd_by_name(host->obj, name); }

  // Attaches `attach()` under pin `name`, taking over a link pinned by an earlier run: the old
  // link switches to the new program where the kernel allows (cgroup, XDP, tcx), else the new
  // link is pinned in its place and the old one detached.
  Result<void> attach_pinned(const std::string& name, bpf_program* program, const std::function<bpf_link*()>& attach) {
    detail::LibbpfLog log;
    const std::string path = options.pin_dir + kLinksDir + "/" + name;
    bpf_link* old = bpf_link__open(path.c_str());
    if (old) {
      if (bpf_link__update_program(old, program) == 0) {
        links.emplace_back(old);
        return {};
      }
    }
    bpf_link* link = attach();
    if (!link) {
      const int err = errno;
      if (old) bpf_link__destroy(old);
      return log.fail("attaching " + name, err);
    }
    ::unlink(path.c_str());
    if (const int rc = bpf_link__pin(link, path.c_str()); rc != 0) {
      bpf_link__destroy(link);
      if (old) bpf_link__destroy(old);
      return log.fail("pinning " + path, rc);
    }
    if (old) {
      bpf_link__detach(old);
      bpf_link__destroy(old);
    }
    links.emplace_back(link);
    return {};
  }
};

NetPolicyKernel::NetPolicyKernel(std::unique_ptr<State> state) : state_(std::move(state)) {}
NetPolicyKernel::NetPolicyKernel(NetPolicyKernel&&) noexcept = default;
NetPolicyKernel& NetPolicyKernel::operator=(NetPolicyKernel&&) noexcept = default;
NetPolicyKernel::~NetPolicyKernel() = default;

bool NetPolicyKernel::pinned(const std::string& pin_dir) {
  std::error_code error;
  return std::filesystem::exists(pin_dir + kLinksDir, error) &&
         !std::filesystem::is_empty(pin_dir + kLinksDir, error);
}

Result<void> NetPolicyKernel::detach(const std::string& pin_dir) {
  std::error_code error;
  std::string problems;
  for (const char* sub : {kLinksDir, kMapsDir}) {
    const std::string dir = pin_dir + sub;
    if (!std::filesystem::exists(dir, error)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      const std::string path = entry.path().string();
      const std::string name = entry.path().filename().string();
      if (std::string(sub) == kLinksDir && name.starts_with("tc_")) {
        detach_tc(std::atoi(name.c_str() + 3));
        if (::rmdir(path.c_str()) != 0) problems += " " + path + ": " + std::strerror(errno);
        continue;
      }
      if (std::string(sub) == kLinksDir) {
        if (bpf_link* link = bpf_link__open(path.c_str())) {
          bpf_link__detach(link);
          bpf_link__destroy(link);
        }
      }
      if (::unlink(path.c_str()) != 0) problems += " " + path + ": " + std::strerror(errno);
    }
    ::rmdir(dir.c_str());
  }
  ::rmdir(pin_dir.c_str());
  if (!problems.empty()) return fail("netpolicy detach:" + problems);
  return {};
}

Result<NetPolicyKernel> NetPolicyKernel::open(const NetPolicyKernelOptions& options) {
  detail::LibbpfLog log;
  auto state = std::make_unique<State>();
  state->options = options;
  if (auto made = make_dirs(options.pin_dir + kMapsDir); !made) return std::unexpected(made.error());
  if (auto made = make_dirs(options.pin_dir + kLinksDir); !made) return std::unexpected(made.error());
  const std::string maps_dir = options.pin_dir + kMapsDir;
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = maps_dir.c_str());

  state->sock.reset(vigil_netpolicy_sock_bpf::open(&open_opts));
  if (!state->sock) return log.fail("opening netpolicy_sock.bpf.o", errno);
  if (int rc = vigil_netpolicy_sock_bpf::load(state->sock.get()); rc != 0) return log.fail("loading netpolicy_sock.bpf.o", rc);
  state->skb.reset(vigil_netpolicy_skb_bpf::open(&open_opts));
  if (!state->skb) return log.fail("opening netpolicy_skb.bpf.o", errno);
  if (int rc = vigil_netpolicy_skb_bpf::load(state->skb.get()); rc != 0) return log.fail("loading netpolicy_skb.bpf.o", rc);
  state->host.reset(vigil_netpolicy_host_bpf::open(&open_opts));
  if (!state->host) return log.fail("opening netpolicy_host.bpf.o", errno);
  if (int rc = vigil_netpolicy_host_bpf::load(state->host.get()); rc != 0) return log.fail("loading netpolicy_host.bpf.o", rc);

  // After a takeover the maps hold what the last writer left: learn the generation in force
  // and drop whatever the other generation holds (a half-written policy of a crashed writer).
  {
    const int prefixes = state->map_fd("np_prefixes");
    const int subjects = state->map_fd("np_subjects");
    const int host = state->host_map_fd("np_host_deny");
    __u32 zero = 0, active = 0;
    bpf_map_lookup_elem(state->map_fd("np_active"), &zero, &active);
    active &= 1;
    for (std::uint32_t g = 0; g < 2; ++g) {
      state->prefix_keys[g] = keys_of_generation<vigil_np_prefix_key>(prefixes, g);
      state->subject_keys[g] = keys_of_generation<vigil_np_subject_key>(subjects, g);
      state->host_keys[g] = keys_of_generation<vigil_np_host_key>(host, g);
    }
    const std::uint32_t idle = active ^ 1;
    delete_entries(prefixes, state->prefix_keys[idle]);
    delete_entries(subjects, state->subject_keys[idle]);
    delete_entries(host, state->host_keys[idle]);
    state->prefix_keys[idle].clear();
    state->subject_keys[idle].clear();
    state->host_keys[idle].clear();
  }

  std::string cgroup_dir = options.cgroup_dir;
  if (cgroup_dir.empty()) {
    auto root = cgroup2_root();
    if (!root) return std::unexpected(root.error());
    cgroup_dir = *root;
  }
  UniqueFd cgroup(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup.get() < 0) return fail_errno("opening cgroup " + cgroup_dir);
  const int cgroup_fd = cgroup.get();
  State& s = *state;
  auto cgroup_attach = [&](const char* name, bpf_program* program) {
    return s.attach_pinned(name, program, [program, cgroup_fd] { return bpf_program__attach_cgroup(program, cgroup_fd); });
  };
  for (auto [name, program] : {std::pair{"connect4", s.sock->progs.vigil_np_connect4},
                               std::pair{"connect6", s.sock->progs.vigil_np_connect6},
                               std::pair{"sendmsg4", s.sock->progs.vigil_np_sendmsg4},
                               std::pair{"sendmsg6", s.sock->progs.vigil_np_sendmsg6},
                               std::pair{"skb_ingress", s.skb->progs.vigil_np_skb_ingress},
                               std::pair{"skb_egress", s.skb->progs.vigil_np_skb_egress}}) {
    if (auto attached = cgroup_attach(name, program); !attached) return std::unexpected(attached.error());
  }
  for (const std::string& interface : options.host_interfaces) {
    const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (ifindex == 0) return fail_errno("host interface " + interface);
    Result<void> attached = fail("not tried");
    if (!options.force_tc) {
      bpf_program* program = s.host->progs.vigil_np_xdp;
      attached = s.attach_pinned("xdp_" + interface, program,
                                 [program, ifindex] { return bpf_program__attach_xdp(program, ifindex); });
      if (attached) s.host_attachments.push_back({interface, "xdp"});
    }
    if (!attached) {
      if (auto tc = attach_tc(options.pin_dir, interface, ifindex, bpf_program__fd(s.host->progs.vigil_np_tc)); !tc)
        return std::unexpected(tc.error());
      s.host_attachments.push_back({interface, "tc"});
    }
  }
  state->ring.reset(ring_buffer__new(
      state->map_fd("np_flows"),
      [](void* ctx, void* data, std::size_t size) -> int {
        auto* st = static_cast<State*>(ctx);
        if (st->on_flow && size >= sizeof(vigil_np_flow)) {
          vigil_np_flow flow;
          std::memcpy(&flow, data, sizeof(flow));
          (*st->on_flow)(flow);
        }
        return 0;
      },
      state.get(), nullptr));
  if (!state->ring) return log.fail("opening the flow ring buffer", errno);
  return NetPolicyKernel(std::move(state));
}

std::uint32_t NetPolicyKernel::generation() const {
  if (!state_) return 0;
  __u32 zero = 0, active = 0;
  bpf_map_lookup_elem(state_->map_fd("np_active"), &zero, &active);
  return active & 1;
}

std::size_t NetPolicyKernel::free_prefixes() const {
  const std::uint32_t gen = generation();
  return VIGIL_NP_MAX_PREFIXES - state_->prefix_keys[gen].size();
}

netpolicy::Capacity NetPolicyKernel::capacity() const {
  netpolicy::Capacity capacity;
  capacity.identities = VIGIL_NP_MAX_IDENTITIES - 1;
  capacity.policies = VIGIL_NP_MAX_POLICIES - 1;
  capacity.portsets = VIGIL_NP_MAX_PORTSETS;
  capacity.port_rules_per_prefix = VIGIL_NP_PORT_RULES;
  capacity.prefixes = free_prefixes();
  capacity.subject_keys = VIGIL_NP_MAX_SUBJECTS - state_->subject_keys[generation()].size();
  return capacity;
}

Result<NetPolicyApplyReport> NetPolicyKernel::apply(const netpolicy::CompiledPolicy& compiled) {
  const auto& host_deny = compiled.host_deny;
  State& s = *state_;
  std::lock_guard lock(s.apply_mutex);
  const auto started = std::chrono::steady_clock::now();
  const std::uint32_t current = generation();
  const std::uint32_t next = current ^ 1;
  const netpolicy::Capacity room = capacity();
  if (compiled.identities.size() > VIGIL_NP_MAX_IDENTITIES || compiled.portsets.size() > VIGIL_NP_MAX_PORTSETS ||
      compiled.policies.size() > VIGIL_NP_MAX_POLICIES)
    return fail("the policy does not fit the kernel's tables (subjects, port rule sets or policies)");
  if (compiled.prefixes.size() > room.prefixes)
    return fail("the policy needs " + std::to_string(compiled.prefixes.size()) + " address prefixes, " +
                std::to_string(room.prefixes) + " are free beside the policy in force; nothing was changed");
  if (compiled.subject_keys.size() > room.subject_keys)
    return fail("the policy selects " + std::to_string(compiled.subject_keys.size()) + " workloads, " +
                std::to_string(room.subject_keys) + " fit; nothing was changed");
  if (host_deny.size() + s.host_keys[current].size() > VIGIL_NP_MAX_HOST_PREFIXES)
    return fail("the host deny list does not fit beside the one in force; nothing was changed");

  // Arrays: the idle generation's slots are invisible until the switch.
  {
    std::vector<__u32> keys;
    std::vector<vigil_np_identity> values;
    for (std::uint32_t id = 0; id < compiled.identities.size(); ++id) {
      const auto& identity = compiled.identities[id];
      vigil_np_identity value{};
      for (int d = 0; d < 2; ++d) {
        value.default_verdict[d] = static_cast<__u8>(identity.defaults[d]);
        value.default_flags[d] = identity.default_audit[d] ? VIGIL_NP_FLAG_AUDIT : 0;
      }
      value.policy = identity.policy;
      value.in_use = id == 0 ? 0 : 1;
      keys.push_back(next * VIGIL_NP_MAX_IDENTITIES + id);
      values.push_back(value);
    }
    int error = 0;
    write_entries(s.map_fd("np_identities"), keys, values, error);
    if (error) return fail("writing identities: " + std::string(std::strerror(error)) + "; nothing was changed", error);
  }
  {
    std::vector<__u32> keys;
    std::vector<vigil_np_portset> values;
    for (std::uint32_t id = 0; id < compiled.portsets.size(); ++id) {
      vigil_np_portset value{};
      const auto& rules = compiled.portsets[id];
      if (rules.size() > VIGIL_NP_PORT_RULES) return fail("a port rule set is larger than the kernel's");
      value.count = static_cast<__u32>(rules.size());
      for (std::size_t i = 0; i < rules.size(); ++i) {
        auto& out = value.rules[i];
        out.port_lo = rules[i].ports.low;
        out.port_hi = rules[i].ports.high;
        out.protocol = static_cast<__u8>(rules[i].protocol);
        out.verdict = static_cast<__u8>(rules[i].verdict);
        out.flags = rules[i].audit ? VIGIL_NP_FLAG_AUDIT : 0;
        out.rule = rules[i].rule;
        out.policy = rules[i].rule < compiled.rules.size() ? compiled.rules[rules[i].rule].policy : 0;
      }
      keys.push_back(next * VIGIL_NP_MAX_PORTSETS + id);
      values.push_back(value);
    }
    int error = 0;
    write_entries(s.map_fd("np_portsets"), keys, values, error);
    if (error) return fail("writing port rules: " + std::string(std::strerror(error)) + "; nothing was changed", error);
  }
  auto undo = [&] {
    delete_entries(s.map_fd("np_prefixes"), s.prefix_keys[next]);
    delete_entries(s.map_fd("np_subjects"), s.subject_keys[next]);
    delete_entries(s.host_map_fd("np_host_deny"), s.host_keys[next]);
    s.prefix_keys[next].clear();
    s.subject_keys[next].clear();
    s.host_keys[next].clear();
  };
  {
    std::vector<vigil_np_prefix_key> keys;
    std::vector<vigil_np_prefix_value> values;
    keys.reserve(compiled.prefixes.size());
    values.reserve(compiled.prefixes.size());
    for (const auto& prefix : compiled.prefixes) {
      vigil_np_prefix_key key{};
      key.prefixlen = VIGIL_NP_PREFIX_FIXED_BITS + prefix.cidr.prefix_length;
      key.gen = next;
      key.identity = prefix.identity;
      key.direction = static_cast<__u8>(prefix.direction);
      key.family = family_of(prefix.cidr);
      set_key_addr(key.addr, prefix.cidr);
      keys.push_back(key);
      values.push_back({prefix.portset});
    }
    int error = 0;
    const std::size_t written = write_entries(s.map_fd("np_prefixes"), keys, values, error);
    s.prefix_keys[next].assign(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(written));
    if (error) {
      undo();
      return fail("writing address prefixes: " + std::string(std::strerror(error)) + " after " +
                      std::to_string(written) + " of " + std::to_string(keys.size()) +
                      "; the new policy was removed, the old one stays in force",
                  error);
    }
  }
  {
    std::vector<vigil_np_subject_key> keys;
    std::vector<__u32> values;
    for (const auto& subject : compiled.subject_keys) {
      keys.push_back({next, subject.kind, subject.value});
      values.push_back(subject.identity);
    }
    int error = 0;
    const std::size_t written = write_entries(s.map_fd("np_subjects"), keys, values, error);
    s.subject_keys[next].assign(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(written));
    if (error) {
      undo();
      return fail("writing subjects: " + std::string(std::strerror(error)) + "; the old policy stays in force", error);
    }
  }
  {
    std::vector<vigil_np_host_key> keys;
    std::vector<vigil_np_host_value> values;
    for (const auto& entry : host_deny) {
      vigil_np_host_key key{};
      key.prefixlen = VIGIL_NP_HOST_FIXED_BITS + entry.cidr.prefix_length;
      key.gen = next;
      key.family = family_of(entry.cidr);
      set_key_addr(key.addr, entry.cidr);
      keys.push_back(key);
      values.push_back({entry.rule, entry.policy});
    }
    int error = 0;
    const std::size_t written = write_entries(s.host_map_fd("np_host_deny"), keys, values, error);
    s.host_keys[next].assign(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(written));
    if (error) {
      undo();
      return fail("writing the host deny list: " + std::string(std::strerror(error)) + "; the old policy stays in force",
                  error);
    }
  }
  // The switch: one array update. Every decision reads the generation once.
  {
    __u32 zero = 0;
    if (bpf_map_update_elem(s.map_fd("np_active"), &zero, &next, BPF_ANY) != 0) {
      const int error = errno;
      undo();
      return fail("switching generations: " + std::string(std::strerror(error)), error);
    }
  }
  const auto switched = std::chrono::steady_clock::now();
  // Programs run under rcu_read_lock: after a grace period none still uses the old generation.
  // MEMBARRIER_CMD_GLOBAL is synchronize_rcu() in the kernel.
  if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) ::usleep(100000);
  delete_entries(s.map_fd("np_prefixes"), s.prefix_keys[current]);
  delete_entries(s.map_fd("np_subjects"), s.subject_keys[current]);
  delete_entries(s.host_map_fd("np_host_deny"), s.host_keys[current]);
  s.prefix_keys[current].clear();
  s.prefix_keys[current].shrink_to_fit();
  s.subject_keys[current].clear();
  s.host_keys[current].clear();
  NetPolicyApplyReport report;
  report.generation = next;
  report.write = std::chrono::duration_cast<std::chrono::microseconds>(switched - started);
  report.retire = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - switched);
  report.prefixes = compiled.prefixes.size();
  return report;
}

Result<void> NetPolicyKernel::set_exe_facts(std::uint32_t kernel_dev, std::uint64_t inode, std::uint32_t signer,
                                            std::uint32_t exe_path) {
  vigil_np_exe_key key{};
  key.inode = inode;
  key.dev = kernel_dev;
  if (signer == 0 && exe_path == 0) {
    bpf_map_delete_elem(state_->map_fd("np_exe_facts"), &key);
    return {};
  }
  vigil_np_exe_facts facts{};
  facts.signer = signer;
  facts.exe_path = exe_path;
  if (bpf_map_update_elem(state_->map_fd("np_exe_facts"), &key, &facts, BPF_ANY) != 0)
    return fail_errno("netpolicy facts of inode " + std::to_string(inode));
  return {};
}

NetPolicyCounters NetPolicyKernel::counters(std::uint32_t policy) const {
  NetPolicyCounters out;
  if (policy >= VIGIL_NP_MAX_POLICIES) return out;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return out;
  std::vector<__u64> values(static_cast<std::size_t>(cpus));
  std::uint64_t* fields[VIGIL_NP_COUNTERS] = {&out.allowed, &out.denied, &out.audited, &out.lost};
  for (__u32 which = 0; which < VIGIL_NP_COUNTERS; ++which) {
    __u32 index = (generation() * VIGIL_NP_MAX_POLICIES + policy) * VIGIL_NP_COUNTERS + which;
    if (bpf_map_lookup_elem(state_->map_fd("np_counters"), &index, values.data()) != 0) continue;
    for (auto v : values) *fields[which] += v;
  }
  return out;
}

Result<std::size_t> NetPolicyKernel::poll_flows(std::chrono::milliseconds timeout,
                                                const std::function<void(const vigil_np_flow&)>& on_flow) {
  std::size_t delivered = 0;
  const std::function<void(const vigil_np_flow&)> counting = [&](const vigil_np_flow& flow) {
    ++delivered;
    on_flow(flow);
  };
  state_->on_flow = &counting;
  const int rc = ring_buffer__poll(state_->ring.get(), static_cast<int>(timeout.count()));
  state_->on_flow = nullptr;
  if (rc < 0 && rc != -EINTR) return fail("polling flow records: " + std::string(std::strerror(-rc)), -rc);
  return delivered;
}

const std::vector<HostAttachment>& NetPolicyKernel::host_attachments() const { return state_->host_attachments; }

}  // namespace vigil::probe
