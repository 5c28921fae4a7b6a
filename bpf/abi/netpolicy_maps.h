/* vigil's kernel/user ABI: network policy (bpf/netpolicy_*.bpf.c, docs/netpolicy.md).
 *
 * All workloads share one set of maps; a policy is a set of small integer identities, each with
 * its defaults, its address prefixes (one LPM trie for IPv4 and IPv6) and, per prefix, a port
 * rule set (deduplicated, shared by every prefix with the same rules). Every key carries a
 * generation (0 or 1): user space writes the next policy under the generation not in force, then
 * switches `active` in one array update, waits for an RCU grace period (membarrier GLOBAL) and
 * deletes the old generation. A program reads the generation once per decision, so every
 * decision uses one whole policy, old or new.
 *
 * Identity of the current task, in precedence order (first hit wins):
 *   1. signer: exe_facts[the task's executable inode].signer (set by the agent when the
 *      integrity engine passed the executable's appraisal with a key of that keyring, before
 *      the exec went on; every exec of a changed file is appraised again, so it stays true);
 *   2. exe: exe_facts[...].exe_path (the agent's id of the executable's path);
 *   3. cgroup: the task's cgroup, then its ancestors, deepest first (container subjects are
 *      the container's cgroup);
 *   4. uid: the task's real uid.
 * Same layout rules as event_header.h: fixed-size fields, explicit padding, little endian. */
#ifndef VIGIL_BPF_ABI_NETPOLICY_MAPS_H
#define VIGIL_BPF_ABI_NETPOLICY_MAPS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define VIGIL_NP_DIR_EGRESS 0
#define VIGIL_NP_DIR_INGRESS 1

#define VIGIL_NP_FAMILY_INET 4
#define VIGIL_NP_FAMILY_INET6 6

/* Protocols: IANA numbers; ICMPv6 (58) is judged as VIGIL_NP_PROTO_ICMP. */
#define VIGIL_NP_PROTO_ANY 0
#define VIGIL_NP_PROTO_ICMP 1
#define VIGIL_NP_PROTO_TCP 6
#define VIGIL_NP_PROTO_UDP 17

#define VIGIL_NP_VERDICT_NONE 0
#define VIGIL_NP_VERDICT_ALLOW 1
#define VIGIL_NP_VERDICT_DENY 2

#define VIGIL_NP_FLAG_AUDIT 1u /* the rule's policy is in audit mode: a deny is logged, not enforced */

#define VIGIL_NP_SUBJECT_SIGNER 1
#define VIGIL_NP_SUBJECT_EXE 2
#define VIGIL_NP_SUBJECT_CGROUP 3
#define VIGIL_NP_SUBJECT_UID 4

#define VIGIL_NP_PORT_RULES 16       /* port rules per prefix, its enclosing prefixes' included */
#define VIGIL_NP_CGROUP_LEVELS 16    /* cgroup ancestors searched for a subject */
#define VIGIL_NP_RULE_DEFAULT 0      /* rule id of "the subject's default decided" */

/* Capacities (max_entries); user space refuses a policy that does not fit beside the one in force. */
#define VIGIL_NP_MAX_IDENTITIES 4096    /* per generation; identity 0 is "none" */
#define VIGIL_NP_MAX_PORTSETS 16384     /* per generation */
#define VIGIL_NP_MAX_POLICIES 256       /* per generation */
#define VIGIL_NP_MAX_PREFIXES (1u << 21) /* both generations together */
#define VIGIL_NP_MAX_SUBJECTS 65536      /* both generations together */
#define VIGIL_NP_MAX_EXECUTABLES 65536
#define VIGIL_NP_MAX_HOST_PREFIXES (1u << 21) /* XDP deny list, both generations */

/* prefixes: LPM trie. prefixlen counts from `gen` on: 96 fixed bits + the address prefix. */
#define VIGIL_NP_PREFIX_FIXED_BITS 96
struct vigil_np_prefix_key {
  __u32 prefixlen; /* 0 */
  __u32 gen;       /* 4 */
  __u32 identity;  /* 8 */
  __u8 direction;  /* 12: VIGIL_NP_DIR_* */
  __u8 family;     /* 13: VIGIL_NP_FAMILY_* */
  __u16 pad;       /* 14: zero */
  __u8 addr[16];   /* 16: network order; IPv4 in the first 4 bytes */
};

struct vigil_np_prefix_value {
  __u32 portset; /* index in `portsets` within the generation */
};

struct vigil_np_port_rule {
  __u16 port_lo;  /* 0: host order, inclusive; 0..65535 for "any port" */
  __u16 port_hi;  /* 2 */
  __u8 protocol;  /* 4: VIGIL_NP_PROTO_* */
  __u8 verdict;   /* 5: VIGIL_NP_VERDICT_ALLOW or _DENY */
  __u8 flags;     /* 6: VIGIL_NP_FLAG_* */
  __u8 pad;       /* 7 */
  __u32 rule;     /* 8: rule id within the generation (1-based) */
  __u32 policy;   /* 12: the rule's policy id */
};

/* portsets: array, index gen * VIGIL_NP_MAX_PORTSETS + id. Rules in policy order. */
struct vigil_np_portset {
  __u32 count; /* 0 */
  __u32 pad;   /* 4 */
  struct vigil_np_port_rule rules[VIGIL_NP_PORT_RULES];
};

/* identities: array, index gen * VIGIL_NP_MAX_IDENTITIES + identity. */
struct vigil_np_identity {
  __u8 default_verdict[2]; /* 0: per direction; VIGIL_NP_VERDICT_NONE: no default (allow, not logged) */
  __u8 default_flags[2];   /* 2: VIGIL_NP_FLAG_* of the policy that set the default */
  __u32 policy;            /* 4: policy id of the default (counters, flow log) */
  __u32 in_use;            /* 8: 1 for a defined identity */
  __u32 pad;               /* 12 */
};

/* subjects: hash (gen, kind, value) -> identity. value: signer/exe id, cgroup id or uid. */
struct vigil_np_subject_key {
  __u32 gen;   /* 0 */
  __u32 kind;  /* 4: VIGIL_NP_SUBJECT_* */
  __u64 value; /* 8 */
};

/* exe_facts: hash executable inode -> what the agent knows of it. Keyed by inode, not by
 * process: execs the kernel verdict cache lets skip user space keep their identity, forks
 * inherit it, and nothing has to follow process lifetimes. */
struct vigil_np_exe_key {
  __u64 inode; /* 0: i_ino of the task's mm->exe_file */
  __u32 dev;   /* 8: i_sb->s_dev, kernel encoding (major << 20 | minor) */
  __u32 pad;   /* 12 */
};
struct vigil_np_exe_facts {
  __u32 signer;   /* 0: agent's id of the keyring that passed appraisal; 0: none */
  __u32 exe_path; /* 4: agent's id of the executable's path; 0: none */
};

/* counters: per-CPU array, index (gen * VIGIL_NP_MAX_POLICIES + policy) * 4 + VIGIL_NP_COUNT_*. */
#define VIGIL_NP_COUNT_ALLOWED 0
#define VIGIL_NP_COUNT_DENIED 1
#define VIGIL_NP_COUNT_AUDITED 2 /* would have been denied (audit mode) */
#define VIGIL_NP_COUNT_LOST 3     /* flow records that did not fit the ring buffer */
#define VIGIL_NP_COUNTERS 4

/* host_deny: LPM trie for the XDP/TC deny list of host interfaces: source addresses dropped. */
#define VIGIL_NP_HOST_FIXED_BITS 64
struct vigil_np_host_key {
  __u32 prefixlen; /* 0: 64 fixed bits + the address prefix */
  __u32 gen;       /* 4 */
  __u8 family;     /* 8 */
  __u8 pad[7];     /* 9 */
  __u8 addr[16];   /* 16 */
};
struct vigil_np_host_value {
  __u32 rule;   /* rule id */
  __u32 policy; /* policy id */
};

/* A flow record in the `flows` ring buffer. Denied and audited flows always; allowed flows at
 * most once per VIGIL_NP_ALLOWED_SAMPLE_NS per (identity, direction, peer, port, protocol). */
#define VIGIL_NP_ALLOWED_SAMPLE_NS 10000000000ull
#define VIGIL_NP_HOOK_CONNECT 1
#define VIGIL_NP_HOOK_SENDMSG 2
#define VIGIL_NP_HOOK_SKB 3
#define VIGIL_NP_HOOK_XDP 4
#define VIGIL_NP_HOOK_TC 5
struct vigil_np_flow {
  __u64 timestamp_ns; /* 0: CLOCK_BOOTTIME */
  __u64 cgroup_id;    /* 8 */
  __u32 gen;          /* 16 */
  __u32 identity;     /* 20 */
  __u32 rule;         /* 24: 0: the default */
  __u32 policy;       /* 28 */
  __u32 pid;          /* 32: tgid; 0 where no task is at hand (skb, xdp) */
  __u32 uid;          /* 36 */
  __u8 direction;     /* 40 */
  __u8 verdict;       /* 41: VIGIL_NP_VERDICT_* as decided (deny in audit mode: flags has AUDIT) */
  __u8 flags;         /* 42 */
  __u8 protocol;      /* 43 */
  __u8 family;        /* 44 */
  __u8 hook;          /* 45: VIGIL_NP_HOOK_* */
  __u16 pad;          /* 46 */
  __u16 local_port;   /* 48: host order; 0 when unknown */
  __u16 remote_port;  /* 50 */
  __u32 pad2;         /* 52 */
  __u8 local_addr[16];  /* 56 */
  __u8 remote_addr[16]; /* 72 */
  char comm[16];        /* 88 */
}; /* 104 bytes */

/* sampled: LRU hash of the allowed flows recently reported. */
struct vigil_np_sample_key {
  __u32 identity;
  __u8 direction;
  __u8 protocol;
  __u16 port;
  __u8 addr[16];
};

/* replies: LRU hash of UDP peers a socket sent to (egress allowed); their datagrams back to that
 * socket are replies, not new ingress flows. */
struct vigil_np_reply_key {
  __u64 socket_cookie;
  __u8 addr[16];
  __u16 port; /* peer port, host order */
  __u16 pad[3];
};

#endif /* VIGIL_BPF_ABI_NETPOLICY_MAPS_H */
