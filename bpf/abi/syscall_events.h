/* vigil's kernel/user ABI: system call records (bpf/syscalls.bpf.c).
 *
 * Same rules as event_header.h: plain C, fixed-size types, no implicit padding (gaps are
 * reservedN fields written as 0), sizes multiples of 8, host byte order unless a field says
 * "network order". Every field is documented in docs/bpf.md; tests/unit/probe_abi_test.cpp
 * pins sizes and offsets.
 *
 * One record per captured system call, written when the call returns (sys_exit), failed calls
 * included: `ret` is the raw return value (negative errno on failure). Arguments are the
 * values the caller passed (x86_64 registers at entry); strings and socket addresses are read
 * from the caller's memory when the call returns, except where a field says "at entry".
 * Syscall numbers are the x86_64 ones (<asm/unistd_64.h>); 32-bit (ia32) calls are not
 * captured. Five families, one record type each: */
#ifndef VIGIL_BPF_ABI_SYSCALL_EVENTS_H
#define VIGIL_BPF_ABI_SYSCALL_EVENTS_H

#include "creds.h"
#include "event_header.h"
#include "syscall_nr.h"

/* Size of the in-kernel interest map (BPF_MAP_TYPE_ARRAY of __u8 indexed by syscall number):
 * numbers at or above it are never captured. */
#define VIGIL_SYSCALL_NR_MAX 512

/* Bits of an interest map value. */
#define VIGIL_INTEREST_CAPTURE 0x1u     /* calls of this syscall become records */
#define VIGIL_INTEREST_TRACK_CREDS 0x2u /* it can change the caller's credentials: the probe
                                           notes them at exit (old credentials of later set*id) */

#define VIGIL_SYSCALL_PATH_MAX 256 /* path[] / path2[] of the file and exec records */
#define VIGIL_SYSCALL_ARGS_MAX 1024 /* exec argv area, same as vigil_exec_event.args */
#define VIGIL_SYSCALL_STR_MAX 256  /* the proc record's str[] */
#define VIGIL_SOCKADDR_UNIX_MAX 108 /* sizeof(sockaddr_un.sun_path) */
#define VIGIL_FSTYPE_MAX 32         /* the file record's fstype[] (mount) */

/* flags of every syscall record (bits that do not apply to a family stay 0) */
#define VIGIL_SYSCALL_PATH_TRUNCATED 0x1u   /* path[] (or str[]) filled its buffer: may be cut short */
#define VIGIL_SYSCALL_PATH_UNREADABLE 0x2u  /* path[] (or str[]) could not be read (NULL/bad pointer): size 0 */
#define VIGIL_SYSCALL_PATH2_TRUNCATED 0x4u  /* path2[] filled its buffer */
#define VIGIL_SYSCALL_PATH2_UNREADABLE 0x8u /* path2[] could not be read: size 0 */
#define VIGIL_SYSCALL_ARGS_TRUNCATED 0x10u  /* exec: argv did not fit args[] */
#define VIGIL_SYSCALL_ARGS_UNREADABLE 0x20u /* exec: argv could not be read: args_size 0 */
#define VIGIL_SYSCALL_NO_ENTER 0x40u        /* the data saved at entry is missing (probe attached
                                               mid-call or the per-thread map was full): old
                                               creds / exec filename are 0 / empty */
#define VIGIL_SYSCALL_ADDR_UNREADABLE 0x80u /* net: the sockaddr argument could not be read */
#define VIGIL_SYSCALL_KILLED 0x100u         /* the caller was sent SIGKILL in the kernel when the call
                                               returned (kill_on_exit: a kill rule matches every such call) */

/* Common start of every syscall record, right after the header. */
struct vigil_syscall_common {
  __u32 syscall_nr; /*  0 (record offset 80): x86_64 syscall number */
  __u32 flags;      /*  4 (84): VIGIL_SYSCALL_* */
  __s64 ret;        /*  8 (88): return value; -errno on failure */
};                  /* 16 bytes */

/* VIGIL_EVENT_SYSCALL_FILE: open, creat, openat, openat2, unlink, unlinkat, rename, renameat,
 * renameat2, chmod, fchmod, fchmodat, fchmodat2, chown, fchown, fchownat, lchown, mount,
 * umount2. Which field holds what for each call: docs/bpf.md. */
struct vigil_syscall_file_event {
  struct vigil_event_header header;   /*   0 */
  struct vigil_syscall_common sc;     /*  80 */
  __s32 dirfd;                        /*  96: dirfd of *at calls (AT_FDCWD = -100 otherwise) */
  __s32 dirfd2;                       /* 100: second dirfd (renameat/renameat2 newdirfd), else AT_FDCWD */
  __s32 fd;                           /* 104: open*: the new fd (= ret on success, -1 on failure);
                                                 fchmod/fchown: the fd argument; else -1 */
  __u32 mode;                         /* 108: open/creat mode, chmod mode; else 0 */
  __u64 open_flags;                   /* 112: open*: O_* flags (openat2: how.flags); mount: MS_* flags */
  __u64 resolve;                      /* 120: openat2: how.resolve (RESOLVE_*); else 0 */
  __u32 at_flags;                     /* 128: AT_* of unlinkat/fchmodat2/fchownat, RENAME_ flags of
                                                 renameat2, MNT_ flags of umount2; else 0 */
  __u32 uid;                          /* 132: chown family: owner as passed (0xffffffff = unchanged) */
  __u32 gid;                          /* 136: chown family: group as passed (0xffffffff = unchanged) */
  __u32 dev;                          /* 140: open* success: device of the opened file (st_dev encoding) */
  __u64 ino;                          /* 144: open* success: inode number of the opened file; else 0 */
  __u32 path_size;                    /* 152: valid bytes of path[], NUL included (0: none) */
  __u32 path2_size;                   /* 156: valid bytes of path2[], NUL included (0: none) */
  char path[VIGIL_SYSCALL_PATH_MAX];  /* 160: the (first) path argument as passed, NUL-terminated */
  char path2[VIGIL_SYSCALL_PATH_MAX]; /* 416: rename*: new path; mount: target; else empty */
  char fstype[VIGIL_FSTYPE_MAX];      /* 672: mount: filesystem type, NUL-terminated; else empty */
};                                    /* 704 bytes */

/* A socket address as the records carry it. */
struct vigil_sockaddr {
  __u16 family;                           /*   0: AF_INET (2), AF_INET6 (10), AF_UNIX (1), 0: none */
  __u16 port;                             /*   2: inet/inet6 port, host order; else 0 */
  __u32 unix_path_size;                   /*   4: AF_UNIX: valid bytes of unix_path (abstract: starts with NUL) */
  __u8 addr[16];                          /*   8: network order. AF_INET: the 4 address bytes in
                                                   addr[0..3], addr[4..15] zero (NOT v4-mapped);
                                                   AF_INET6: all 16 bytes; else zero */
  char unix_path[VIGIL_SOCKADDR_UNIX_MAX]; /* 24: AF_UNIX: sun_path bytes (not necessarily NUL-terminated) */
  __u32 reserved0;                        /* 132: zero */
};                                        /* 136 bytes */

/* VIGIL_EVENT_SYSCALL_NET: socket, connect, accept, accept4, bind, listen. */
struct vigil_syscall_net_event {
  struct vigil_event_header header; /*   0 */
  struct vigil_syscall_common sc;   /*  80 */
  __s32 fd;                         /*  96: the socket fd argument (socket(): -1; its new fd is ret) */
  __s32 domain;                     /* 100: socket(): domain argument; else the socket's family (0 if unknown) */
  __s32 type;                       /* 104: socket(): type argument (SOCK_* | SOCK_NONBLOCK/CLOEXEC);
                                               else the socket's sk_type (0 if unknown) */
  __s32 protocol;                   /* 108: socket(): protocol argument; else the socket's sk_protocol */
  __s32 backlog;                    /* 112: listen(): backlog argument; else 0 */
  __u32 accept_flags;               /* 116: accept4(): flags argument; else 0 */
  struct vigil_sockaddr local;      /* 120: bind: the address passed; connect/listen: the socket's
                                               local address at return; accept*: the new socket's */
  struct vigil_sockaddr remote;     /* 256: connect: the address passed; accept*: the peer of the
                                               new socket; else none */
};                                  /* 392 bytes */


/* VIGIL_EVENT_SYSCALL_CRED: setuid, setgid, setreuid, setregid, setresuid, setresgid,
 * setfsuid, setfsgid, capset. */
struct vigil_syscall_cred_event {
  struct vigil_event_header header; /*   0: header.uid/gid are the real ids at return */
  struct vigil_syscall_common sc;   /*  80 */
  struct vigil_creds old_creds;     /*  96: task->cred at entry (NO_ENTER flag: zero) */
  struct vigil_creds new_creds;     /* 152: task->cred at return */
  __u32 id_args[3];                 /* 208: the ids as passed: set*id(a) -> [a,0,0]; setre*id(r,e)
                                               -> [r,e,0]; setres*id(r,e,s) -> [r,e,s]; capset: 0 */
  __u32 cap_version;                /* 220: capset: header->version; else 0 */
  __s32 cap_pid;                    /* 224: capset: header->pid; else 0 */
  __u32 reserved0;                  /* 228: zero */
  __u64 cap_effective_arg;          /* 232: capset: requested effective set (data[0] | data[1] << 32) */
  __u64 cap_permitted_arg;          /* 240: capset: requested permitted set */
  __u64 cap_inheritable_arg;        /* 248: capset: requested inheritable set */
};                                  /* 256 bytes */

/* VIGIL_EVENT_SYSCALL_PROC: ptrace, kill, tkill, tgkill, unshare, setns, dup, dup2, dup3,
 * close, memfd_create, mmap and mprotect (only with PROT_EXEC in prot), bpf, init_module,
 * finit_module. The raw arguments are in args[]; per call: docs/bpf.md. */
struct vigil_syscall_proc_event {
  struct vigil_event_header header;  /*   0 */
  struct vigil_syscall_common sc;    /*  80 */
  __u64 args[6];                     /*  96: the six argument registers as passed; those the call
                                                does not take hold whatever the caller left there */
  __u64 ino;                         /* 144: mmap/finit_module/setns/dup*: inode number of the
                                                fd argument's file (setns on /proc/PID/ns/X: the
                                                namespace inode; dup*: oldfd's); else 0 */
  __u32 dev;                         /* 152: its device (st_dev encoding); else 0 */
  __u32 str_size;                    /* 156: valid bytes of str[], NUL included (0: none) */
  __u32 bpf_type;                    /* 160: bpf(): the first 4 bytes of attr (map_type for
                                                BPF_MAP_CREATE, prog_type for BPF_PROG_LOAD); else 0 */
  __u32 fd_kind;                     /* 164: that same file: i_mode in bits 0-15 (S_IFSOCK,
                                                S_IFREG...) and, for a socket, its address family
                                                in bits 16-31; 0 when there is no such file */
  char str[VIGIL_SYSCALL_STR_MAX];   /* 168: memfd_create: name; init_module/finit_module: param
                                                string; else empty */
};                                   /* 424 bytes */

/* VIGIL_EVENT_SYSCALL_EXEC: execve, execveat, successful or not. On success the record is
 * written in the new program (same pid) and complements vigil_exec_event. */
struct vigil_syscall_exec_event {
  struct vigil_event_header header;    /*    0: at return: the new program on success */
  struct vigil_syscall_common sc;      /*   80 */
  __s32 dirfd;                         /*   96: execveat: dirfd; execve: AT_FDCWD (-100) */
  __u32 at_flags;                      /*  100: execveat: flags (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW) */
  __u64 exe_ino;                       /*  104: success: inode of the new executable (mm->exe_file); else 0 */
  __u32 exe_dev;                       /*  112: its device (st_dev encoding); else 0 */
  __u32 argc;                          /*  116: number of arguments (success: the new program's
                                                  argc; failure: pointers read from argv, max 64) */
  __u32 args_size;                     /*  120: valid bytes of args[] */
  __u32 filename_size;                 /*  124: valid bytes of filename[], NUL included (0: none) */
  __u64 env_size;                      /*  128: success: bytes of the environment area
                                                  (mm->env_end - env_start); failure: 0 */
  __u32 reserved0;                     /*  136: zero */
  __u32 reserved1;                     /*  140: zero */
  char filename[VIGIL_SYSCALL_PATH_MAX]; /* 144: pathname argument as passed, read at entry
                                                  (unreadable then: bprm->filename on success,
                                                  re-read at return on failure; docs/bpf.md) */
  char args[VIGIL_SYSCALL_ARGS_MAX];   /*  400: argv strings, each NUL-terminated, back to back */
};                                     /* 1424 bytes */

#endif /* VIGIL_BPF_ABI_SYSCALL_EVENTS_H */
