/* The in-kernel path filter of file syscalls (bpf/syscalls.bpf.c): the keys and values of its
 * maps, shared with the loader (src/probe). Rules usually care about a few directories (/etc,
 * the binary and library directories, /var/log): opens elsewhere are the bulk of all file
 * syscalls, and filtering them before a record is reserved is what keeps a busy host cheap.
 * docs/bpf.md explains the semantics. */
#ifndef VIGIL_BPF_ABI_PATH_FILTER_H
#define VIGIL_BPF_ABI_PATH_FILTER_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Longest path prefix the filter can hold: an LPM trie key carries at most 256 data bytes, the
 * first is the group. Paths this long or longer always pass. */
#define VIGIL_PATH_PREFIX_MAX 255

/* path_filter_groups[nr] (one __u8 per x86_64 syscall number): 0 means every captured call of
 * that syscall leaves the kernel; g in 1..255 means only calls whose path argument matches a
 * prefix of group g in path_prefixes (or that the filter cannot judge: see docs/bpf.md). */

/* path_prefixes (BPF_MAP_TYPE_LPM_TRIE) key: prefixlen counts bits of group + path bytes. */
struct vigil_path_prefix_key {
  __u32 prefixlen;                   /* 8 * (1 + bytes of the prefix), no NUL counted */
  __u8 group;                        /* the syscall's filter group */
  char path[VIGIL_PATH_PREFIX_MAX];  /* absolute path prefix, byte-wise (not per component) */
};

/* path_prefixes value: what a path under the longest matching prefix is wanted for. User space
 * stores in each entry the union with every shorter prefix of its group, because the trie
 * answers with the longest match only. */
#define VIGIL_PATH_WANT_ANY 0x1u   /* every call */
#define VIGIL_PATH_WANT_WRITE 0x2u /* opens for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC) and
                                      every other file syscall (they all modify) */

/* path_leads[group] (BPF_MAP_TYPE_ARRAY, 256 entries) value: bit c of bits[c / 64] is set when
 * a prefix of the group has byte c second (every bit when the group holds "/"). A plain path
 * whose second byte is not among them matches nothing, and skips the trie lookup. */
struct vigil_path_leads {
  __u64 bits[4];
};

#endif /* VIGIL_BPF_ABI_PATH_FILTER_H */
