/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared by the XDP program and its Go loader (bpf2go generates the Go
 * side from this file's BTF; never copy these structs by hand).
 *
 * The source table: one inner array map of 32-byte cells holds everything a
 * packet's source address decides (country, deny, per-service allow), for
 * both address families, as a compressed multibit trie in the manner of
 * Poptrie (Asai and Ohara, SIGCOMM 2015):
 *
 *   cells [0, 32768)      IPv4 direct table: 2^18 u32 entries, top 18 bits
 *   cells [32768, 65536)  IPv6 direct table, likewise
 *   cells [65536, 73727)  class records, 2 per cell (16382 classes)
 *   cell 73727            header (ST_HEADER): the service tables' generation
 *   cells [73728, ...)    nodes (one per cell), then leaves (8 u32 per cell)
 *
 * A direct entry is a class id, or ST_NODE | the cell of a node. A node
 * resolves the next 6 address bits: bit v of `vector` says position v is a
 * child node (children are contiguous from base1); otherwise the position's
 * class id is leaf number base0 + popcount(leafvec & (2 << v) - 1) - 1,
 * leafvec marking where runs of equal leaves start. A class is one distinct
 * (country, deny, allow-bitmap) combination, so one walk answers every source
 * question. The whole map is built aside by userspace and switched in with
 * one update of the outer map.
 *
 * Generations: the service tables (ports, dests, services) hold two copies,
 * generation 0 and 1, and the live source table's header says which one
 * goes with it. A reload writes the other generation in full, then switches
 * in a source table naming it: services, ports, destinations and the
 * allowlists that name service ids change for the packets in one step, and
 * a reload that fails before that step changes nothing a packet sees. The
 * outer map update returns only after a grace period (the kernel waits for
 * running programs on map-in-map updates), so the next reload may rewrite
 * the generation no packet can see any more.
 */
#ifndef ENFORCER_H
#define ENFORCER_H

#include <linux/types.h>

/* 18 direct bits, then 6 per node: an IPv4 /24 or IPv6 /48 costs one node
 * step fewer than with 16 (as in the Poptrie paper). */
#define ST_DIRECT_BITS 18
#define ST_DIRECT_CELLS 32768
#define ST_V4_DIRECT 0
#define ST_V6_DIRECT 32768
#define ST_CLASS_BASE 65536
#define ST_CLASS_CELLS 8192
#define ST_CLASSES_PER_CELL 2
#define ST_FIRST_NODE (ST_CLASS_BASE + ST_CLASS_CELLS)
/* The last class cell is the table's header, no classes: word 0 is the
 * generation of the service tables the table goes with (see GENERATIONS). */
#define ST_HEADER (ST_FIRST_NODE - 1)
#define ST_NODE 0x80000000u
/* Default capacity: 2M cells (64 MiB); a full GeoLite2-Country needs about
 * 1.3M. The loader can change it. */
#define ST_DEFAULT_CELLS (1u << 21)
/* Node levels below the direct table: ceil((32-18)/6), ceil((128-18)/6). */
#define ST_V4_LEVELS 3
#define ST_V6_LEVELS 19

#define MAX_SERVICES 64   /* service id 0 means "no service" */
#define MAX_COUNTRIES 677 /* 0 = none, 1 + (c0-'A')*26 + (c1-'A') */
#define COUNTRY_WORDS 11  /* ceil(677 / 64) */
#define MAX_DESTS 4096    /* destination-prefix-limited service entries */
#define GENERATIONS 2     /* copies of the service tables: live and being built */
#define PORT_ENTRIES (2 * 65536) /* (proto index << 16 | port), per generation */
#define MAX_EXT_HDRS 8    /* IPv6 extension headers parsed before giving up */

/* Port map value: service id in the low byte, flags above. */
#define PORT_SVC_MASK 0xffu
#define PORT_F_DSTLIMITED 0x100u /* some services on this port are destination-limited */

/* Service flags. */
#define SVC_F_GEOFENCED 0x1u

enum verdict {
	VERDICT_PASS = 0,
	VERDICT_DROP = 1,
	VERDICT_MAX = 2,
};

enum reason {
	REASON_DENY = 0,       /* source in the deny list */
	REASON_ALLOWLIST = 1,  /* source in the service's CIDR allowlist */
	REASON_COUNTRY = 2,    /* source's country in the service's set */
	REASON_NO_COUNTRY = 3, /* geofenced service, source has no country */
	REASON_NOT_IN_SET = 4, /* neither allowlisted nor in an allowed country */
	REASON_MALFORMED = 5,  /* headers that cannot be judged */
	REASON_FRAGMENT = 6,   /* later fragment (pass) or tiny first fragment (drop) */
	REASON_MAX = 7,
};

#define STATS_ENTRIES (MAX_SERVICES * VERDICT_MAX * REASON_MAX)

struct st_cell {
	__u32 w[8];
};

struct st_node {
	__u64 vector;
	__u64 leafvec;
	__u32 base1; /* cell of the first child node */
	__u32 base0; /* number of the first leaf: cell base0 / 8, word base0 % 8 */
	__u64 pad;
};

struct st_class {
	__u16 country;
	__u8 deny;
	__u8 pad[5];
	__u64 allow; /* bit n: allowlisted for service n */
};

struct service {
	__u64 countries[COUNTRY_WORDS]; /* bit c: country id c is allowed */
	__u32 flags;
	__u32 pad;
};

struct dest_key {
	__u32 prefixlen; /* 32 (proto, gen, port) + 128 address bits at most */
	__u8 proto;
	__u8 gen; /* the generation the entry belongs to */
	__be16 port;
	__u8 addr[16]; /* IPv4 as IPv4-mapped IPv6 */
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

#endif
