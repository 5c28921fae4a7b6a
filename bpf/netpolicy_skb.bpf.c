// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Network policy at the socket's packets (cgroup_skb), for what the socket hooks cannot see:
 *   ingress: every packet delivered to a socket of a workload. New flows only: TCP segments with
 *     SYN and without ACK (later segments reach only sockets whose handshake passed), UDP
 *     datagrams except replies from peers the socket sent to, ICMP to ping/raw sockets.
 *   egress: ICMP echo requests (ping over raw sockets passes no connect/sendmsg hook of ours).
 * The identity is the socket's: its cgroup (deepest first), then its owner's uid; packets are
 * handled in softirq context, with no task at hand. A drop returns 0. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netpolicy_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NP_TCP_FLAG_SYN 0x02
#define NP_TCP_FLAG_ACK 0x10

struct np_packet {
  __u8 family;
  __u8 protocol; /* VIGIL_NP_PROTO_* */
  __u8 tcp_flags;
  __u8 icmp_type;
  __u16 src_port, dst_port; /* host order */
  __u8 src[16];
  __u8 dst[16];
};

/* cgroup_skb programs see the packet from its network header. */
static __always_inline int np_parse(struct __sk_buff *skb, struct np_packet *p) {
  __u32 l4 = 0;
  __u8 proto = 0;
  if (skb->protocol == bpf_htons(VIGIL_NP_ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0) return -1;
    p->family = VIGIL_NP_FAMILY_INET;
    __builtin_memcpy(p->src, &ip.saddr, 4);
    __builtin_memcpy(p->dst, &ip.daddr, 4);
    proto = ip.protocol;
    l4 = (ip.ihl & 0xf) * 4;
    if (ip.frag_off & bpf_htons(0x1fff)) proto = 0; /* not the first fragment: no ports here */
  } else if (skb->protocol == bpf_htons(VIGIL_NP_ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0) return -1;
    p->family = VIGIL_NP_FAMILY_INET6;
    __builtin_memcpy(p->src, &ip6.saddr, 16);
    __builtin_memcpy(p->dst, &ip6.daddr, 16);
    proto = ip6.nexthdr;
    l4 = sizeof(ip6);
  } else {
    return -1;
  }
  if (proto == 6) {
    __u8 tcp[14];
    if (bpf_skb_load_bytes(skb, l4, tcp, sizeof(tcp)) < 0) return -1;
    p->protocol = VIGIL_NP_PROTO_TCP;
    p->src_port = ((__u16)tcp[0] << 8) | tcp[1];
    p->dst_port = ((__u16)tcp[2] << 8) | tcp[3];
    p->tcp_flags = tcp[13];
  } else if (proto == 17) {
    __u8 udp[4];
    if (bpf_skb_load_bytes(skb, l4, udp, sizeof(udp)) < 0) return -1;
    p->protocol = VIGIL_NP_PROTO_UDP;
    p->src_port = ((__u16)udp[0] << 8) | udp[1];
    p->dst_port = ((__u16)udp[2] << 8) | udp[3];
  } else if (proto == 1 || proto == VIGIL_NP_IPPROTO_ICMPV6) {
    __u8 type = 0;
    if (bpf_skb_load_bytes(skb, l4, &type, 1) < 0) return -1;
    p->protocol = VIGIL_NP_PROTO_ICMP;
    p->icmp_type = type;
  } else {
    p->protocol = proto;
  }
  return 0;
}

static __always_inline __u32 np_socket_identity(struct __sk_buff *skb, __u32 gen, __u64 *cgroup_id, __u32 *uid) {
  *cgroup_id = bpf_skb_cgroup_id(skb);
  *uid = bpf_get_socket_uid(skb);
  __u32 identity = np_subject(gen, VIGIL_NP_SUBJECT_CGROUP, *cgroup_id);
  if (identity) return identity;
  __u64 ancestors[VIGIL_NP_CGROUP_LEVELS] = {};
  int depth = 0;
  for (int level = 0; level < VIGIL_NP_CGROUP_LEVELS; level++) {
    __u64 id = bpf_skb_ancestor_cgroup_id(skb, level);
    if (!id) break;
    ancestors[level] = id;
    depth = level + 1;
  }
  for (int i = VIGIL_NP_CGROUP_LEVELS - 1; i >= 0; i--) {
    if (i >= depth) continue;
    identity = np_subject(gen, VIGIL_NP_SUBJECT_CGROUP, ancestors[i]);
    if (identity) return identity;
  }
  return np_subject(gen, VIGIL_NP_SUBJECT_UID, *uid);
}

SEC("cgroup_skb/ingress")
int vigil_np_skb_ingress(struct __sk_buff *skb) {
  struct np_packet p = {};
  if (np_parse(skb, &p) < 0) return 1;
  if (p.protocol == VIGIL_NP_PROTO_TCP && (p.tcp_flags & (NP_TCP_FLAG_SYN | NP_TCP_FLAG_ACK)) != NP_TCP_FLAG_SYN)
    return 1; /* not a new connection */
  if (p.protocol == VIGIL_NP_PROTO_UDP) {
    struct vigil_np_reply_key reply = {};
    reply.socket_cookie = bpf_get_socket_cookie(skb);
    __builtin_memcpy(reply.addr, p.src, 16);
    reply.port = p.src_port;
    if (bpf_map_lookup_elem(&np_replies, &reply)) return 1;
  }
  __u32 gen = np_generation();
  __u64 cgroup_id = 0;
  __u32 uid = 0;
  __u32 identity = np_socket_identity(skb, gen, &cgroup_id, &uid);
  if (!identity) return 1;
  struct np_result result;
  np_decide(gen, identity, VIGIL_NP_DIR_INGRESS, p.family, p.src, p.protocol, p.dst_port, &result);
  return np_enforce(gen, identity, &result, VIGIL_NP_DIR_INGRESS, p.family, p.src, p.src_port, p.dst_port, p.protocol,
                    VIGIL_NP_HOOK_SKB, cgroup_id, uid, 0);
}

SEC("cgroup_skb/egress")
int vigil_np_skb_egress(struct __sk_buff *skb) {
  struct np_packet p = {};
  if (np_parse(skb, &p) < 0) return 1;
  if (p.protocol != VIGIL_NP_PROTO_ICMP) return 1; /* TCP and UDP: the socket hooks judged them */
  if (!(p.family == VIGIL_NP_FAMILY_INET && p.icmp_type == 8) && !(p.family == VIGIL_NP_FAMILY_INET6 && p.icmp_type == 128))
    return 1; /* only echo requests start a flow */
  __u32 gen = np_generation();
  __u64 cgroup_id = 0;
  __u32 uid = 0;
  __u32 identity = np_socket_identity(skb, gen, &cgroup_id, &uid);
  if (!identity) return 1;
  struct np_result result;
  np_decide(gen, identity, VIGIL_NP_DIR_EGRESS, p.family, p.dst, p.protocol, 0, &result);
  return np_enforce(gen, identity, &result, VIGIL_NP_DIR_EGRESS, p.family, p.dst, 0, 0, p.protocol, VIGIL_NP_HOOK_SKB,
                    cgroup_id, uid, 0);
}
