/* vigil's kernel/user ABI: a task's credentials, as exec and credential-syscall records carry
 * them. Same rules as event_header.h; docs/bpf.md documents the fields. */
#ifndef VIGIL_BPF_ABI_CREDS_H
#define VIGIL_BPF_ABI_CREDS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Credentials of a task (task->cred), ids in the initial user namespace. */
struct vigil_creds {
  __u32 uid;              /*  0: real uid */
  __u32 euid;             /*  4 */
  __u32 suid;             /*  8 */
  __u32 fsuid;            /* 12 */
  __u32 gid;              /* 16: real gid */
  __u32 egid;             /* 20 */
  __u32 sgid;             /* 24 */
  __u32 fsgid;            /* 28 */
  __u64 cap_effective;    /* 32: kernel_cap_t bits (CAP_* numbers) */
  __u64 cap_permitted;    /* 40 */
  __u64 cap_inheritable;  /* 48 */
};                        /* 56 bytes */

#endif /* VIGIL_BPF_ABI_CREDS_H */
