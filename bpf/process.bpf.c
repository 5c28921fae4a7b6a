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
#include "task_creds.bpf.h"
#include "task_files.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/linux/sched/signal.h; not in BTF because it is a macro. Stable since 2.6. */
#define VIGIL_SIGNAL_GROUP_EXIT 0x00000004
/* include/uapi/linux/magic.h */
#define VIGIL_OVERLAYFS_SUPER_MAGIC 0x794c7630
#define VIGIL_TMPFS_MAGIC 0x01021994
#define VIGIL_HUGETLBFS_MAGIC 0x958458f6
/* include/linux/err.h: an ERR_PTR value (mnt_ns of an internal mount is MNT_NS_INTERNAL). */
#define VIGIL_MAX_ERRNO 4095
#define VIGIL_NAME_MAX 255
/* Components walked per path: deeper paths keep the VIGIL_PATH_WALK_MAX nearest the file. */
#define VIGIL_PATH_WALK_MAX 64

/* Where a path is assembled (leaf first) before it is copied into the record: a walk step
 * writes a whole name (up to NAME_MAX + NUL) at any offset below VIGIL_EXEC_PATH_MAX - 256, so
 * the buffer needs no slack beyond the record's field. */
struct path_buffer {
  char bytes[VIGIL_EXEC_PATH_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct path_buffer);
} path_scratch SEC(".maps");

/* One walk from a dentry up to the task's root, a step per bpf_loop iteration (one verified
 * callback instead of an unrolled loop). */
struct path_walk {
  struct dentry *dentry;
  struct mount *mnt;
  struct dentry *root_dentry;
  struct vfsmount *root_mnt;
  __u32 size;       /* bytes written to path_scratch */
  __u32 truncated;  /* the walk stopped before a root */
  __u32 detached;   /* it ended at a root that is not the task's */
  __u32 last;       /* the name being read is the last one */
};

static __always_inline struct vfsmount *vfsmount_of(struct mount *mnt) {
  return (struct vfsmount *)((void *)mnt + bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct mount *mount_of(struct vfsmount *vfsmnt) {
  return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* What the kernel's prepend_path does for d_path, without its seqlock retries (the walk reads
 * one consistent-enough snapshot: a rename racing the exec can mix old and new names). */
static long path_walk_step(__u64 index, void *ctx) {
  struct path_walk *walk = ctx;
  struct dentry *dentry = walk->dentry;
  struct mount *mnt = walk->mnt;
  struct vfsmount *vfsmnt = vfsmount_of(mnt);
  if (dentry == walk->root_dentry && vfsmnt == walk->root_mnt) return 1;
  struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
  struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
  if (dentry == mnt_root || dentry == parent) {
    struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
    if (dentry == mnt_root && mnt_parent != mnt) {
      /* The root of a mount: carry on from where it is mounted. */
      walk->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
      walk->mnt = mnt_parent;
      return 0;
    }
    /* Not the task's root: a namespace's root seen from a chroot, an internal mount (memfd),
     * a detached one (umount -l). Only the path within the filesystem is left. */
    walk->detached = 1;
    /* A filesystem's root ends the walk; a dentry that is its own parent without being its
     * mount's root is a pseudo file's (memfd_create's "memfd:NAME"): its name is the path. */
    if (dentry == parent && (dentry == mnt_root || walk->size != 0)) return 1;
    if (dentry == parent) walk->last = 1;
  }
  __u32 key = 0;
  struct path_buffer *buffer = bpf_map_lookup_elem(&path_scratch, &key);
  if (!buffer) return 1;
  __u32 size = walk->size;
  if (size > VIGIL_EXEC_PATH_MAX - VIGIL_NAME_MAX - 1) {
    walk->truncated = 1;
    return 1;
  }
  const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
  long n = bpf_probe_read_kernel_str(&buffer->bytes[size], VIGIL_NAME_MAX + 1, name);
  if (n <= 0) {
    walk->truncated = 1;
    return 1;
  }
  walk->size = size + n;
  walk->dentry = parent;
  return walk->last ? 1 : 0;
}

/* The path of `path` as the task sees it (up to its root), leaf first, into out[] (the
 * record's exe_path or cwd); returns the bytes written and sets the flags. */
static __always_inline __u32 walk_path(const struct path *path, const struct path *root, char *out, __u32 *flags,
                                       __u32 truncated_flag, __u32 detached_flag) {
  struct path_walk walk = {};
  walk.dentry = BPF_CORE_READ(path, dentry);
  walk.mnt = mount_of(BPF_CORE_READ(path, mnt));
  walk.root_dentry = BPF_CORE_READ(root, dentry);
  walk.root_mnt = BPF_CORE_READ(root, mnt);
  if (!walk.dentry) {
    *flags |= truncated_flag;
    return 0;
  }
  long steps = bpf_loop(VIGIL_PATH_WALK_MAX, path_walk_step, &walk, 0);
  if (steps < 0 || steps >= VIGIL_PATH_WALK_MAX) walk.truncated = 1;
  if (walk.truncated) *flags |= truncated_flag;
  if (walk.detached) *flags |= detached_flag;
  __u32 key = 0;
  struct path_buffer *buffer = bpf_map_lookup_elem(&path_scratch, &key);
  __u32 size = walk.size;
  if (!buffer || size > VIGIL_EXEC_PATH_MAX || bpf_probe_read_kernel(out, size, buffer->bytes) < 0) {
    *flags |= truncated_flag;
    return 0;
  }
  return size;
}

/* A memfd's file lives on the kernel's internal shmem (or hugetlbfs) mount, which belongs to
 * no mount namespace, and memfd_create names its dentry "memfd:<name>". */
static __always_inline int is_memfd(struct file *file) {
  struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
  unsigned long ns = (unsigned long)BPF_CORE_READ(mount_of(vfsmnt), mnt_ns);
  if (ns != 0 && ns < (unsigned long)-VIGIL_MAX_ERRNO) return 0;
  unsigned long magic = BPF_CORE_READ(file, f_inode, i_sb, s_magic);
  if (magic != VIGIL_TMPFS_MAGIC && magic != VIGIL_HUGETLBFS_MAGIC) return 0;
  char prefix[6] = {};
  bpf_probe_read_kernel(prefix, sizeof(prefix), BPF_CORE_READ(file, f_path.dentry, d_name.name));
  return prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' && prefix[4] == 'd' &&
         prefix[5] == ':';
}

/* The file has no name left: no links (deleted, O_TMPFILE, memfd), or d_unlinked() (a hashed
 * dentry has a name in its directory; an unhashed one that is not a root was deleted). */
static __always_inline int is_unlinked(struct dentry *dentry) {
  if (BPF_CORE_READ(dentry, d_inode, i_nlink) == 0) return 1; /* deleted, O_TMPFILE, memfd */
  return BPF_CORE_READ(dentry, d_hash.pprev) == NULL && BPF_CORE_READ(dentry, d_parent) != dentry;
}

/* pid_nr_ns(pid, ns) for the task's own namespace: the number `pid` has at `level`, 0 when it
 * has none there (a process group whose leader lives in an ancestor namespace). */
static __always_inline __u32 nr_at_level(struct pid *pid, unsigned int level, struct pid_namespace *ns) {
  if (!pid || BPF_CORE_READ(pid, level) < level) return 0;
  struct upid upid = {};
  if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]) < 0) return 0;
  return upid.ns == ns ? upid.nr : 0;
}

/* The inode's mtime/ctime in ns since the epoch (6.11+ keeps seconds and ns apart; older
 * kernels a timespec64, and before 6.6 ctime was i_ctime). */
struct inode___timespec {
  struct timespec64 i_mtime;
  struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___old {
  struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/* Multigrain timestamps (6.13+) keep a flag in the top bit of i_ctime_nsec (I_CTIME_QUERIED). */
#define VIGIL_NSEC_MASK 0x3fffffffu

static __always_inline void inode_times(struct inode *inode, __u64 *mtime_ns, __u64 *ctime_ns) {
  if (bpf_core_field_exists(inode->i_mtime_sec)) {
    *mtime_ns = BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ull + (BPF_CORE_READ(inode, i_mtime_nsec) & VIGIL_NSEC_MASK);
    *ctime_ns = BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ull + (BPF_CORE_READ(inode, i_ctime_nsec) & VIGIL_NSEC_MASK);
    return;
  }
  struct inode___timespec *ts = (void *)inode;
  if (bpf_core_field_exists(ts->i_mtime)) {
    *mtime_ns = BPF_CORE_READ(ts, i_mtime.tv_sec) * 1000000000ull + BPF_CORE_READ(ts, i_mtime.tv_nsec);
    if (bpf_core_field_exists(ts->__i_ctime)) {
      *ctime_ns = BPF_CORE_READ(ts, __i_ctime.tv_sec) * 1000000000ull + BPF_CORE_READ(ts, __i_ctime.tv_nsec);
    } else {
      struct inode___old *old = (void *)inode;
      *ctime_ns = BPF_CORE_READ(old, i_ctime.tv_sec) * 1000000000ull + BPF_CORE_READ(old, i_ctime.tv_nsec);
    }
  }
}

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

  read_creds(&e->creds, task);
  e->exe_mtime_ns = 0;
  e->exe_ctime_ns = 0;
  inode_times(inode, &e->exe_mtime_ns, &e->exe_ctime_ns);

  struct pid *pid = task->thread_pid;
  unsigned int level = BPF_CORE_READ(pid, level);
  struct upid own = {};
  bpf_core_read(&own, sizeof(own), &pid->numbers[level]);
  e->vpid = own.nr;
  e->vpgid = nr_at_level(BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]), level, own.ns);
  e->vsid = nr_at_level(BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]), level, own.ns);
  e->loginuid = bpf_core_field_exists(task->loginuid) ? BPF_CORE_READ(task, loginuid.val) : 0xffffffffu;
  for (int fd = 0; fd < 3; fd++) e->stdio_kind[fd] = file_kind(file_of_fd(task, fd));
  e->reserved0 = 0;

  struct file *file = BPF_CORE_READ(bprm, file);
  if (is_memfd(file)) e->flags |= VIGIL_EXEC_EXE_MEMFD;
  if (is_unlinked(BPF_CORE_READ(file, f_path.dentry))) e->flags |= VIGIL_EXEC_EXE_UNLINKED;
  struct fs_struct *fs = BPF_CORE_READ(task, fs);
  e->exe_path_size = walk_path(&file->f_path, &fs->root, e->exe_path, &e->flags, VIGIL_EXEC_EXE_PATH_TRUNCATED,
                               VIGIL_EXEC_EXE_PATH_DETACHED);
  e->cwd_size = walk_path(&fs->pwd, &fs->root, e->cwd, &e->flags, VIGIL_EXEC_CWD_TRUNCATED, VIGIL_EXEC_CWD_DETACHED);
  e->flags |= VIGIL_EXEC_KERNEL_FACTS;

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
  struct pid *pid = child->thread_pid;
  unsigned int level = BPF_CORE_READ(pid, level);
  struct upid own = {};
  bpf_core_read(&own, sizeof(own), &pid->numbers[level]);
  e->child_vpid = own.nr;
  e->child_pid_ns = BPF_CORE_READ(own.ns, ns.inum);
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
