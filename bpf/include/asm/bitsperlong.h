/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* The BPF target has no arch-specific asm/ headers; the generic ones fit. */
#include <asm-generic/bitsperlong.h>
