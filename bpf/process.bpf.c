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

#include "common.bpf.h"
#include "process_events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/linux/sched/signal.h; not in BTF because it is a macro. Stable since 2.6. */
#define VIGIL_SIGNAL_GROUP_EXIT 0x00000004
/* include/uapi/linux/magic.h */
#define VIGIL_OVERLAYFS_SUPER_MAGIC 0x794c7630

/* Whether an overlayfs inode has an upper dentry: the file was created or modified (copied up)
 * in the writable layer, not shipped in an image layer. What Falco calls
 * proc.is_exe_upper_layer. False for other filesystems, and when overlayfs's BTF is absent. */
static __always_inline int in_upper_layer(struct inode *inode) {
  if (!bpf_core_type_exists(struct ovl_inode)) return 0;
  if (BPF_CORE_READ(inode, i_sb, s_magic) != VIGIL_OVERLAYFS_SUPER_MAGIC) return 0;
  struct ovl_inode *ovl = (struct ovl_inode *)((void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode));
  return BPF_CORE_READ(ovl, __upperdentry) != NULL;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  struct vigil_exec_event *e = reserve_record(VIGIL_EVENT_EXEC, sizeof(*e), task);
  if (!e) return 0;

  struct inode *inode = BPF_CORE_READ(bprm, file, f_inode);
  e->exe_ino = BPF_CORE_READ(inode, i_ino);
  e->exe_dev = encode_dev(BPF_CORE_READ(inode, i_sb, s_dev));
  e->argc = BPF_CORE_READ(bprm, argc);
  e->flags = in_upper_layer(inode) ? VIGIL_EXEC_EXE_UPPER_LAYER : 0;

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

  /* The environment strings follow the arguments on the new stack; only their size is kept. */
  unsigned long env_start = BPF_CORE_READ(mm, env_start);
  unsigned long env_end = BPF_CORE_READ(mm, env_end);
  e->env_size = env_end > env_start ? env_end - env_start : 0;

  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 child_pid = BPF_CORE_READ(child, tgid);
  __u32 child_tid = BPF_CORE_READ(child, pid);
  if (child_pid != child_tid) return 0; /* a new thread of an existing process */

  struct vigil_fork_event *e = reserve_record(VIGIL_EVENT_FORK, sizeof(*e), parent);
  if (!e) return 0;
  e->child_pid = child_pid;
  e->child_tid = child_tid;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task) {
  /* do_exit() decrements signal->live before this tracepoint: 0 means the last thread. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;

  struct vigil_exit_event *e = reserve_record(VIGIL_EVENT_EXIT, sizeof(*e), task);
  if (!e) return 0;
  /* What wait(2) will report: the group's code after exit_group() or a fatal signal. */
  int code = BPF_CORE_READ(task, exit_code);
  if (BPF_CORE_READ(task, signal, flags) & VIGIL_SIGNAL_GROUP_EXIT)
    code = BPF_CORE_READ(task, signal, group_exit_code);
  e->exit_code = code;
  e->reserved0 = 0;
  bpf_ringbuf_submit(e, 0);
  return 0;
}
