/* What the network policy programs (bpf/netpolicy_*.bpf.c) share: the maps, the decision and
 * the flow log. Every object declares the same maps, pinned by name under the pin directory user
 * space chooses, so all of them (and the next agent, after a restart) use one set of maps.
 * bpf/abi/netpolicy_maps.h has the layouts and the reasoning; docs/netpolicy.md the semantics.
 * Include after vmlinux.h and libbpf's headers. */
#ifndef VIGIL_BPF_NETPOLICY_COMMON_BPF_H
#define VIGIL_BPF_NETPOLICY_COMMON_BPF_H

#include "netpolicy_maps.h"

#define VIGIL_NP_ETH_P_IP 0x0800
#define VIGIL_NP_ETH_P_IPV6 0x86DD
#define VIGIL_NP_IPPROTO_ICMPV6 58

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_active SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2 * VIGIL_NP_MAX_IDENTITIES);
  __type(key, __u32);
  __type(value, struct vigil_np_identity);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_identities SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2 * VIGIL_NP_MAX_PORTSETS);
  __type(key, __u32);
  __type(value, struct vigil_np_portset);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_portsets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, VIGIL_NP_MAX_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vigil_np_prefix_key);
  __type(value, struct vigil_np_prefix_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_prefixes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VIGIL_NP_MAX_SUBJECTS);
  __type(key, struct vigil_np_subject_key);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_subjects SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VIGIL_NP_MAX_EXECUTABLES);
  __type(key, struct vigil_np_exe_key);
  __type(value, struct vigil_np_exe_facts);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_exe_facts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2 * VIGIL_NP_MAX_POLICIES * VIGIL_NP_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_np_sample_key);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_sampled SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_np_reply_key);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_replies SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, VIGIL_NP_MAX_HOST_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vigil_np_host_key);
  __type(value, struct vigil_np_host_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} np_host_deny SEC(".maps");

struct np_result {
  __u32 rule;
  __u32 policy;
  __u8 verdict;
  __u8 flags;
};

static __always_inline __u32 np_generation(void) {
  __u32 zero = 0;
  __u32 *gen = bpf_map_lookup_elem(&np_active, &zero);
  return gen ? (*gen & 1) : 0;
}

static __always_inline __u32 np_subject(__u32 gen, __u32 kind, __u64 value) {
  struct vigil_np_subject_key key = {.gen = gen, .kind = kind, .value = value};
  __u32 *identity = bpf_map_lookup_elem(&np_subjects, &key);
  return identity ? *identity : 0;
}

static __always_inline void np_count(__u32 gen, __u32 policy, __u32 which) {
  if (policy == 0 || policy >= VIGIL_NP_MAX_POLICIES) return;
  __u32 index = (gen * VIGIL_NP_MAX_POLICIES + policy) * VIGIL_NP_COUNTERS + which;
  __u64 *count = bpf_map_lookup_elem(&np_counters, &index);
  if (count) *count += 1; /* per-CPU: no atomics needed */
}

/* The decision for one flow of `identity` (see the evaluation order in netpolicy_maps.h and
 * docs/netpolicy.md): the longest prefix's port rules, a matching deny first, then a matching
 * allow, else the identity's default. */
static __always_inline void np_decide(__u32 gen, __u32 identity, __u8 direction, __u8 family, const __u8 *addr,
                                      __u8 protocol, __u16 port, struct np_result *result) {
  result->verdict = VIGIL_NP_VERDICT_NONE;
  result->flags = 0;
  result->rule = 0;
  result->policy = 0;
  if (identity == 0 || identity >= VIGIL_NP_MAX_IDENTITIES) return;
  struct vigil_np_prefix_key key = {};
  key.prefixlen = VIGIL_NP_PREFIX_FIXED_BITS + (family == VIGIL_NP_FAMILY_INET ? 32 : 128);
  key.gen = gen;
  key.identity = identity;
  key.direction = direction;
  key.family = family;
  __builtin_memcpy(key.addr, addr, 16);
  struct vigil_np_prefix_value *prefix = bpf_map_lookup_elem(&np_prefixes, &key);
  if (prefix) {
    __u32 index = gen * VIGIL_NP_MAX_PORTSETS + prefix->portset;
    struct vigil_np_portset *set = bpf_map_lookup_elem(&np_portsets, &index);
    if (set) {
      __u32 count = set->count;
      int allow = -1;
      for (int i = 0; i < VIGIL_NP_PORT_RULES; i++) {
        if ((__u32)i >= count) break;
        struct vigil_np_port_rule *rule = &set->rules[i];
        if (rule->protocol != VIGIL_NP_PROTO_ANY && rule->protocol != protocol) continue;
        if (port < rule->port_lo || port > rule->port_hi) continue;
        if (rule->verdict == VIGIL_NP_VERDICT_DENY) {
          result->verdict = VIGIL_NP_VERDICT_DENY;
          result->flags = rule->flags;
          result->rule = rule->rule;
          result->policy = rule->policy;
          return;
        }
        if (allow < 0) allow = i;
      }
      if (allow >= 0 && allow < VIGIL_NP_PORT_RULES) {
        struct vigil_np_port_rule *rule = &set->rules[allow];
        result->verdict = VIGIL_NP_VERDICT_ALLOW;
        result->flags = rule->flags;
        result->rule = rule->rule;
        result->policy = rule->policy;
        return;
      }
    }
  }
  __u32 index = gen * VIGIL_NP_MAX_IDENTITIES + identity;
  struct vigil_np_identity *id = bpf_map_lookup_elem(&np_identities, &index);
  if (!id || !id->in_use) return;
  __u32 d = direction & 1;
  result->verdict = id->default_verdict[d];
  result->flags = id->default_flags[d];
  result->policy = id->policy;
}

/* Whether the flow passes: allowed, no verdict, or denied in audit mode. Counts it and logs it
 * (denied and audited always, allowed sampled). `task_context`: pid, uid and comm are the
 * current task's. */
static __always_inline int np_enforce(__u32 gen, __u32 identity, const struct np_result *result, __u8 direction,
                                      __u8 family, const __u8 *remote, __u16 remote_port, __u16 local_port,
                                      __u8 protocol, __u8 hook, __u64 cgroup_id, __u32 uid, int task_context) {
  if (result->verdict == VIGIL_NP_VERDICT_NONE) return 1;
  int denied = result->verdict == VIGIL_NP_VERDICT_DENY;
  int audit = (result->flags & VIGIL_NP_FLAG_AUDIT) != 0;
  __u32 counter = !denied ? VIGIL_NP_COUNT_ALLOWED : audit ? VIGIL_NP_COUNT_AUDITED : VIGIL_NP_COUNT_DENIED;
  np_count(gen, result->policy, counter);
  __u64 now = bpf_ktime_get_boot_ns();
  if (!denied) {
    struct vigil_np_sample_key sample = {};
    sample.identity = identity;
    sample.direction = direction;
    sample.protocol = protocol;
    sample.port = direction == VIGIL_NP_DIR_EGRESS ? remote_port : local_port;
    __builtin_memcpy(sample.addr, remote, 16);
    __u64 *last = bpf_map_lookup_elem(&np_sampled, &sample);
    if (last && now - *last < VIGIL_NP_ALLOWED_SAMPLE_NS) return 1;
    bpf_map_update_elem(&np_sampled, &sample, &now, BPF_ANY);
  }
  struct vigil_np_flow *flow = bpf_ringbuf_reserve(&np_flows, sizeof(*flow), 0);
  if (!flow) {
    np_count(gen, result->policy, VIGIL_NP_COUNT_LOST);
  } else {
    __builtin_memset(flow, 0, sizeof(*flow));
    flow->timestamp_ns = now;
    flow->cgroup_id = cgroup_id;
    flow->gen = gen;
    flow->identity = identity;
    flow->rule = result->rule;
    flow->policy = result->policy;
    flow->uid = uid;
    flow->direction = direction;
    flow->verdict = result->verdict;
    flow->flags = result->flags;
    flow->protocol = protocol;
    flow->family = family;
    flow->hook = hook;
    flow->local_port = local_port;
    flow->remote_port = remote_port;
    __builtin_memcpy(flow->remote_addr, remote, 16);
    if (task_context) {
      flow->pid = bpf_get_current_pid_tgid() >> 32;
      bpf_get_current_comm(flow->comm, sizeof(flow->comm));
    }
    bpf_ringbuf_submit(flow, 0);
  }
  return !denied || audit;
}

#endif /* VIGIL_BPF_NETPOLICY_COMMON_BPF_H */
