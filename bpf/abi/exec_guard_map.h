/* vigil's kernel/user ABI: the exec guard (bpf/exec_guard.bpf.c).
 *
 * The agent's kernel-side verdict cache: an executable whose appraisal passed may get a
 * fanotify ignore mark, so its later execs cost no round trip to user space. The kernel clears
 * such a mark on write(2)/truncate, but not when the file is changed through a shared writable
 * mapping. The guard closes that gap: every inode that may carry an ignore mark has an entry
 * here; opening it for writing marks the entry dirty before open() returns, and an exec of a
 * dirty inode is killed before its first instruction. Same layout rules as event_header.h;
 * documented in docs/agent.md ("Kernel-side verdict cache"). */
#ifndef VIGIL_BPF_ABI_EXEC_GUARD_MAP_H
#define VIGIL_BPF_ABI_EXEC_GUARD_MAP_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* vigil_guarded_inode_key identifies an inode: the kernel's dev_t (major << 20 | minor). */
struct vigil_guarded_inode_key {
  __u64 inode; /* 0: i_ino */
  __u32 dev;   /* 8: i_sb->s_dev, kernel encoding */
  __u32 pad;   /* 12: zero */
};             /* 16 bytes */

/* vigil_guarded_inode.state */
enum vigil_guard_state {
  VIGIL_GUARD_PENDING = 0,   /* verdict cached; no exec has yet proven the file has no writers */
  VIGIL_GUARD_CONFIRMED = 1, /* an exec succeeded (so no writer existed) and no writer opened since */
  VIGIL_GUARD_DIRTY = 2,     /* opened for writing since: its execs are killed until user space resets it */
};

struct vigil_guarded_inode {
  __u32 state; /* 0: enum vigil_guard_state */
  __u32 pad;   /* 4: zero */
};             /* 8 bytes */

/* Written to the guard's ring buffer when an exec of a dirty inode was killed. */
struct vigil_guard_kill {
  __u64 timestamp_ns; /*  0: CLOCK_BOOTTIME */
  __u64 inode;        /*  8 */
  __u32 dev;          /* 16: kernel encoding */
  __u32 pid;          /* 20: thread group id, init pid ns */
  __u32 uid;          /* 24: real uid */
  __u32 pad;          /* 28: zero */
  char comm[16];      /* 32: the new program's name */
};                    /* 48 bytes */

#endif /* VIGIL_BPF_ABI_EXEC_GUARD_MAP_H */
