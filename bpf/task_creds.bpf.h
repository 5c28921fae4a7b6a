/* A task's credentials, read from eBPF into the ABI's struct vigil_creds. Include after
 * vmlinux.h and <bpf/bpf_core_read.h>; adds no maps, so any program file may include it. */
#ifndef VIGIL_BPF_TASK_CREDS_BPF_H
#define VIGIL_BPF_TASK_CREDS_BPF_H

#include "creds.h"

static __always_inline void read_creds(struct vigil_creds *c, struct task_struct *task) {
  const struct cred *cred = BPF_CORE_READ(task, cred);
  c->uid = BPF_CORE_READ(cred, uid.val);
  c->euid = BPF_CORE_READ(cred, euid.val);
  c->suid = BPF_CORE_READ(cred, suid.val);
  c->fsuid = BPF_CORE_READ(cred, fsuid.val);
  c->gid = BPF_CORE_READ(cred, gid.val);
  c->egid = BPF_CORE_READ(cred, egid.val);
  c->sgid = BPF_CORE_READ(cred, sgid.val);
  c->fsgid = BPF_CORE_READ(cred, fsgid.val);
  c->cap_effective = BPF_CORE_READ(cred, cap_effective.val);
  c->cap_permitted = BPF_CORE_READ(cred, cap_permitted.val);
  c->cap_inheritable = BPF_CORE_READ(cred, cap_inheritable.val);
}

#endif /* VIGIL_BPF_TASK_CREDS_BPF_H */
