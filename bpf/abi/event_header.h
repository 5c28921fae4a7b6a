/* vigil's kernel/user ABI: the header every eBPF record starts with.
 *
 * Plain C, fixed-size types only, no implicit padding: the same bytes are written by the eBPF
 * programs (bpf/NAME.bpf.c, where __u32 etc. come from vmlinux.h) and read by user space
 * (src/probe and its consumers, where they come from <linux/types.h>). Every field is
 * documented in docs/bpf.md; tests/unit/probe_abi_test.cpp pins sizes and offsets.
 * Changing a layout means bumping VIGIL_ABI_VERSION. */
#ifndef VIGIL_BPF_ABI_EVENT_HEADER_H
#define VIGIL_BPF_ABI_EVENT_HEADER_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define VIGIL_ABI_VERSION 3

#define VIGIL_COMM_LEN 16

/* vigil_event_header.type */
enum vigil_event_type {
  VIGIL_EVENT_EXEC = 1, /* struct vigil_exec_event */
  VIGIL_EVENT_FORK = 2, /* struct vigil_fork_event */
  VIGIL_EVENT_EXIT = 3, /* struct vigil_exit_event */
  /* system calls (syscall_events.h), one record type per family */
  VIGIL_EVENT_SYSCALL_FILE = 4, /* struct vigil_syscall_file_event */
  VIGIL_EVENT_SYSCALL_NET = 5,  /* struct vigil_syscall_net_event */
  VIGIL_EVENT_SYSCALL_CRED = 6, /* struct vigil_syscall_cred_event */
  VIGIL_EVENT_SYSCALL_PROC = 7, /* struct vigil_syscall_proc_event */
  VIGIL_EVENT_SYSCALL_EXEC = 8, /* struct vigil_syscall_exec_event */
};
/* One past the largest type: sizes the per-type drop counters. */
#define VIGIL_EVENT_TYPE_COUNT 9

struct vigil_event_header {
  __u64 timestamp_ns;          /*  0: CLOCK_BOOTTIME when the event was recorded */
  __u32 type;                  /*  8: enum vigil_event_type */
  __u32 size;                  /* 12: bytes of the whole record, this header included */
  __u32 pid;                   /* 16: thread group id (what user space calls the pid), init pid ns */
  __u32 tid;                   /* 20: thread id, init pid ns */
  __u32 ppid;                  /* 24: thread group id of the real parent, init pid ns */
  __u32 uid;                   /* 28: real uid, init user ns */
  __u32 gid;                   /* 32: real gid, init user ns */
  __u32 reserved0;             /* 36: zero */
  __u64 cgroup_id;             /* 40: cgroup v2 id (inode number of the cgroup's directory) */
  __u32 mnt_ns;                /* 48: mount namespace inode number */
  __u32 pid_ns;                /* 52: active pid namespace inode number */
  __u32 net_ns;                /* 56: network namespace inode number */
  char comm[VIGIL_COMM_LEN];   /* 60: task name, NUL-terminated */
  __u32 reserved1;             /* 76: zero */
};                             /* 80 bytes */

#endif /* VIGIL_BPF_ABI_EVENT_HEADER_H */
