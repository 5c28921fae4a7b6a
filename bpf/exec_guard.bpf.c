// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Exec guard: keeps the agent's fanotify ignore marks honest (bpf/abi/exec_guard.h says why).
 *
 * sys_exit of the open family: a file opened for writing whose inode is guarded becomes dirty,
 * synchronously, before the writer can touch it. sched_process_exec: a guarded inode that is
 * pending becomes confirmed (exec succeeded, so deny_write_access saw no writer); a dirty one
 * is killed (SIGKILL is delivered before the new program's first instruction) and reported.
 * tp_btf only: loads under lockdown=integrity. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "exec_guard_map.h"
#include "syscall_nr.h"
#include "task_files.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VIGIL_SIGKILL 9
#define VIGIL_FMODE_WRITE 0x2

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_guarded_inode_key);
  __type(value, struct vigil_guarded_inode);
} guarded SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 * 1024);
} kills SEC(".maps");

/* [0] kills, [1] kill reports lost (ring buffer full), [2] entries dirtied */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 index) {
  __u64 *value = bpf_map_lookup_elem(&counters, &index);
  if (value) *value += 1;
}

static __always_inline void key_of(struct inode *inode, struct vigil_guarded_inode_key *key) {
  key->inode = BPF_CORE_READ(inode, i_ino);
  key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
  key->pad = 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_guard_open_exit, struct pt_regs *regs, long ret) {
  if (ret < 0) return 0;
  long nr = BPF_CORE_READ(regs, orig_ax);
  /* Every call that makes a writable struct file from a path (x86_64 numbers). */
  if (nr != VIGIL_NR_openat && nr != VIGIL_NR_open && nr != VIGIL_NR_openat2 && nr != VIGIL_NR_creat &&
      nr != VIGIL_NR_open_by_handle_at)
    return 0;
  struct file *file = file_of_fd(bpf_get_current_task_btf(), ret);
  if (!file) return 0;
  if (!(BPF_CORE_READ(file, f_mode) & VIGIL_FMODE_WRITE)) return 0;
  struct vigil_guarded_inode_key key;
  key_of(BPF_CORE_READ(file, f_inode), &key);
  struct vigil_guarded_inode *entry = bpf_map_lookup_elem(&guarded, &key);
  if (!entry) return 0;
  entry->state = VIGIL_GUARD_DIRTY;
  count(2);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_guard_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  struct vigil_guarded_inode_key key;
  key_of(BPF_CORE_READ(bprm, file, f_inode), &key);
  struct vigil_guarded_inode *entry = bpf_map_lookup_elem(&guarded, &key);
  if (!entry) return 0;
  if (entry->state == VIGIL_GUARD_PENDING) {
    __sync_val_compare_and_swap(&entry->state, VIGIL_GUARD_PENDING, VIGIL_GUARD_CONFIRMED);
    return 0;
  }
  if (entry->state != VIGIL_GUARD_DIRTY) return 0;
  bpf_send_signal(VIGIL_SIGKILL);
  count(0);
  struct vigil_guard_kill *report = bpf_ringbuf_reserve(&kills, sizeof(*report), 0);
  if (!report) {
    count(1);
    return 0;
  }
  report->timestamp_ns = bpf_ktime_get_boot_ns();
  report->inode = key.inode;
  report->dev = key.dev;
  report->pid = bpf_get_current_pid_tgid() >> 32;
  report->uid = (__u32)bpf_get_current_uid_gid();
  report->pad = 0;
  bpf_get_current_comm(report->comm, sizeof(report->comm));
  bpf_ringbuf_submit(report, 0);
  return 0;
}
