/* vigil's kernel/user ABI: the exec guard (bpf/exec_guard.bpf.c).
 *
 * The guard makes sure that an executable runs with the content user space decided on. The
 * kernel answers nothing about who wrote a file, but it guarantees two things we build on:
 * an exec fails with ETXTBSY while any writable struct file of the executable exists, and the
 * last reference of every struct file is dropped in __fput, which removes its file locks
 * (locks_remove_file) before it gives up write access (put_write_access). The agent holds a
 * lock on every inode it guards (flock LOCK_SH, else an OFD read lock on the last byte), so
 * the lock list is never empty and every __fput of that inode passes a file-lock tracepoint
 * with the struct file in hand: the release of a writable file counts in `guarded`, however
 * the file was opened (open(2), io_uring OPENAT/OPENAT2 or a direct descriptor, a received
 * descriptor...), before the exec that it might have raced can pass deny_write_access.
 *
 * sched_process_exec then compares the inode with the baseline the agent decided on: the
 * exec's own ticket (every allowed exec of an ELF file), or, for execs that skipped user space
 * through a fanotify ignore mark, the inode's cached baseline. Writable releases, ctime and size
 * must all be as they were when user space looked. Same layout rules as event_header.h;
 * documented in docs/agent.md ("Exec guard and kernel-side verdict cache"). */
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

/* vigil_guarded_inode.flags (written by user space when it creates the entry) */
enum vigil_guard_flags {
  /* The agent could take neither of its locks (someone holds a conflicting one): every unlock
   * of the inode counts as a release, because the list may become empty with it. */
  VIGIL_GUARD_UNLOCKED = 1,
};

/* The `guarded` map: created by user space, counted by the kernel only. */
struct vigil_guarded_inode {
  __u64 releases; /* 0: writable files of the inode released since the entry was created */
  __u32 flags;    /* 8: enum vigil_guard_flags */
  __u32 pad;      /* 12: zero */
};                /* 16 bytes */

/* vigil_exec_baseline.flags */
enum vigil_baseline_flags {
  VIGIL_BASELINE_POISON = 1,      /* kill every exec that meets this baseline */
  VIGIL_BASELINE_REPORT_ONLY = 2, /* a mismatch is reported, the exec is not killed (log mode) */
};

/* What user space saw when it decided: the `tickets` and `cached` maps' values. */
struct vigil_exec_baseline {
  __u64 releases;   /*  0: guarded[inode].releases when the decision began */
  __s64 ctime_sec;  /*  8 */
  __u32 ctime_nsec; /* 16 */
  __u32 flags;      /* 20: enum vigil_baseline_flags */
  __s64 size;       /* 24 */
};                  /* 32 bytes */

/* The `tickets` map's key: one allowed exec permission event (fanotify reports the tgid). */
struct vigil_exec_ticket_key {
  __u64 inode; /* 0 */
  __u32 dev;   /* 8 */
  __u32 tgid;  /* 12: init pid namespace */
};             /* 16 bytes */

/* vigil_guard_kill.flags */
enum vigil_guard_kill_flags {
  VIGIL_KILL_KILLED = 1,       /* SIGKILL sent; otherwise only reported (report-only baseline) */
  VIGIL_KILL_FROM_TICKET = 2,  /* the exec's own ticket did not match; otherwise the cached baseline */
  VIGIL_KILL_CHANGED = 4,      /* releases, ctime or size differ (otherwise: poisoned or entry gone) */
};

/* Written to the guard's ring buffer when an exec met a baseline it does not match. */
struct vigil_guard_kill {
  __u64 timestamp_ns; /*  0: CLOCK_BOOTTIME */
  __u64 inode;        /*  8 */
  __u32 dev;          /* 16: kernel encoding */
  __u32 pid;          /* 20: thread group id, init pid ns */
  __u32 uid;          /* 24: real uid */
  __u32 flags;        /* 28: enum vigil_guard_kill_flags */
  char comm[16];      /* 32: the new program's name */
};                    /* 48 bytes */

#endif /* VIGIL_BPF_ABI_EXEC_GUARD_MAP_H */
