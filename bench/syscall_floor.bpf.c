// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0)
/* The cost floor of capturing system calls with the hooks that load on this kernel, for
 * bench/events.sh. Each program does nothing: what a storm loses with one attached is the price
 * of the hook itself, which no capture program built on it can go below.
 *   floor_raw_exit: the raw sys_exit tracepoint vigil's probe uses (bpf/syscalls.bpf.c).
 *     Attaching it sets the syscall-tracepoint work flag on every thread, so every syscall
 *     takes the slow entry/exit path and runs the BPF program.
 *   floor_raw_enter: with floor_raw_exit, what a sys_enter program would add (vigil has none).
 *   floor_perf_exit: a per-syscall tracepoint (syscalls:sys_exit_acct, a call the storms never
 *     make) through perf: the same slow path, but syscalls not selected skip the BPF run. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_raw_exit, struct pt_regs *regs, long ret) { return 0; }

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_raw_enter, struct pt_regs *regs, long nr) { return 0; }

SEC("tracepoint/syscalls/sys_exit_acct")
int floor_perf_exit(void *ctx) { return 0; }
