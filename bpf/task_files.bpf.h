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

#endif /* VIGIL_BPF_TASK_FILES_BPF_H */
