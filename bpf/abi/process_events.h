/* vigil's kernel/user ABI: process lifecycle records (bpf/process.bpf.c).
 * Same rules as event_header.h; fields are documented in docs/bpf.md. */
#ifndef VIGIL_BPF_ABI_PROCESS_EVENTS_H
#define VIGIL_BPF_ABI_PROCESS_EVENTS_H

#include "event_header.h"

#define VIGIL_EXEC_FILENAME_MAX 256
#define VIGIL_EXEC_ARGS_MAX 1024

/* vigil_exec_event.flags */
#define VIGIL_EXEC_FILENAME_TRUNCATED 0x1u /* filename filled its buffer: may be cut short */
#define VIGIL_EXEC_ARGS_TRUNCATED 0x2u     /* the argument area was longer than args[] */
#define VIGIL_EXEC_ARGS_UNREADABLE 0x4u    /* the argument area could not be read: args_size 0 */
#define VIGIL_EXEC_EXE_UPPER_LAYER 0x8u    /* the executable is in an overlayfs upper layer: written
                                              (or copied up) after the container started */

/* A successful execve/execveat, recorded after the new program was loaded. The header
 * describes the task after exec (new comm, same pid). */
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
};                                         /* 1392 bytes */

/* A new process (not a new thread) was created by fork/vfork/clone. The header describes
 * the parent (the task that called fork). */
struct vigil_fork_event {
  struct vigil_event_header header; /*  0 */
  __u32 child_pid;                  /* 80: thread group id of the child, init pid ns */
  __u32 child_tid;                  /* 84: thread id of the child (equals child_pid) */
};                                  /* 88 bytes */

/* The last thread of a process exited. The header describes that thread. */
struct vigil_exit_event {
  struct vigil_event_header header; /*  0 */
  __u32 exit_code;                  /* 80: wait(2) status: WIFEXITED/WEXITSTATUS/WTERMSIG apply */
  __u32 reserved0;                  /* 84: zero */
};                                  /* 88 bytes */

#endif /* VIGIL_BPF_ABI_PROCESS_EVENTS_H */
