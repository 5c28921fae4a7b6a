// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* System call probe: one record per captured system call, written when it returns.
 *
 * One dispatcher program on the raw sys_exit tracepoint (tp_btf: it loads under
 * lockdown=integrity, unlike fentry/kprobe/LSM):
 *   - vigil_sys_exit reads the syscall number from regs->orig_ax, looks it up in the `interest`
 *     array (one __u8 per x86_64 syscall number, set by user space) and returns at once when it
 *     is 0: that lookup is all an uninteresting syscall costs. Otherwise it reserves the
 *     family's fixed-size record straight in the ring buffer and fills it from the argument
 *     registers (still the caller's values at exit), the return value and the caller's memory.
 * There is no sys_enter program: attaching one makes every syscall of the host pay a second
 * program run. What is gone by the time a call returns comes from elsewhere:
 *   - a successful exec's arguments (the registers are cleared and the memory replaced):
 *     vigil_exec_prepare (sched_prepare_exec, inside the exec while the caller's registers and
 *     memory are still there) saves them in `enter_states`; vigil_sys_exit consumes them.
 *   - the old credentials of set*id/capset: `cred_cache` keeps each thread's credentials as
 *     last seen (vigil_cred_fork, vigil_cred_exec, the exits of calls that change them, and one
 *     pass of the vigil_cred_seed iterator over the threads already running).
 * Records, the ring buffer and the drop counters are shared with process.bpf.c (common.bpf.h).
 * Layouts: bpf/abi/syscall_events.h; fields and per-syscall meaning: docs/bpf.md. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "common.bpf.h"
#include "task_creds.bpf.h"
#include "task_files.bpf.h"
#include "syscall_events.h"
#include "path_filter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* UAPI constants that are macros (not in BTF); all stable ABI. */
#define VIGIL_AT_FDCWD -100
#define VIGIL_TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: an ia32 syscall is running */
#define VIGIL_PROT_EXEC 0x4
#define VIGIL_MAP_ANONYMOUS 0x20
#define VIGIL_AF_UNIX 1
#define VIGIL_AF_INET 2
#define VIGIL_AF_INET6 10
#define VIGIL_CREAT_FLAGS 01101 /* creat() = open(O_CREAT | O_WRONLY | O_TRUNC) */
#define VIGIL_CAP_VERSION_1 0x19980330 /* capset: one 32-bit data struct instead of two */
#define VIGIL_EXEC_ARGV_MAX 64 /* failed exec: argv pointers followed */

/* interest[nr]: VIGIL_INTEREST_* bits of syscall nr (0: not looked at). Written by user space;
 * BPF_F_RDONLY_PROG makes the programs' view read-only (the verifier rejects any store). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_RDONLY_PROG);
  __uint(max_entries, VIGIL_SYSCALL_NR_MAX);
  __type(key, __u32);
  __type(value, __u8);
} interest SEC(".maps");

/* kill_on_exit[nr] != 0: a rule with `action: kill` matches every call of nr whatever else it
 * says (its condition is only about the event type), so the caller is killed here, before it
 * returns to user space, instead of milliseconds later from user space. Written by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_RDONLY_PROG);
  __uint(max_entries, VIGIL_SYSCALL_NR_MAX);
  __type(key, __u32);
  __type(value, __u8);
} kill_on_exit SEC(".maps");

/* The process that owns the probe (the agent) and init are never killed by kill_on_exit: a kill
 * rule on, say, bpf() must not take down the agent updating its own maps. Set by user space. */
__u32 kill_exempt_tgid = 0;

/* The rule-driven path filter (bpf/abi/path_filter.h): path_filter_groups[nr] picks the
 * group of prefixes that calls of nr must match; 0 lets every call through. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_RDONLY_PROG);
  __uint(max_entries, VIGIL_SYSCALL_NR_MAX);
  __type(key, __u32);
  __type(value, __u8);
} path_filter_groups SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
  __uint(max_entries, 8192); /* twice what a plan may hold: old and new entries during a switch */
  __type(key, struct vigil_path_prefix_key);
  __type(value, __u8);
} path_prefixes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_RDONLY_PROG);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct vigil_path_leads);
} path_leads SEC(".maps");

/* Calls the path filter kept in the kernel, per CPU (user space sums them). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} filtered SEC(".maps");

/* A file syscall's path, read once before anything is reserved: it is the filter's key (group
 * byte + path) and then copied into the record. Longer than the key so that a full
 * VIGIL_SYSCALL_PATH_MAX string (NUL included) fits. */
struct path_scratch {
  __u32 prefixlen;
  __u8 group;
  char path[VIGIL_SYSCALL_PATH_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2); /* 0: the first path, 1: the second (rename*, mount) */
  __type(key, __u32);
  __type(value, struct path_scratch);
} path_scratch SEC(".maps");

/* What vigil_exec_prepare saves for sys_exit (not ABI: never leaves the kernel). */
struct enter_state {
  __u64 args[6];
  __u32 nr;
  __u32 flags;          /* VIGIL_SYSCALL_PATH_* of filename */
  __u32 filename_size;  /* exec */
  __u32 reserved0;
  char filename[VIGIL_SYSCALL_PATH_MAX];
};

/* Keyed by the exec's process id: the thread id the call returns with (de_thread gives the
 * exec'ing thread the leader's). LRU, so entries of execs that never return are evicted. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, struct enter_state);
} enter_states SEC(".maps");

/* Where vigil_exec_prepare builds an entry before copying it into enter_states (too big for
 * the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enter_state);
} enter_scratch SEC(".maps");

/* Each thread's credentials as last seen: the old credentials of its next set*id/capset. An
 * entry counts only when its generation is cred_generation (user space starts a new one each
 * time tracking starts, and sets 0 when it stops), so nothing noted before a gap is trusted. */
struct cred_seen {
  struct vigil_creds creds;
  __u32 generation;
  __u32 reserved;
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct cred_seen);
} cred_cache SEC(".maps");

__u32 cred_generation = 0;

struct syscall_args {
  __u64 a[6];
};

static __always_inline __u8 interest_of(long nr) {
  if (nr < 0 || nr >= VIGIL_SYSCALL_NR_MAX) return 0;
  __u32 key = nr;
  __u8 *want = bpf_map_lookup_elem(&interest, &key);
  return want ? *want : 0;
}

static __always_inline int is_wanted(long nr) {
  return interest_of(nr) & VIGIL_INTEREST_CAPTURE;
}

static __always_inline int is_compat(struct task_struct *task) {
  return task->thread_info.status & VIGIL_TS_COMPAT;
}

static __always_inline void read_args(struct syscall_args *args, struct pt_regs *regs) {
  args->a[0] = regs->di;
  args->a[1] = regs->si;
  args->a[2] = regs->dx;
  args->a[3] = regs->r10; /* the syscall ABI passes the 4th argument in r10, not rcx */
  args->a[4] = regs->r8;
  args->a[5] = regs->r9;
}

/* The entry of `task` in cred_cache (created when missing) while tracking is on. */
static __always_inline struct cred_seen *cred_entry(struct task_struct *task) {
  if (!cred_generation) return NULL;
  return bpf_task_storage_get(&cred_cache, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline void note_creds(struct task_struct *task) {
  __u32 generation = cred_generation;
  struct cred_seen *seen = cred_entry(task);
  if (!seen) return;
  read_creds(&seen->creds, task);
  seen->generation = generation;
}

/* A NUL-terminated user string into dst[VIGIL_SYSCALL_PATH_MAX]; returns its size (NUL
 * included) and sets the truncated/unreadable flag. */
static __always_inline __u32 read_user_path(char *dst, __u64 src, __u32 *flags, __u32 truncated,
                                            __u32 unreadable) {
  long n = src ? bpf_probe_read_user_str(dst, VIGIL_SYSCALL_PATH_MAX, (const void *)src) : -1;
  if (n <= 0) {
    dst[0] = '\0';
    *flags |= unreadable;
    return 0;
  }
  if (n == VIGIL_SYSCALL_PATH_MAX) *flags |= truncated;
  return n;
}

static __always_inline void inode_of_file(struct file *file, __u64 *ino, __u32 *dev) {
  struct inode *inode = BPF_CORE_READ(file, f_inode);
  *ino = BPF_CORE_READ(inode, i_ino);
  *dev = inode ? encode_dev(BPF_CORE_READ(inode, i_sb, s_dev)) : 0;
}

/* The struct sock behind a socket descriptor, or NULL when fd is not a socket. */
static __always_inline struct sock *sock_of_fd(struct task_struct *task, __s64 fd) {
  struct file *file = file_of_fd(task, fd);
  if (!file) return NULL;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & VIGIL_S_IFMT) != VIGIL_S_IFSOCK) return NULL;
  struct socket *sock = BPF_CORE_READ(file, private_data);
  return BPF_CORE_READ(sock, sk);
}

static __always_inline void clear_sockaddr(struct vigil_sockaddr *s) {
  __builtin_memset(s, 0, sizeof(*s));
}

/* An AF_UNIX socket's bound address (unix_sk(sk)->addr) into out->unix_path. */
static __always_inline void unix_address_of(struct sock *sk, struct vigil_sockaddr *out) {
  struct unix_sock *unix_sock = (struct unix_sock *)sk;
  struct unix_address *addr = BPF_CORE_READ(unix_sock, addr);
  out->family = VIGIL_AF_UNIX;
  if (!addr) return;
  int len = BPF_CORE_READ(addr, len) - (int)sizeof(__u16); /* len counts sun_family */
  if (len <= 0) return;
  if (len > VIGIL_SOCKADDR_UNIX_MAX) len = VIGIL_SOCKADDR_UNIX_MAX;
  const char *path = (const char *)addr + bpf_core_field_offset(struct unix_address, name) + sizeof(__u16);
  if (bpf_probe_read_kernel(out->unix_path, len, path) == 0) out->unix_path_size = len;
}

/* The kernel's view of a socket's addresses; local and/or remote may be NULL. */
static __always_inline void sock_addresses(struct sock *sk, struct vigil_sockaddr *local,
                                           struct vigil_sockaddr *remote) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == VIGIL_AF_INET) {
    if (local) {
      local->family = family;
      local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
      __be32 addr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
      __builtin_memcpy(local->addr, &addr, sizeof(addr));
    }
    if (remote) {
      remote->family = family;
      remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
      __be32 addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
      __builtin_memcpy(remote->addr, &addr, sizeof(addr));
    }
  } else if (family == VIGIL_AF_INET6) {
    if (local) {
      local->family = family;
      local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
      bpf_core_read(local->addr, sizeof(local->addr), &sk->__sk_common.skc_v6_rcv_saddr);
    }
    if (remote) {
      remote->family = family;
      remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
      bpf_core_read(remote->addr, sizeof(remote->addr), &sk->__sk_common.skc_v6_daddr);
    }
  } else if (family == VIGIL_AF_UNIX) {
    if (local) unix_address_of(sk, local);
    if (remote) {
      struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
      remote->family = VIGIL_AF_UNIX;
      if (peer) unix_address_of(peer, remote);
    }
  } else {
    if (local) local->family = family;
  }
}

/* A sockaddr argument (user memory, addrlen bytes) into out; returns 0 or -1 if unreadable. */
static __always_inline int read_user_sockaddr(struct vigil_sockaddr *out, __u64 uaddr, __s64 addrlen) {
  __u16 family = 0;
  if (!uaddr || addrlen < (__s64)sizeof(family)) return -1;
  if (bpf_probe_read_user(&family, sizeof(family), (const void *)uaddr) < 0) return -1;
  out->family = family;
  if (family == VIGIL_AF_INET && addrlen >= 8) {
    struct {
      __u16 family;
      __be16 port;
      __u8 addr[4];
    } in;
    if (bpf_probe_read_user(&in, sizeof(in), (const void *)uaddr) < 0) return -1;
    out->port = bpf_ntohs(in.port);
    __builtin_memcpy(out->addr, in.addr, sizeof(in.addr));
  } else if (family == VIGIL_AF_INET6 && addrlen >= 24) {
    struct {
      __u16 family;
      __be16 port;
      __u32 flowinfo;
      __u8 addr[16];
    } in6;
    if (bpf_probe_read_user(&in6, sizeof(in6), (const void *)uaddr) < 0) return -1;
    out->port = bpf_ntohs(in6.port);
    __builtin_memcpy(out->addr, in6.addr, sizeof(in6.addr));
  } else if (family == VIGIL_AF_UNIX) {
    __s64 len = addrlen - (__s64)sizeof(family);
    if (len <= 0) return 0; /* unnamed */
    if (len > VIGIL_SOCKADDR_UNIX_MAX) len = VIGIL_SOCKADDR_UNIX_MAX;
    const char *path = (const char *)uaddr + sizeof(family);
    char first = 0;
    if (bpf_probe_read_user(&first, 1, path) < 0) return -1;
    if (first == '\0') {
      /* Abstract: every byte up to addrlen counts, NULs included. */
      if (bpf_probe_read_user(out->unix_path, len, path) < 0) return -1;
      out->unix_path_size = len;
    } else {
      long n = bpf_probe_read_user_str(out->unix_path, len + 1 > VIGIL_SOCKADDR_UNIX_MAX ? VIGIL_SOCKADDR_UNIX_MAX : len + 1, path);
      if (n < 0) return -1;
      out->unix_path_size = n;
    }
  }
  return 0;
}

/* Syscall records can come by the hundred thousand per second: waking the reader for each one
 * (an irq_work and an epoll wakeup per record) costs more than writing it. So they do not wake
 * the reader until a quarter of the ring buffer is pending; the reader drains on its poll
 * timeout (EventProbe::poll consumes after every wait). Process records wake it as usual. */
/* Set by user space before load: a quarter of the ring buffer (a constant, not a second query). */
const volatile __u64 wakeup_pending_bytes = 64 * 1024;

static __always_inline void submit(void *record) {
  __u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(record, pending >= wakeup_pending_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Every syscall record starts with the header and the common part (bpf/abi/syscall_events.h). */
struct syscall_record_prefix {
  struct vigil_event_header header;
  struct vigil_syscall_common sc;
};

static __always_inline void *reserve_syscall_record(__u32 type, __u32 size, struct task_struct *task, long nr,
                                                    long ret, __u32 flags) {
  struct syscall_record_prefix *r = reserve_record(type, size, task);
  if (!r) return NULL;
  r->sc.syscall_nr = nr;
  r->sc.flags = flags;
  r->sc.ret = ret;
  return r;
}

/* ---- file ---- */

/* The arguments of a file syscall, taken apart before anything is reserved (the filter needs
 * the path and the open flags). */
struct file_args {
  __u64 path, path2, fstype;  /* user pointers; 0: the call has none */
  __s32 dirfd, dirfd2, fd;
  __u32 mode, at_flags, uid, gid;
  __u64 open_flags, resolve;
  int opens;
};

static __always_inline void parse_file_args(struct file_args *f, struct syscall_args *args, long nr) {
  __builtin_memset(f, 0, sizeof(*f));
  f->dirfd = VIGIL_AT_FDCWD;
  f->dirfd2 = VIGIL_AT_FDCWD;
  f->fd = -1;
  switch (nr) {
  case VIGIL_NR_open:
    f->path = args->a[0];
    f->open_flags = (__u32)args->a[1];
    f->mode = args->a[2];
    f->opens = 1;
    break;
  case VIGIL_NR_creat:
    f->path = args->a[0];
    f->open_flags = VIGIL_CREAT_FLAGS;
    f->mode = args->a[1];
    f->opens = 1;
    break;
  case VIGIL_NR_openat:
    f->dirfd = args->a[0];
    f->path = args->a[1];
    f->open_flags = (__u32)args->a[2];
    f->mode = args->a[3];
    f->opens = 1;
    break;
  case VIGIL_NR_openat2: {
    f->dirfd = args->a[0];
    f->path = args->a[1];
    struct open_how how = {};
    if (args->a[3] >= sizeof(how) &&
        bpf_probe_read_user(&how, sizeof(how), (const void *)args->a[2]) == 0) {
      f->open_flags = how.flags;
      f->mode = how.mode;
      f->resolve = how.resolve;
    }
    f->opens = 1;
    break;
  }
  case VIGIL_NR_unlink:
    f->path = args->a[0];
    break;
  case VIGIL_NR_unlinkat:
    f->dirfd = args->a[0];
    f->path = args->a[1];
    f->at_flags = args->a[2];
    break;
  case VIGIL_NR_rename:
    f->path = args->a[0];
    f->path2 = args->a[1];
    break;
  case VIGIL_NR_renameat:
  case VIGIL_NR_renameat2:
    f->dirfd = args->a[0];
    f->path = args->a[1];
    f->dirfd2 = args->a[2];
    f->path2 = args->a[3];
    if (nr == VIGIL_NR_renameat2) f->at_flags = args->a[4];
    break;
  case VIGIL_NR_chmod:
    f->path = args->a[0];
    f->mode = args->a[1];
    break;
  case VIGIL_NR_fchmod:
    f->fd = args->a[0];
    f->mode = args->a[1];
    break;
  case VIGIL_NR_fchmodat:
  case VIGIL_NR_fchmodat2:
    f->dirfd = args->a[0];
    f->path = args->a[1];
    f->mode = args->a[2];
    if (nr == VIGIL_NR_fchmodat2) f->at_flags = args->a[3];
    break;
  case VIGIL_NR_chown:
  case VIGIL_NR_lchown:
    f->path = args->a[0];
    f->uid = args->a[1];
    f->gid = args->a[2];
    break;
  case VIGIL_NR_fchown:
    f->fd = args->a[0];
    f->uid = args->a[1];
    f->gid = args->a[2];
    break;
  case VIGIL_NR_fchownat:
    f->dirfd = args->a[0];
    f->path = args->a[1];
    f->uid = args->a[2];
    f->gid = args->a[3];
    f->at_flags = args->a[4];
    break;
  case VIGIL_NR_mount:
    f->path = args->a[0];
    f->path2 = args->a[1];
    f->fstype = args->a[2];
    f->open_flags = args->a[3];
    break;
  case VIGIL_NR_umount2:
    f->path = args->a[0];
    f->at_flags = args->a[1];
    break;
  case VIGIL_NR_chdir:
    f->path = args->a[0];
    break;
  case VIGIL_NR_fchdir:
    f->fd = args->a[0];
    break;
  }
}

#define VIGIL_BYTES_ONES 0x0101010101010101ULL
#define VIGIL_BYTES_LOW7 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in every byte of x that is zero, 0 in the others (exact: no borrow between bytes). */
static __always_inline __u64 zero_bytes(__u64 x) {
  return ~(((x & VIGIL_BYTES_LOW7) + VIGIL_BYTES_LOW7) | x | VIGIL_BYTES_LOW7);
}

/* Whether the filter can compare this path with absolute prefixes the way rules see it
 * (fd.name is the path made absolute and lexically normalised): relative paths, and paths
 * with "//", "/." or "/.." in them, could name a wanted file under another spelling.
 * Eight bytes at a time (x86 loads them unaligned): a '/' or '.' right after a '/' anywhere
 * before the NUL. Bytes after the NUL are an earlier path's and do not count. */
static __always_inline int path_is_plain_absolute(const char *path, __u32 size) {
  if (size < 2 || path[0] != '/') return 0;
  __u64 carry = 0; /* 0x80 when the previous eight bytes ended in '/' */
  for (__u32 off = 0; off < VIGIL_SYSCALL_PATH_MAX; off += 8) {
    __u64 w = *(const __u64 *)(path + off);
    __u64 nul = zero_bytes(w);
    __u64 slash = zero_bytes(w ^ (VIGIL_BYTES_ONES * '/'));
    __u64 dot = zero_bytes(w ^ (VIGIL_BYTES_ONES * '.'));
    __u64 bad = ((slash << 8) | carry) & (slash | dot);
    if (nul) return (bad & ((nul & -nul) - 1)) == 0;
    if (bad) return 0;
    carry = slash >> 56;
  }
  return 0;
}

/* The path filter's verdict for a call whose path is in scratch (size bytes, NUL included). */
static __always_inline int path_wanted(struct path_scratch *scratch, __u32 size, __u8 group, int writes) {
  if (size >= VIGIL_SYSCALL_PATH_MAX) return 1; /* truncated: longer than any prefix */
  if (!path_is_plain_absolute(scratch->path, size)) return 1;
  __u32 group_key = group;
  struct vigil_path_leads *leads = bpf_map_lookup_elem(&path_leads, &group_key);
  __u8 lead = scratch->path[1];
  if (leads && !((leads->bits[lead >> 6] >> (lead & 63)) & 1)) return 0;
  scratch->group = group;
  scratch->prefixlen = 8 * size; /* the group byte plus size - 1 path bytes */
  __u8 *want = bpf_map_lookup_elem(&path_prefixes, scratch);
  if (!want) return 0;
  return (*want & VIGIL_PATH_WANT_ANY) || ((*want & VIGIL_PATH_WANT_WRITE) && writes);
}

static __always_inline int opens_for_writing(__u64 flags) {
  return (flags & 3) != 0 /* O_WRONLY, O_RDWR */ || (flags & (0100 | 01000)) != 0 /* O_CREAT, O_TRUNC */;
}

static __always_inline void count_filtered(void) {
  __u32 zero = 0;
  __u64 *count = bpf_map_lookup_elem(&filtered, &zero);
  if (count) *count += 1; /* per-CPU slot: no other writer */
}

static __noinline int on_file(struct syscall_args *args, long nr, long ret, __u32 call_flags) {
  struct file_args f;
  parse_file_args(&f, args, nr);

  __u32 zero = 0;
  struct path_scratch *scratch = bpf_map_lookup_elem(&path_scratch, &zero);
  if (!scratch) return 0;
  __u32 flags = 0;
  __u32 path_size = 0;
  if (nr != VIGIL_NR_fchmod && nr != VIGIL_NR_fchown && nr != VIGIL_NR_fchdir)
    path_size = read_user_path(scratch->path, f.path, &flags, VIGIL_SYSCALL_PATH_TRUNCATED,
                               VIGIL_SYSCALL_PATH_UNREADABLE);
  /* rename* and mount name two paths: the call is wanted when either is. */
  struct path_scratch *scratch2 = NULL;
  __u32 path2_size = 0;
  if (nr == VIGIL_NR_rename || nr == VIGIL_NR_renameat || nr == VIGIL_NR_renameat2 || nr == VIGIL_NR_mount) {
    __u32 one = 1;
    scratch2 = bpf_map_lookup_elem(&path_scratch, &one);
    if (!scratch2) return 0;
    path2_size = read_user_path(scratch2->path, f.path2, &flags, VIGIL_SYSCALL_PATH2_TRUNCATED,
                                VIGIL_SYSCALL_PATH2_UNREADABLE);
  }
  __u32 key = nr;
  __u8 *group = bpf_map_lookup_elem(&path_filter_groups, &key);
  if (group && *group) {
    const int writes = !f.opens || opens_for_writing(f.open_flags);
    if (!path_wanted(scratch, path_size, *group, writes) &&
        !(scratch2 && path_wanted(scratch2, path2_size, *group, writes))) {
      count_filtered();
      return 0;
    }
  }

  struct task_struct *task = bpf_get_current_task_btf();
  struct vigil_syscall_file_event *e = reserve_syscall_record(VIGIL_EVENT_SYSCALL_FILE, sizeof(*e), task, nr, ret, call_flags);
  if (!e) return 0;
  e->sc.flags |= flags;
  e->dirfd = f.dirfd;
  e->dirfd2 = f.dirfd2;
  e->fd = f.fd;
  e->mode = f.mode;
  e->open_flags = f.open_flags;
  e->resolve = f.resolve;
  e->at_flags = f.at_flags;
  e->uid = f.uid;
  e->gid = f.gid;
  e->dev = 0;
  e->ino = 0;
  e->path_size = path_size;
  e->path2_size = 0;
  e->path[0] = '\0';
  e->path2[0] = '\0';
  e->fstype[0] = '\0';
  if (path_size > 0 && path_size <= VIGIL_SYSCALL_PATH_MAX)
    bpf_probe_read_kernel(e->path, path_size, scratch->path);
  if (f.fstype && bpf_probe_read_user_str(e->fstype, sizeof(e->fstype), (const void *)f.fstype) < 0)
    e->fstype[0] = '\0';
  if (scratch2 && path2_size > 0 && path2_size <= VIGIL_SYSCALL_PATH_MAX) {
    bpf_probe_read_kernel(e->path2, path2_size, scratch2->path);
    e->path2_size = path2_size;
  }
  if (f.opens && ret >= 0) {
    e->fd = ret;
    struct file *file = file_of_fd(task, ret);
    if (file) inode_of_file(file, &e->ino, &e->dev);
  }
  submit(e);
  return 0;
}

/* ---- net ---- */

static __always_inline void socket_kind(struct sock *sk, struct vigil_syscall_net_event *e) {
  if (!sk) return;
  e->domain = BPF_CORE_READ(sk, __sk_common.skc_family);
  e->type = BPF_CORE_READ(sk, sk_type);
  e->protocol = BPF_CORE_READ(sk, sk_protocol);
}

static __noinline int on_net(struct syscall_args *args, long nr, long ret, __u32 call_flags) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct vigil_syscall_net_event *e = reserve_syscall_record(VIGIL_EVENT_SYSCALL_NET, sizeof(*e), task, nr, ret, call_flags);
  if (!e) return 0;
  e->fd = -1;
  e->domain = 0;
  e->type = 0;
  e->protocol = 0;
  e->backlog = 0;
  e->accept_flags = 0;
  clear_sockaddr(&e->local);
  clear_sockaddr(&e->remote);

  struct sock *sk = NULL;
  switch (nr) {
  case VIGIL_NR_socket:
    e->domain = args->a[0];
    e->type = args->a[1];
    e->protocol = args->a[2];
    break;
  case VIGIL_NR_connect:
    e->fd = args->a[0];
    sk = sock_of_fd(task, e->fd);
    socket_kind(sk, e);
    if (read_user_sockaddr(&e->remote, args->a[1], (__s32)args->a[2]) < 0)
      e->sc.flags |= VIGIL_SYSCALL_ADDR_UNREADABLE;
    if (sk) sock_addresses(sk, &e->local, NULL);
    break;
  case VIGIL_NR_bind:
    e->fd = args->a[0];
    socket_kind(sock_of_fd(task, e->fd), e);
    if (read_user_sockaddr(&e->local, args->a[1], (__s32)args->a[2]) < 0)
      e->sc.flags |= VIGIL_SYSCALL_ADDR_UNREADABLE;
    break;
  case VIGIL_NR_listen:
    e->fd = args->a[0];
    e->backlog = args->a[1];
    sk = sock_of_fd(task, e->fd);
    socket_kind(sk, e);
    if (sk) sock_addresses(sk, &e->local, NULL);
    break;
  case VIGIL_NR_accept:
  case VIGIL_NR_accept4:
    e->fd = args->a[0];
    if (nr == VIGIL_NR_accept4) e->accept_flags = args->a[3];
    sk = ret >= 0 ? sock_of_fd(task, ret) : sock_of_fd(task, e->fd);
    socket_kind(sk, e);
    if (ret >= 0 && sk) sock_addresses(sk, &e->local, &e->remote);
    break;
  }
  submit(e);
  return 0;
}

/* ---- cred ---- */

static __noinline int on_cred(struct syscall_args *args, long nr, long ret, __u32 call_flags) {
  struct task_struct *task = bpf_get_current_task_btf();
  __u32 generation = cred_generation;
  struct cred_seen *seen = cred_entry(task);
  struct vigil_creds now;
  read_creds(&now, task);
  struct vigil_syscall_cred_event *e = reserve_syscall_record(VIGIL_EVENT_SYSCALL_CRED, sizeof(*e), task, nr, ret, call_flags);
  if (e) {
    if (seen && seen->generation == generation) {
      e->old_creds = seen->creds;
    } else {
      __builtin_memset(&e->old_creds, 0, sizeof(e->old_creds));
      e->sc.flags |= VIGIL_SYSCALL_NO_ENTER;
    }
    e->new_creds = now;
  }
  if (seen) {
    seen->creds = now;
    seen->generation = generation;
  }
  if (!e) return 0;
  e->id_args[0] = 0;
  e->id_args[1] = 0;
  e->id_args[2] = 0;
  e->cap_version = 0;
  e->cap_pid = 0;
  e->reserved0 = 0;
  e->cap_effective_arg = 0;
  e->cap_permitted_arg = 0;
  e->cap_inheritable_arg = 0;
  switch (nr) {
  case VIGIL_NR_setresuid:
  case VIGIL_NR_setresgid:
    e->id_args[2] = args->a[2];
    /* fallthrough */
  case VIGIL_NR_setreuid:
  case VIGIL_NR_setregid:
    e->id_args[1] = args->a[1];
    /* fallthrough */
  case VIGIL_NR_setuid:
  case VIGIL_NR_setgid:
  case VIGIL_NR_setfsuid:
  case VIGIL_NR_setfsgid:
    e->id_args[0] = args->a[0];
    break;
  case VIGIL_NR_capset: {
    struct {
      __u32 version;
      __s32 pid;
    } header = {};
    if (bpf_probe_read_user(&header, sizeof(header), (const void *)args->a[0]) == 0) {
      e->cap_version = header.version;
      e->cap_pid = header.pid;
    }
    /* struct __user_cap_data_struct {effective, permitted, inheritable}: one for version 1,
     * two (low and high 32 bits) for versions 2 and 3. */
    __u32 data[6] = {};
    __u32 size = header.version == VIGIL_CAP_VERSION_1 ? 12 : 24;
    if (args->a[1] && bpf_probe_read_user(data, size, (const void *)args->a[1]) == 0) {
      e->cap_effective_arg = data[0] | (__u64)data[3] << 32;
      e->cap_permitted_arg = data[1] | (__u64)data[4] << 32;
      e->cap_inheritable_arg = data[2] | (__u64)data[5] << 32;
    }
    break;
  }
  }
  submit(e);
  return 0;
}

/* ---- proc ---- */

static __noinline int on_proc(struct syscall_args *args, long nr, long ret, __u32 call_flags) {
  /* Only executable mappings matter; everything else never reaches the ring buffer. */
  if ((nr == VIGIL_NR_mmap || nr == VIGIL_NR_mprotect) && !(args->a[2] & VIGIL_PROT_EXEC)) return 0;

  struct task_struct *task = bpf_get_current_task_btf();
  struct vigil_syscall_proc_event *e = reserve_syscall_record(VIGIL_EVENT_SYSCALL_PROC, sizeof(*e), task, nr, ret, call_flags);
  if (!e) return 0;
  e->args[0] = args->a[0];
  e->args[1] = args->a[1];
  e->args[2] = args->a[2];
  e->args[3] = args->a[3];
  e->args[4] = args->a[4];
  e->args[5] = args->a[5];
  e->ino = 0;
  e->dev = 0;
  e->str_size = 0;
  e->bpf_type = 0;
  e->fd_kind = 0;
  e->str[0] = '\0';

  __s64 fd = -1;
  __u64 str = 0;
  switch (nr) {
  case VIGIL_NR_mmap:
    if (!(args->a[3] & VIGIL_MAP_ANONYMOUS)) fd = (__s32)args->a[4];
    break;
  case VIGIL_NR_finit_module:
    fd = (__s32)args->a[0];
    str = args->a[1];
    break;
  case VIGIL_NR_setns:
  case VIGIL_NR_dup:
  case VIGIL_NR_dup2:
  case VIGIL_NR_dup3:
    fd = (__s32)args->a[0];
    break;
  case VIGIL_NR_init_module:
    str = args->a[2];
    break;
  case VIGIL_NR_memfd_create:
    str = args->a[0];
    break;
  case VIGIL_NR_bpf: {
    __u32 type = 0;
    if (args->a[1] && bpf_probe_read_user(&type, sizeof(type), (const void *)args->a[1]) == 0)
      e->bpf_type = type;
    break;
  }
  }
  if (fd >= 0) {
    struct file *file = file_of_fd(task, fd);
    if (file) {
      inode_of_file(file, &e->ino, &e->dev);
      e->fd_kind = file_kind(file);
    }
  }
  if (str)
    e->str_size = read_user_path(e->str, str, &e->sc.flags, VIGIL_SYSCALL_PATH_TRUNCATED,
                                 VIGIL_SYSCALL_PATH_UNREADABLE);
  submit(e);
  return 0;
}

/* ---- exec ---- */

/* A failed exec's argv (still in the caller's memory) into args[]: strings start within the
 * first half of args[] so the verifier can bound each read; later ones set ARGS_TRUNCATED. */
static __always_inline void read_user_argv(struct vigil_syscall_exec_event *e, __u64 argv) {
  __u32 off = 0;
  __u32 argc = 0;
  if (!argv) return;
  for (int i = 0; i < VIGIL_EXEC_ARGV_MAX; i++) {
    const char *arg = NULL;
    if (bpf_probe_read_user(&arg, sizeof(arg), (const void *)(argv + i * sizeof(arg))) < 0) {
      e->sc.flags |= VIGIL_SYSCALL_ARGS_UNREADABLE;
      break;
    }
    if (!arg) break;
    argc++;
    if (off >= VIGIL_SYSCALL_ARGS_MAX / 2) {
      e->sc.flags |= VIGIL_SYSCALL_ARGS_TRUNCATED;
      continue;
    }
    long n = bpf_probe_read_user_str(&e->args[off], VIGIL_SYSCALL_ARGS_MAX / 2, arg);
    if (n < 0) {
      e->sc.flags |= VIGIL_SYSCALL_ARGS_UNREADABLE;
      break;
    }
    if (n == VIGIL_SYSCALL_ARGS_MAX / 2) e->sc.flags |= VIGIL_SYSCALL_ARGS_TRUNCATED;
    off += n;
  }
  e->argc = argc;
  e->args_size = off;
}

static __noinline int on_exec(struct syscall_args *args, long nr, long ret, struct enter_state *enter,
                               __u32 call_flags) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct vigil_syscall_exec_event *e = reserve_syscall_record(VIGIL_EVENT_SYSCALL_EXEC, sizeof(*e), task, nr, ret, call_flags);
  if (!e) return 0;
  e->dirfd = VIGIL_AT_FDCWD;
  e->at_flags = 0;
  e->exe_ino = 0;
  e->exe_dev = 0;
  e->argc = 0;
  e->args_size = 0;
  e->filename_size = 0;
  e->env_size = 0;
  e->reserved0 = 0;
  e->reserved1 = 0;
  e->filename[0] = '\0';

  if (enter) {
    if (nr == VIGIL_NR_execveat) {
      e->dirfd = enter->args[0];
      e->at_flags = enter->args[4];
    }
    e->sc.flags |= enter->flags;
    e->filename_size = enter->filename_size;
    __builtin_memcpy(e->filename, enter->filename, sizeof(e->filename));
  } else if (ret < 0) {
    /* Failed before the point of no return (vigil_exec_prepare never ran): the registers and
     * the memory are still the caller's. */
    if (nr == VIGIL_NR_execveat) {
      e->dirfd = args->a[0];
      e->at_flags = args->a[4];
    }
    e->filename_size = read_user_path(e->filename, nr == VIGIL_NR_execveat ? args->a[1] : args->a[0],
                                      &e->sc.flags, VIGIL_SYSCALL_PATH_TRUNCATED, VIGIL_SYSCALL_PATH_UNREADABLE);
  } else {
    e->sc.flags |= VIGIL_SYSCALL_NO_ENTER; /* the exec was under way when the probe started */
  }

  if (ret == 0) {
    /* The new program: its executable, argument area, argc (at the top of its stack) and
     * environment size. */
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    struct file *exe = BPF_CORE_READ(mm, exe_file);
    if (exe) inode_of_file(exe, &e->exe_ino, &e->exe_dev);
    unsigned long start = BPF_CORE_READ(mm, arg_start);
    unsigned long end = BPF_CORE_READ(mm, arg_end);
    unsigned long len = end > start ? end - start : 0;
    if (len > sizeof(e->args)) {
      len = sizeof(e->args);
      e->sc.flags |= VIGIL_SYSCALL_ARGS_TRUNCATED;
    }
    if (bpf_probe_read_user(e->args, len, (const void *)start) < 0) {
      len = 0;
      e->sc.flags |= VIGIL_SYSCALL_ARGS_UNREADABLE;
    }
    e->args_size = len;
    __u64 argc = 0;
    if (bpf_probe_read_user(&argc, sizeof(argc), (const void *)BPF_CORE_READ(mm, start_stack)) == 0)
      e->argc = argc;
    unsigned long env_start = BPF_CORE_READ(mm, env_start);
    unsigned long env_end = BPF_CORE_READ(mm, env_end);
    e->env_size = env_end > env_start ? env_end - env_start : 0;
  } else {
    /* Failed: the argument vector is in the caller's memory (gone only when the exec failed
     * after replacing it, which the reads then report as unreadable). */
    const __u64 *a = enter ? enter->args : args->a;
    read_user_argv(e, nr == VIGIL_NR_execveat ? a[2] : a[1]);
  }
  submit(e);
  return 0;
}

/* Inside a successful exec, just past its point of no return, while the caller's registers
 * and memory are still in place: the exec's arguments for vigil_sys_exit (a successful exec
 * returns with its registers cleared, orig_ax reading execve even for execveat, and the new
 * program's memory). The pathname is the caller's string, resident since the kernel copied it;
 * bprm->filename (the same string, or "/dev/fd/N/path" for execveat) if it cannot be read.
 * Attached while execve or execveat is captured. */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(vigil_exec_prepare, struct task_struct *task, struct linux_binprm *bprm) {
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  if (!regs) return 0;
  long nr = regs->orig_ax;
  if (nr != VIGIL_NR_execve && nr != VIGIL_NR_execveat) return 0; /* e.g. a kernel thread's exec */
  /* execveat's state is kept when only execve is wanted too: its exit reads as execve, and the
   * state is what tells them apart. */
  if (!is_wanted(nr) && !(nr == VIGIL_NR_execveat && is_wanted(VIGIL_NR_execve))) return 0;
  if (is_compat(task)) return 0;
  __u32 zero = 0;
  struct enter_state *s = bpf_map_lookup_elem(&enter_scratch, &zero);
  if (!s) return 0;
  struct syscall_args args;
  read_args(&args, regs);
  for (int i = 0; i < 6; i++) s->args[i] = args.a[i];
  s->nr = nr;
  s->flags = 0;
  s->reserved0 = 0;
  s->filename_size = read_user_path(s->filename, nr == VIGIL_NR_execve ? args.a[0] : args.a[1], &s->flags,
                                    VIGIL_SYSCALL_PATH_TRUNCATED, VIGIL_SYSCALL_PATH_UNREADABLE);
  if (s->flags & VIGIL_SYSCALL_PATH_UNREADABLE) {
    long n = bpf_probe_read_kernel_str(s->filename, sizeof(s->filename), BPF_CORE_READ(bprm, filename));
    if (n > 0) {
      s->flags &= ~VIGIL_SYSCALL_PATH_UNREADABLE;
      if (n == sizeof(s->filename)) s->flags |= VIGIL_SYSCALL_PATH_TRUNCATED;
      s->filename_size = n;
    }
  }
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  bpf_map_update_elem(&enter_states, &pid, s, BPF_ANY);
  return 0;
}

/* ---- credential tracking (attached while a set*id/capset is captured) ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_cred_fork, struct task_struct *parent, struct task_struct *child) {
  note_creds(child);
  return 0;
}

/* An exec can change credentials (set-user-ID programs, file capabilities). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_cred_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  note_creds(task);
  return 0;
}

/* Run once by user space after the programs above are attached: notes the threads that were
 * already running. A thread noted since (by its own call) keeps that entry. */
SEC("iter/task")
int vigil_cred_seed(struct bpf_iter__task *ctx) {
  struct task_struct *task = ctx->task;
  if (!task) return 0;
  __u32 generation = cred_generation;
  struct cred_seen *seen = cred_entry(task);
  if (seen && seen->generation != generation) {
    read_creds(&seen->creds, task);
    seen->generation = generation;
  }
  return 0;
}

/* ---- dispatcher ---- */

static __always_inline int is_exec(long nr) {
  return nr == VIGIL_NR_execve || nr == VIGIL_NR_execveat;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret) {
  long nr = regs->orig_ax;
  __u8 want = interest_of(nr);
  /* A successful execveat returns with orig_ax reading __NR_execve: which of the two it was is
   * in the exec state. */
  if (nr == VIGIL_NR_execve) want |= interest_of(VIGIL_NR_execveat);
  if (!want) return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  if (is_compat(task)) return 0;
  if (!(want & VIGIL_INTEREST_CAPTURE)) {
    note_creds(task); /* only tracked: a call that may have changed the credentials */
    return 0;
  }

  struct enter_state *enter = NULL;
  __u32 tid = 0;
  if (is_exec(nr)) {
    tid = (__u32)bpf_get_current_pid_tgid();
    enter = bpf_map_lookup_elem(&enter_states, &tid);
    if (enter && nr == VIGIL_NR_execve && enter->nr == VIGIL_NR_execveat) nr = VIGIL_NR_execveat;
    if (enter && enter->nr != nr) enter = NULL; /* stale: left by an earlier call */
    if (!is_wanted(nr)) {
      if (enter) bpf_map_delete_elem(&enter_states, &tid);
      return 0;
    }
  }

  __u32 call_flags = 0;
  __u32 kill_key = nr;
  __u8 *kill = bpf_map_lookup_elem(&kill_on_exit, &kill_key);
  if (kill && *kill) {
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid != kill_exempt_tgid && tgid != 1 && bpf_send_signal(9 /* SIGKILL */) == 0) call_flags = VIGIL_SYSCALL_KILLED;
  }

  struct syscall_args args;
  read_args(&args, regs);
  switch (nr) {
  case VIGIL_NR_open:
  case VIGIL_NR_creat:
  case VIGIL_NR_openat:
  case VIGIL_NR_openat2:
  case VIGIL_NR_unlink:
  case VIGIL_NR_unlinkat:
  case VIGIL_NR_rename:
  case VIGIL_NR_renameat:
  case VIGIL_NR_renameat2:
  case VIGIL_NR_chmod:
  case VIGIL_NR_fchmod:
  case VIGIL_NR_fchmodat:
  case VIGIL_NR_fchmodat2:
  case VIGIL_NR_chown:
  case VIGIL_NR_fchown:
  case VIGIL_NR_fchownat:
  case VIGIL_NR_lchown:
  case VIGIL_NR_mount:
  case VIGIL_NR_umount2:
  case VIGIL_NR_chdir:
  case VIGIL_NR_fchdir:
    return on_file(&args, nr, ret, call_flags);
  case VIGIL_NR_socket:
  case VIGIL_NR_connect:
  case VIGIL_NR_accept:
  case VIGIL_NR_accept4:
  case VIGIL_NR_bind:
  case VIGIL_NR_listen:
    return on_net(&args, nr, ret, call_flags);
  case VIGIL_NR_setuid:
  case VIGIL_NR_setgid:
  case VIGIL_NR_setreuid:
  case VIGIL_NR_setregid:
  case VIGIL_NR_setresuid:
  case VIGIL_NR_setresgid:
  case VIGIL_NR_setfsuid:
  case VIGIL_NR_setfsgid:
  case VIGIL_NR_capset:
    return on_cred(&args, nr, ret, call_flags);
  case VIGIL_NR_execve:
  case VIGIL_NR_execveat:
    on_exec(&args, nr, ret, enter, call_flags);
    if (enter) bpf_map_delete_elem(&enter_states, &tid);
    return 0;
  case VIGIL_NR_ptrace:
  case VIGIL_NR_kill:
  case VIGIL_NR_tkill:
  case VIGIL_NR_tgkill:
  case VIGIL_NR_unshare:
  case VIGIL_NR_setns:
  case VIGIL_NR_dup:
  case VIGIL_NR_dup2:
  case VIGIL_NR_dup3:
  case VIGIL_NR_close:
  case VIGIL_NR_memfd_create:
  case VIGIL_NR_mmap:
  case VIGIL_NR_mprotect:
  case VIGIL_NR_bpf:
  case VIGIL_NR_init_module:
  case VIGIL_NR_finit_module:
    on_proc(&args, nr, ret, call_flags);
    if (want & VIGIL_INTEREST_TRACK_CREDS) note_creds(task); /* unshare, setns */
    return 0;
  }
  return 0;
}
