/* What every vigil eBPF program file shares: the ring buffer, the per-CPU drop counters and
 * the record header. Each object (process.bpf.o, syscalls.bpf.o) declares the maps; user space
 * creates them once (with the process object) and makes the other objects reuse those maps
 * (bpf_map__reuse_fd), so all records go to ONE ring buffer. Include after vmlinux.h and
 * libbpf's headers. */
#ifndef VIGIL_BPF_COMMON_BPF_H
#define VIGIL_BPF_COMMON_BPF_H

#include "event_header.h"

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
  /* task is a trusted BTF pointer (tp_btf argument or bpf_get_current_task_btf): plain field
   * loads (CO-RE relocated, fault-safe) instead of one bpf_probe_read_kernel call each. */
  h->ppid = task->real_parent->tgid;
  h->uid = (__u32)uid_gid;
  h->gid = uid_gid >> 32;
  h->reserved0 = 0;
  h->cgroup_id = bpf_get_current_cgroup_id();
  struct nsproxy *nsproxy = task->nsproxy;
  h->mnt_ns = nsproxy ? nsproxy->mnt_ns->ns.inum : 0; /* nsproxy is NULL once an exiting task dropped it */
  h->pid_ns = active_pid_ns(task);
  h->net_ns = nsproxy ? nsproxy->net_ns->ns.inum : 0;
  bpf_get_current_comm(h->comm, sizeof(h->comm));
  h->reserved1 = 0;
}

/* A record of `size` bytes in the ring buffer with its header filled from `task` (current), or
 * NULL, with the drop counted, when the ring buffer is full. */
static __always_inline void *reserve_record(__u32 type, __u32 size, struct task_struct *task) {
  struct vigil_event_header *h = bpf_ringbuf_reserve(&events, size, 0);
  if (!h) {
    count_drop(type);
    return NULL;
  }
  fill_header(h, type, size, task);
  return h;
}

/* The kernel's internal dev_t (major << 20 | minor) as stat(2) reports it (new_encode_dev). */
static __always_inline __u32 encode_dev(dev_t dev) {
  __u32 major = dev >> 20;
  __u32 minor = dev & 0xfffff;
  return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

#endif /* VIGIL_BPF_COMMON_BPF_H */
