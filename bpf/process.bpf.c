// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Process lifecycle probe: exec, fork (new processes) and exit (whole processes).
 *
 * Records go to one ring buffer (`events`, sized by user space before load); when a record
 * cannot be reserved, the per-CPU counter `drops[type]` is incremented instead. Only tp_btf
 * programs are used: they load under lockdown=integrity, unlike fentry/kprobe/LSM.
 * Every kernel structure is read with CO-RE (BPF_CORE_READ), so one object runs on any
 * kernel with BTF. Layouts: bpf/abi/; fields: docs/bpf.md. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "event_header.h"
#include "process_events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/linux/sched/signal.h; not in BTF because it is a macro. Stable since 2.6. */
#define VIGIL_SIGNAL_GROUP_EXIT 0x00000004

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024); /* placeholder: user space sets the size before load */
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VIGIL_EVENT_TYPE_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 type) {
  __u64 *count = bpf_map_lookup_elem(&drops, &type);
  if (count) __sync_fetch_and_add(count, 1);
}

/* Inode number of the task's active pid namespace (what /proc/PID/ns/pid shows):
 * task->thread_pid->numbers[level].ns, not nsproxy->pid_ns_for_children. */
static __always_inline __u32 active_pid_ns(struct task_struct *task) {
  struct pid *pid = BPF_CORE_READ(task, thread_pid);
  if (!pid) return 0;
  unsigned int level = BPF_CORE_READ(pid, level);
  struct upid upid = {};
  if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]) < 0) return 0;
  return BPF_CORE_READ(upid.ns, ns.inum);
}

/* Fills the header from the current task; `task` must be current. */
static __always_inline void fill_header(struct vigil_event_header *h, __u32 type, __u32 size,
                                        struct task_struct *task) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 uid_gid = bpf_get_current_uid_gid();
  h->timestamp_ns = bpf_ktime_get_boot_ns();
  h->type = type;
  h->size = size;
  h->pid = pid_tgid >> 32;
  h->tid = (__u32)pid_tgid;
  h->ppid = BPF_CORE_READ(task, real_parent, tgid);
  h->uid = (__u32)uid_gid;
  h->gid = uid_gid >> 32;
  h->reserved0 = 0;
  h->cgroup_id = bpf_get_current_cgroup_id();
  h->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  h->pid_ns = active_pid_ns(task);
  h->net_ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
  bpf_get_current_comm(h->comm, sizeof(h->comm));
  h->reserved1 = 0;
}

/* The kernel's internal dev_t (major << 20 | minor) as stat(2) reports it (new_encode_dev). */
static __always_inline __u32 encode_dev(dev_t dev) {
  __u32 major = dev >> 20;
  __u32 minor = dev & 0xfffff;
  return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  struct vigil_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop(VIGIL_EVENT_EXEC);
    return 0;
  }
  fill_header(&e->header, VIGIL_EVENT_EXEC, sizeof(*e), task);

  struct inode *inode = BPF_CORE_READ(bprm, file, f_inode);
  e->exe_ino = BPF_CORE_READ(inode, i_ino);
  e->exe_dev = encode_dev(BPF_CORE_READ(inode, i_sb, s_dev));
  e->argc = BPF_CORE_READ(bprm, argc);
  e->flags = 0;
  e->reserved0 = 0;

  long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
  if (n < 0) {
    e->filename[0] = '\0';
    n = 1;
  }
  if (n == sizeof(e->filename)) e->flags |= VIGIL_EXEC_FILENAME_TRUNCATED;
  e->filename_size = n;

  /* The new program's argument area: set up by the binary loader before this tracepoint. */
  struct mm_struct *mm = BPF_CORE_READ(task, mm);
  unsigned long start = BPF_CORE_READ(mm, arg_start);
  unsigned long end = BPF_CORE_READ(mm, arg_end);
  unsigned long len = end > start ? end - start : 0;
  if (len > sizeof(e->args)) {
    len = sizeof(e->args);
    e->flags |= VIGIL_EXEC_ARGS_TRUNCATED;
  }
  if (bpf_probe_read_user(e->args, len, (const void *)start) < 0) {
    len = 0;
    e->flags |= VIGIL_EXEC_ARGS_UNREADABLE;
  }
  e->args_size = len;

  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 child_pid = BPF_CORE_READ(child, tgid);
  __u32 child_tid = BPF_CORE_READ(child, pid);
  if (child_pid != child_tid) return 0; /* a new thread of an existing process */

  struct vigil_fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop(VIGIL_EVENT_FORK);
    return 0;
  }
  fill_header(&e->header, VIGIL_EVENT_FORK, sizeof(*e), parent);
  e->child_pid = child_pid;
  e->child_tid = child_tid;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task) {
  /* do_exit() decrements signal->live before this tracepoint: 0 means the last thread. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;

  struct vigil_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop(VIGIL_EVENT_EXIT);
    return 0;
  }
  fill_header(&e->header, VIGIL_EVENT_EXIT, sizeof(*e), task);
  /* What wait(2) will report: the group's code after exit_group() or a fatal signal. */
  int code = BPF_CORE_READ(task, exit_code);
  if (BPF_CORE_READ(task, signal, flags) & VIGIL_SIGNAL_GROUP_EXIT)
    code = BPF_CORE_READ(task, signal, group_exit_code);
  e->exit_code = code;
  e->reserved0 = 0;
  bpf_ringbuf_submit(e, 0);
  return 0;
}
