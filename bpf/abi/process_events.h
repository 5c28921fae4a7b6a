/* vigil's kernel/user ABI: process lifecycle records (bpf/process.bpf.c).
 * Same rules as event_header.h; fields are documented in docs/bpf.md. */
#ifndef VIGIL_BPF_ABI_PROCESS_EVENTS_H
#define VIGIL_BPF_ABI_PROCESS_EVENTS_H

#include "creds.h"
#include "event_header.h"

#define VIGIL_EXEC_FILENAME_MAX 256
#define VIGIL_EXEC_ARGS_MAX 1024
#define VIGIL_EXEC_PATH_MAX 1024 /* exe_path[], cwd[] */

/* vigil_exec_event.flags */
#define VIGIL_EXEC_FILENAME_TRUNCATED 0x1u /* filename filled its buffer: may be cut short */
#define VIGIL_EXEC_ARGS_TRUNCATED 0x2u     /* the argument area was longer than args[] */
#define VIGIL_EXEC_ARGS_UNREADABLE 0x4u    /* the argument area could not be read: args_size 0 */
#define VIGIL_EXEC_EXE_UPPER_LAYER 0x8u    /* the executable is in an overlayfs upper layer: written
                                              (or copied up) after the container started */
#define VIGIL_EXEC_EXE_MEMFD 0x10u         /* the executable is a memfd (memfd_create): no file on disk */
#define VIGIL_EXEC_EXE_UNLINKED 0x20u      /* the executable's name is gone (deleted, O_TMPFILE, memfd):
                                              the kernel's d_path would append " (deleted)" */
#define VIGIL_EXEC_EXE_PATH_TRUNCATED 0x40u /* exe_path holds only the components nearest the file, or
                                              none when the walk failed (exe_path_size 0) */
#define VIGIL_EXEC_EXE_PATH_DETACHED 0x80u /* the walk did not reach the task's root (internal or
                                              detached mount, or a file outside a chroot): exe_path
                                              is the path within the file's own filesystem */
#define VIGIL_EXEC_CWD_TRUNCATED 0x100u    /* cwd: as EXE_PATH_TRUNCATED (cwd_size 0 without it is "/") */
#define VIGIL_EXEC_CWD_DETACHED 0x200u     /* cwd: as EXE_PATH_DETACHED */
#define VIGIL_EXEC_KERNEL_FACTS 0x400u     /* creds..cwd below were filled by the probe (always, from this
                                              ABI on; a reader must ignore them without it) */

/* vigil_exec_event.stdio_kind[]: what descriptors 0, 1 and 2 are, read in the kernel. */
#define VIGIL_FD_KIND_MODE_MASK 0xffffu    /* i_mode of the file (S_IFSOCK, S_IFREG, ...); 0: no file */
#define VIGIL_FD_KIND_FAMILY_SHIFT 16      /* sockets: address family (AF_INET, ...) in bits 16-31 */

/* A successful execve/execveat, recorded after the new program was loaded. The header
 * describes the task after exec (new comm, same pid). What rules ask about the new program is
 * read here, in the kernel, so nothing depends on /proc still showing it: the executable's
 * resolved path, cwd, credentials, the pids in the task's own pid namespace, what stdio is.
 * Paths (exe_path, cwd) are the names of the components from the file up to the task's root,
 * LEAF FIRST, each NUL-terminated ("true\0bin\0usr\0" is /usr/bin/true; empty is "/"). */
struct vigil_exec_event {
  struct vigil_event_header header;        /*   0 */
  __u64 exe_ino;                           /*  80: inode number of the executed file */
  __u32 exe_dev;                           /*  88: its device, encoded as stat(2)'s st_dev */
  __u32 argc;                              /*  92: number of arguments (even when args[] is truncated) */
  __u32 args_size;                         /*  96: bytes of args[] that are valid */
  __u32 filename_size;                     /* 100: bytes of filename[] that are valid, NUL included */
  __u32 flags;                             /* 104: VIGIL_EXEC_* */
  __u32 env_size;                          /* 108: bytes of the new environment area (envp strings) */
  char filename[VIGIL_EXEC_FILENAME_MAX];  /* 112: path as passed to exec, NUL-terminated */
  char args[VIGIL_EXEC_ARGS_MAX];          /* 368: argv strings, each NUL-terminated, back to back */
  struct vigil_creds creds;                /* 1392: task->cred after exec (set-user-ID, file caps applied) */
  __u64 exe_mtime_ns;                      /* 1448: the executable's mtime, ns since the epoch */
  __u64 exe_ctime_ns;                      /* 1456: its ctime (inode change: chmod, write, link) */
  __u32 vpid;                              /* 1464: the pid in the task's own pid namespace */
  __u32 vpgid;                             /* 1468: its process group there (0: the group's
                                                    leader lives in an ancestor namespace) */
  __u32 vsid;                              /* 1472: its session there (same rule) */
  __u32 loginuid;                          /* 1476: audit login uid (0xffffffff: unset) */
  __u32 stdio_kind[3];                     /* 1480: fds 0, 1, 2: VIGIL_FD_KIND_* (i_mode | family << 16) */
  __u32 exe_path_size;                     /* 1492: valid bytes of exe_path[] */
  __u32 cwd_size;                          /* 1496: valid bytes of cwd[] */
  __u32 reserved0;                         /* 1500: zero */
  char exe_path[VIGIL_EXEC_PATH_MAX];      /* 1504: the executed file (bprm->file), leaf first */
  char cwd[VIGIL_EXEC_PATH_MAX];           /* 2528: the working directory (fs->pwd), leaf first */
};                                         /* 3552 bytes */

/* A new process (not a new thread) was created by fork/vfork/clone. The header describes
 * the parent (the task that called fork). */
struct vigil_fork_event {
  struct vigil_event_header header; /*  0 */
  __u32 child_pid;                  /* 80: thread group id of the child, init pid ns */
  __u32 child_tid;                  /* 84: thread id of the child (equals child_pid) */
  __u32 child_vpid;                 /* 88: the child's pid in its own pid namespace (1 for the
                                           first process of a new one) */
  __u32 child_pid_ns;               /* 92: inode of that namespace */
};                                  /* 96 bytes */

/* The last thread of a process exited. The header describes that thread. */
struct vigil_exit_event {
  struct vigil_event_header header; /*  0 */
  __u32 exit_code;                  /* 80: wait(2) status: WIFEXITED/WEXITSTATUS/WTERMSIG apply */
  __u32 reserved0;                  /* 84: zero */
};                                  /* 88 bytes */

#endif /* VIGIL_BPF_ABI_PROCESS_EVENTS_H */
