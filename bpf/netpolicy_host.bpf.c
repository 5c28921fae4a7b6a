// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Network policy on host interfaces: the deny list of source addresses (host_deny), dropped
 * before the stack. The XDP program is attached where the driver allows it; the TC ingress
 * program is the fallback (same map, same records) where XDP cannot attach. Drops are counted
 * and logged, sampled per source address like allowed flows, so a flood cannot fill the ring. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netpolicy_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NP_XDP_DROP 1
#define NP_XDP_PASS 2
#define NP_TC_ACT_OK 0
#define NP_TC_ACT_SHOT 2

/* 1: drop. `data`..`data_end` from the Ethernet header on. */
static __always_inline int np_host_judge(void *data, void *data_end, __u8 hook) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return 0;
  struct vigil_np_host_key key = {};
  __u8 protocol = 0;
  if (eth->h_proto == bpf_htons(VIGIL_NP_ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end) return 0;
    key.family = VIGIL_NP_FAMILY_INET;
    __builtin_memcpy(key.addr, &ip->saddr, 4);
    key.prefixlen = VIGIL_NP_HOST_FIXED_BITS + 32;
    protocol = ip->protocol;
  } else if (eth->h_proto == bpf_htons(VIGIL_NP_ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end) return 0;
    key.family = VIGIL_NP_FAMILY_INET6;
    __builtin_memcpy(key.addr, &ip6->saddr, 16);
    key.prefixlen = VIGIL_NP_HOST_FIXED_BITS + 128;
    protocol = ip6->nexthdr;
  } else {
    return 0;
  }
  __u32 gen = np_generation();
  key.gen = gen;
  struct vigil_np_host_value *entry = bpf_map_lookup_elem(&np_host_deny, &key);
  if (!entry) return 0;
  struct np_result result = {.rule = entry->rule, .policy = entry->policy, .verdict = VIGIL_NP_VERDICT_DENY};
  np_count(gen, result.policy, VIGIL_NP_COUNT_DENIED);
  /* One record per source per sample period: a flood is counted, not logged packet by packet. */
  struct vigil_np_sample_key sample = {};
  sample.direction = VIGIL_NP_DIR_INGRESS;
  sample.protocol = 0xff;
  __builtin_memcpy(sample.addr, key.addr, 16);
  __u64 now = bpf_ktime_get_boot_ns();
  __u64 *last = bpf_map_lookup_elem(&np_sampled, &sample);
  if (last && now - *last < VIGIL_NP_ALLOWED_SAMPLE_NS) return 1;
  bpf_map_update_elem(&np_sampled, &sample, &now, BPF_ANY);
  struct vigil_np_flow *flow = bpf_ringbuf_reserve(&np_flows, sizeof(*flow), 0);
  if (!flow) return 1;
  __builtin_memset(flow, 0, sizeof(*flow));
  flow->timestamp_ns = now;
  flow->gen = gen;
  flow->rule = result.rule;
  flow->policy = result.policy;
  flow->direction = VIGIL_NP_DIR_INGRESS;
  flow->verdict = VIGIL_NP_VERDICT_DENY;
  flow->protocol = protocol == 6 ? VIGIL_NP_PROTO_TCP : protocol == 17 ? VIGIL_NP_PROTO_UDP
                   : (protocol == 1 || protocol == VIGIL_NP_IPPROTO_ICMPV6) ? VIGIL_NP_PROTO_ICMP : protocol;
  flow->family = key.family;
  flow->hook = hook;
  __builtin_memcpy(flow->remote_addr, key.addr, 16);
  bpf_ringbuf_submit(flow, 0);
  return 1;
}

SEC("xdp")
int vigil_np_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  return np_host_judge(data, data_end, VIGIL_NP_HOOK_XDP) ? NP_XDP_DROP : NP_XDP_PASS;
}

SEC("tc")
int vigil_np_tc(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  return np_host_judge(data, data_end, VIGIL_NP_HOOK_TC) ? NP_TC_ACT_SHOT : NP_TC_ACT_OK;
}
