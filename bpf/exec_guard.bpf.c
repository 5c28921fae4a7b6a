// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* Exec guard: an exec runs the content user space decided on, or it is killed before its
 * first instruction (bpf/abi/exec_guard_map.h has the reasoning).
 *
 * flock_lock_inode / posix_lock_inode: __fput removes a file's locks before it drops write
 * access; the agent keeps a lock on every guarded inode, so the release of each writable file of
 * it passes here, wherever the file came from (open(2), io_uring, a received descriptor).
 * sched_process_exec: the exec's ticket (or, for execs that skipped user space, the inode's
 * cached baseline) must still match: no writable file released since, same ctime, same size.
 * tp_btf only: loads under lockdown=integrity. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "exec_guard_map.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VIGIL_SIGKILL 9
#define VIGIL_FMODE_WRITE 0x2
#define VIGIL_F_UNLCK 2
/* Multigrain timestamps keep a "queried" flag in the top bit of i_ctime_nsec. */
#define VIGIL_NSEC_MASK 0x3fffffffu

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_guarded_inode_key);
  __type(value, struct vigil_guarded_inode);
} guarded SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_guarded_inode_key);
  __type(value, struct vigil_exec_baseline);
} cached SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vigil_exec_ticket_key);
  __type(value, struct vigil_exec_baseline);
} tickets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 * 1024);
} kills SEC(".maps");

/* [0] kills, [1] reports lost (ring buffer full), [2] writable releases counted,
 * [3] mismatches reported without a kill, [4] tickets consumed */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 5);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Before 6.9 the lock's fields were file_lock's own. */
struct file_lock___pre69 {
  struct file *fl_file;
  unsigned char fl_type;
} __attribute__((preserve_access_index));

/* Before 6.11 the ctime was one timespec64. */
struct inode___pre611 {
  struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 index) {
  __u64 *value = bpf_map_lookup_elem(&counters, &index);
  if (value) *value += 1;
}

static __always_inline void key_of(struct inode *inode, struct vigil_guarded_inode_key *key) {
  key->inode = BPF_CORE_READ(inode, i_ino);
  key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
  key->pad = 0;
}

static __always_inline int note_lock_operation(struct inode *inode, struct file_lock *fl) {
  if (!inode || !fl) return 0;
  struct vigil_guarded_inode_key key;
  key_of(inode, &key);
  struct vigil_guarded_inode *entry = bpf_map_lookup_elem(&guarded, &key);
  if (!entry) return 0;
  struct file *file;
  unsigned char type;
  if (bpf_core_field_exists(fl->c)) {
    file = BPF_CORE_READ(fl, c.flc_file);
    type = BPF_CORE_READ(fl, c.flc_type);
  } else {
    struct file_lock___pre69 *old = (void *)fl;
    file = BPF_CORE_READ(old, fl_file);
    type = BPF_CORE_READ(old, fl_type);
  }
  const int writable = file && (BPF_CORE_READ(file, f_mode) & VIGIL_FMODE_WRITE);
  const int counts_any_unlock = (entry->flags & VIGIL_GUARD_UNLOCKED) && type == VIGIL_F_UNLCK;
  if (!writable && !counts_any_unlock) return 0;
  __sync_fetch_and_add(&entry->releases, 1);
  count(2);
  return 0;
}

SEC("tp_btf/flock_lock_inode")
int BPF_PROG(vigil_guard_flock, struct inode *inode, struct file_lock *fl, int ret) {
  return note_lock_operation(inode, fl);
}

SEC("tp_btf/posix_lock_inode")
int BPF_PROG(vigil_guard_posix_lock, struct inode *inode, struct file_lock *fl, int ret) {
  return note_lock_operation(inode, fl);
}

static __always_inline void ctime_of(struct inode *inode, __s64 *sec, __u32 *nsec) {
  if (bpf_core_field_exists(inode->i_ctime_sec)) {
    *sec = BPF_CORE_READ(inode, i_ctime_sec);
    *nsec = BPF_CORE_READ(inode, i_ctime_nsec) & VIGIL_NSEC_MASK;
  } else {
    struct inode___pre611 *old = (void *)inode;
    *sec = BPF_CORE_READ(old, __i_ctime.tv_sec);
    *nsec = (__u32)BPF_CORE_READ(old, __i_ctime.tv_nsec) & VIGIL_NSEC_MASK;
  }
}

static __always_inline void report(const struct vigil_guarded_inode_key *key, __u32 flags) {
  struct vigil_guard_kill *record = bpf_ringbuf_reserve(&kills, sizeof(*record), 0);
  if (!record) {
    count(1);
    return;
  }
  record->timestamp_ns = bpf_ktime_get_boot_ns();
  record->inode = key->inode;
  record->dev = key->dev;
  record->pid = bpf_get_current_pid_tgid() >> 32;
  record->uid = (__u32)bpf_get_current_uid_gid();
  record->flags = flags;
  bpf_get_current_comm(record->comm, sizeof(record->comm));
  bpf_ringbuf_submit(record, 0);
}

/* The exec runs what user space decided on, or it dies. */
static __always_inline void judge(struct inode *inode, const struct vigil_guarded_inode_key *key,
                                  const struct vigil_exec_baseline *baseline, __u32 flags) {
  int mismatch = 0;
  if (baseline->flags & VIGIL_BASELINE_POISON) {
    mismatch = 1;
  } else {
    struct vigil_guarded_inode *entry = bpf_map_lookup_elem(&guarded, key);
    __s64 sec;
    __u32 nsec;
    ctime_of(inode, &sec, &nsec);
    /* Without its entry nothing counted the releases: treat as changed. */
    if (!entry || entry->releases != baseline->releases || sec != baseline->ctime_sec ||
        nsec != baseline->ctime_nsec || BPF_CORE_READ(inode, i_size) != baseline->size) {
      mismatch = 1;
      flags |= VIGIL_KILL_CHANGED;
    }
  }
  if (!mismatch) return;
  if (baseline->flags & VIGIL_BASELINE_REPORT_ONLY) {
    count(3);
  } else {
    bpf_send_signal(VIGIL_SIGKILL);
    count(0);
    flags |= VIGIL_KILL_KILLED;
  }
  report(key, flags);
}

/* The exec's ticket for this inode, else its cached baseline, else nothing to check. */
static __always_inline void check_inode(struct inode *inode) {
  struct vigil_guarded_inode_key key;
  key_of(inode, &key);
  struct vigil_exec_ticket_key ticket_key = {
      .inode = key.inode, .dev = key.dev, .tgid = (__u32)(bpf_get_current_pid_tgid() >> 32)};
  struct vigil_exec_baseline *ticket = bpf_map_lookup_elem(&tickets, &ticket_key);
  if (ticket) {
    struct vigil_exec_baseline decided = *ticket;
    bpf_map_delete_elem(&tickets, &ticket_key);
    count(4);
    judge(inode, &key, &decided, VIGIL_KILL_FROM_TICKET);
    return;
  }
  struct vigil_exec_baseline *baseline = bpf_map_lookup_elem(&cached, &key);
  if (baseline) {
    struct vigil_exec_baseline copy = *baseline;
    judge(inode, &key, &copy, 0);
  }
}

#define VIGIL_OVERLAYFS_SUPER_MAGIC 0x794c7630

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_guard_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  /* An exec through overlayfs runs the overlay's file, but fanotify (and so the agent's decision
   * and ignore mark) saw the real file beneath it: check each layer of the stack. */
  struct file *file = BPF_CORE_READ(bprm, file);
  for (int depth = 0; depth < 3 && file; ++depth) {
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    if (!inode) break;
    check_inode(inode);
    if (BPF_CORE_READ(inode, i_sb, s_magic) != VIGIL_OVERLAYFS_SUPER_MAGIC) break;
    void *private_data = BPF_CORE_READ(file, private_data);
    if (!private_data) break;
    if (bpf_core_type_exists(struct ovl_file)) {
      file = BPF_CORE_READ((struct ovl_file *)private_data, realfile);
    } else {
      file = private_data;
    }
  }
  return 0;
}
