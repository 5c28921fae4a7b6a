/* The open files of a task, read from eBPF. Include after vmlinux.h and <bpf/bpf_core_read.h>;
 * adds no maps, so any program file may include it. */
#ifndef VIGIL_BPF_TASK_FILES_BPF_H
#define VIGIL_BPF_TASK_FILES_BPF_H

/* The file behind descriptor fd of the current task, or NULL. */
static __always_inline struct file *file_of_fd(struct task_struct *task, __s64 fd) {
  if (fd < 0) return NULL;
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  if ((__u64)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) < 0) return NULL;
  return file;
}

#define VIGIL_S_IFMT 0170000
#define VIGIL_S_IFSOCK 0140000

/* What a file is, as bpf/abi's fd_kind/stdio_kind carry it: i_mode in bits 0-15 and, for a
 * socket, its address family in bits 16-31; 0 for no file. */
static __always_inline __u32 file_kind(struct file *file) {
  if (!file) return 0;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  __u32 family = 0;
  if ((mode & VIGIL_S_IFMT) == VIGIL_S_IFSOCK) {
    struct socket *sock = BPF_CORE_READ(file, private_data);
    family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
  }
  return (__u32)mode | (family << 16);
}

#endif /* VIGIL_BPF_TASK_FILES_BPF_H */
