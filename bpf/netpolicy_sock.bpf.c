// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Network policy, egress at the socket: cgroup/connect4/6 (TCP, connected UDP, ping sockets) and
 * cgroup/sendmsg4/6 (unconnected UDP). A denied flow returns 0: the caller's connect(2) or
 * sendmsg(2) fails with EPERM, nothing reaches the wire. Identity of the current task in
 * netpolicy_maps.h's precedence order: signer, exe, cgroup (deepest first), uid. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netpolicy_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u32 np_current_identity(__u32 gen, __u64 *cgroup_id, __u32 *uid) {
  *uid = (__u32)bpf_get_current_uid_gid();
  *cgroup_id = bpf_get_current_cgroup_id();
  __u32 identity = 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct inode *inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
  struct vigil_np_exe_key exe = {};
  if (inode) {
    exe.inode = BPF_CORE_READ(inode, i_ino);
    exe.dev = BPF_CORE_READ(inode, i_sb, s_dev); /* kernel encoding, as the key says */
  }
  struct vigil_np_exe_facts *facts = inode ? bpf_map_lookup_elem(&np_exe_facts, &exe) : 0;
  if (facts) {
    if (facts->signer) identity = np_subject(gen, VIGIL_NP_SUBJECT_SIGNER, facts->signer);
    if (!identity && facts->exe_path) identity = np_subject(gen, VIGIL_NP_SUBJECT_EXE, facts->exe_path);
    if (identity) return identity;
  }
  identity = np_subject(gen, VIGIL_NP_SUBJECT_CGROUP, *cgroup_id);
  if (identity) return identity;
  /* Ancestors, deepest first: find the depth, then walk up. */
  __u64 ancestors[VIGIL_NP_CGROUP_LEVELS] = {};
  int depth = 0;
  for (int level = 0; level < VIGIL_NP_CGROUP_LEVELS; level++) {
    __u64 id = bpf_get_current_ancestor_cgroup_id(level);
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

static __always_inline __u8 np_protocol(__u32 protocol) {
  if (protocol == 6) return VIGIL_NP_PROTO_TCP;
  if (protocol == 17) return VIGIL_NP_PROTO_UDP;
  if (protocol == 1 || protocol == VIGIL_NP_IPPROTO_ICMPV6) return VIGIL_NP_PROTO_ICMP;
  return (__u8)protocol;
}

static __always_inline int np_egress(struct bpf_sock_addr *ctx, __u8 family, const __u8 *addr, __u8 hook) {
  __u32 gen = np_generation();
  __u64 cgroup_id = 0;
  __u32 uid = 0;
  __u32 identity = np_current_identity(gen, &cgroup_id, &uid);
  if (!identity) return 1;
  __u8 protocol = np_protocol(ctx->protocol);
  __u16 port = protocol == VIGIL_NP_PROTO_ICMP ? 0 : bpf_ntohs((__u16)ctx->user_port);
  struct np_result result;
  np_decide(gen, identity, VIGIL_NP_DIR_EGRESS, family, addr, protocol, port, &result);
  int pass = np_enforce(gen, identity, &result, VIGIL_NP_DIR_EGRESS, family, addr, port, 0, protocol, hook,
                        cgroup_id, uid, 1);
  if (pass && protocol == VIGIL_NP_PROTO_UDP) {
    /* The peer's datagrams back to this socket are replies (ingress lets them in). */
    struct vigil_np_reply_key reply = {};
    reply.socket_cookie = bpf_get_socket_cookie(ctx);
    __builtin_memcpy(reply.addr, addr, 16);
    reply.port = port;
    __u64 now = bpf_ktime_get_boot_ns();
    bpf_map_update_elem(&np_replies, &reply, &now, BPF_ANY);
  }
  return pass;
}

static __always_inline int np_egress4(struct bpf_sock_addr *ctx, __u8 hook) {
  __u8 addr[16] = {};
  __u32 ip = ctx->user_ip4;
  __builtin_memcpy(addr, &ip, 4);
  return np_egress(ctx, VIGIL_NP_FAMILY_INET, addr, hook);
}

static __always_inline int np_egress6(struct bpf_sock_addr *ctx, __u8 hook) {
  __u32 words[4];
  words[0] = ctx->user_ip6[0];
  words[1] = ctx->user_ip6[1];
  words[2] = ctx->user_ip6[2];
  words[3] = ctx->user_ip6[3];
  __u8 addr[16] = {};
  /* ::ffff:a.b.c.d (a dual-stack socket reaching IPv4) is judged as IPv4. */
  if (words[0] == 0 && words[1] == 0 && words[2] == bpf_htonl(0xffff)) {
    __builtin_memcpy(addr, &words[3], 4);
    return np_egress(ctx, VIGIL_NP_FAMILY_INET, addr, hook);
  }
  __builtin_memcpy(addr, words, 16);
  return np_egress(ctx, VIGIL_NP_FAMILY_INET6, addr, hook);
}

SEC("cgroup/connect4")
int vigil_np_connect4(struct bpf_sock_addr *ctx) { return np_egress4(ctx, VIGIL_NP_HOOK_CONNECT); }

SEC("cgroup/connect6")
int vigil_np_connect6(struct bpf_sock_addr *ctx) { return np_egress6(ctx, VIGIL_NP_HOOK_CONNECT); }

SEC("cgroup/sendmsg4")
int vigil_np_sendmsg4(struct bpf_sock_addr *ctx) { return np_egress4(ctx, VIGIL_NP_HOOK_SENDMSG); }

SEC("cgroup/sendmsg6")
int vigil_np_sendmsg6(struct bpf_sock_addr *ctx) { return np_egress6(ctx, VIGIL_NP_HOOK_SENDMSG); }
