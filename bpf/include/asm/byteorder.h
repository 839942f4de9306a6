/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* bpf2go builds the little-endian BPF target (bpfel). */
#include <linux/byteorder/little_endian.h>
