/* x86_64 numbers of the system calls bpf/syscalls.bpf.c knows (<asm/unistd_64.h>); the
 * records' syscall_nr holds them. tests/unit/probe_abi_test.cpp checks them against <sys/syscall.h>.
 * Other architectures need their own list (and a mapping in the loader). */
#ifndef VIGIL_BPF_ABI_SYSCALL_NR_H
#define VIGIL_BPF_ABI_SYSCALL_NR_H

#define VIGIL_NR_open 2
#define VIGIL_NR_close 3
#define VIGIL_NR_mmap 9
#define VIGIL_NR_mprotect 10
#define VIGIL_NR_dup 32
#define VIGIL_NR_dup2 33
#define VIGIL_NR_socket 41
#define VIGIL_NR_connect 42
#define VIGIL_NR_accept 43
#define VIGIL_NR_sendto 44
#define VIGIL_NR_recvfrom 45
#define VIGIL_NR_sendmsg 46
#define VIGIL_NR_recvmsg 47
#define VIGIL_NR_bind 49
#define VIGIL_NR_listen 50
#define VIGIL_NR_execve 59
#define VIGIL_NR_kill 62
#define VIGIL_NR_chdir 80
#define VIGIL_NR_fchdir 81
#define VIGIL_NR_rename 82
#define VIGIL_NR_mkdir 83
#define VIGIL_NR_rmdir 84
#define VIGIL_NR_creat 85
#define VIGIL_NR_link 86
#define VIGIL_NR_unlink 87
#define VIGIL_NR_symlink 88
#define VIGIL_NR_chmod 90
#define VIGIL_NR_fchmod 91
#define VIGIL_NR_chown 92
#define VIGIL_NR_fchown 93
#define VIGIL_NR_lchown 94
#define VIGIL_NR_ptrace 101
#define VIGIL_NR_setuid 105
#define VIGIL_NR_setgid 106
#define VIGIL_NR_setreuid 113
#define VIGIL_NR_setregid 114
#define VIGIL_NR_setresuid 117
#define VIGIL_NR_setresgid 119
#define VIGIL_NR_setfsuid 122
#define VIGIL_NR_setfsgid 123
#define VIGIL_NR_capset 126
#define VIGIL_NR_mount 165
#define VIGIL_NR_umount2 166
#define VIGIL_NR_init_module 175
#define VIGIL_NR_tkill 200
#define VIGIL_NR_tgkill 234
#define VIGIL_NR_openat 257
#define VIGIL_NR_mkdirat 258
#define VIGIL_NR_fchownat 260
#define VIGIL_NR_unlinkat 263
#define VIGIL_NR_renameat 264
#define VIGIL_NR_linkat 265
#define VIGIL_NR_symlinkat 266
#define VIGIL_NR_fchmodat 268
#define VIGIL_NR_unshare 272
#define VIGIL_NR_accept4 288
#define VIGIL_NR_dup3 292
#define VIGIL_NR_open_by_handle_at 304 /* not captured; the exec guard watches it (bpf/exec_guard.bpf.c) */
#define VIGIL_NR_setns 308
#define VIGIL_NR_finit_module 313
#define VIGIL_NR_renameat2 316
#define VIGIL_NR_memfd_create 319
#define VIGIL_NR_bpf 321
#define VIGIL_NR_execveat 322
#define VIGIL_NR_userfaultfd 323
#define VIGIL_NR_openat2 437
#define VIGIL_NR_fchmodat2 452

#endif /* VIGIL_BPF_ABI_SYSCALL_NR_H */
