// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * enforcer's XDP datapath: drops packets to protected mail services from
 * sources outside the service's CIDR allowlist and country set.
 *
 * The verdict for a packet to a protected service (protocol + destination
 * port, optionally limited to destination prefixes) is, in order:
 *   source in the deny list            -> DROP  (deny)
 *   source in the service's allowlist  -> PASS  (allowlist)
 *   service not geofenced              -> DROP  (not-in-set)
 *   source without a country           -> DROP  (no-country)
 *   source's country in the set        -> PASS  (country)
 *   otherwise                          -> DROP  (not-in-set)
 * Everything else passes untouched. The Go reference model in policy/ must
 * give the same answers; a fuzz test holds the two together.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "enforcer.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Slot 0 holds the live source table; replacing it is the atomic swap. The
 * inner map here is a template: every table userspace creates has the same
 * capacity (the loader may raise it before loading). A fixed capacity, not
 * BPF_F_INNER_MAP, lets the verifier inline every table lookup; without
 * that each lookup is a helper call and the geo verdict costs several times
 * the parse (measured: see README, Performance). Mmapable so userspace fills
 * a new table with one copy. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(map_flags, BPF_F_MMAPABLE);
		__uint(max_entries, ST_DEFAULT_CELLS);
		__type(key, __u32);
		__type(value, struct st_cell);
	});
} source_tables SEC(".maps");

/* The service tables below hold GENERATIONS copies; the live source
 * table's header names the one in force (see enforcer.h). */

/* gen * PORT_ENTRIES + (proto index << 16 | destination port) -> service
 * id and flags; proto index 0 is TCP, 1 is UDP. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GENERATIONS * PORT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

/* Services limited to destination prefixes: (proto, gen, port, daddr) ->
 * id; each generation holds at most MAX_DESTS. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GENERATIONS * MAX_DESTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dest_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dests SEC(".maps");

/* gen * MAX_SERVICES + service id -> the service's country set. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GENERATIONS * MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

/* Index (service * VERDICT_MAX + verdict) * REASON_MAX + reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STATS_ENTRIES);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Dropped packets by the source's country id (0: no country). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_COUNTRIES);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} country_drops SEC(".maps");

/* Gives BTF (and so bpf2go) the types the loader needs that no map names. */
struct abi_types {
	struct st_cell cell; /* the inner map template alone leaves it a forward declaration */
	struct st_node node;
	struct st_class cls;
	enum verdict verdict;
	enum reason reason;
};
const struct abi_types *const abi_types_unused __attribute__((unused)) = 0;

enum parse_result {
	P_PASS,      /* not a TCP/UDP packet we judge: pass untouched */
	P_L4,        /* ports found, struct pkt filled */
	P_LATER,     /* a later fragment: carries no ports */
	P_TINY,      /* a first fragment too short to hold the ports */
	P_MALFORMED, /* IP or L4 headers broken before the ports, or too many VLAN tags */
};

struct pkt {
	__u32 src[4]; /* network order; IPv4 in src[0] */
	__u32 dst[4];
	__u16 dport;  /* host order */
	__u8 proto;
	__u8 v6;
	__u8 first;   /* first fragment of a fragmented datagram */
	__u8 l4ok;    /* the whole TCP/UDP header is present and sane */
};

struct vlanhdr {
	__be16 tci;
	__be16 proto;
};

/* parse_l4 reads the ports at l4, which has l4len bytes of IP payload. */
static __always_inline int parse_l4(void *l4, void *end, __u32 l4len, struct pkt *p)
{
	if (l4len < 4 || l4 + 4 > end)
		return p->first ? P_TINY : P_MALFORMED;
	p->dport = bpf_ntohs(((__be16 *)l4)[1]);
	if (p->first) {
		/* A first fragment need only carry the ports (RFC 1858 sec. 3.1
		 * tiny-fragment rule); the rest of the header may follow. */
		p->l4ok = 1;
	} else if (p->proto == IPPROTO_TCP) {
		__u8 *t = l4;
		if (l4len >= 20 && l4 + 20 <= end) {
			__u32 doff = (t[12] >> 4) * 4;
			p->l4ok = doff >= 20 && doff <= l4len;
		}
	} else {
		p->l4ok = l4len >= 8;
	}
	return P_L4;
}

static __always_inline int parse_ipv4(void *cur, void *end, __u32 avail, struct pkt *p)
{
	struct iphdr *ip = cur;
	if ((void *)(ip + 1) > end)
		return P_MALFORMED;
	__u32 hlen = ip->ihl * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < 20 || tot < hlen || tot > avail)
		return P_MALFORMED;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return P_PASS;
	__u16 frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff)
		return P_LATER;
	p->first = (frag & 0x2000) != 0;
	p->proto = ip->protocol;
	p->src[0] = ip->saddr;
	p->dst[0] = ip->daddr;
	return parse_l4(cur + hlen, end, tot - hlen, p);
}

static __always_inline int parse_ipv6(void *cur, void *end, __u32 avail, struct pkt *p)
{
	struct ipv6hdr *ip6 = cur;
	if ((void *)(ip6 + 1) > end)
		return P_MALFORMED;
	__u32 rem = bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || avail < 40 || rem > avail - 40)
		return P_MALFORMED;
	if (rem == 0) /* jumbogram (RFC 2675): the frame is the bound */
		rem = avail - 40;
	p->v6 = 1;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);
	__u8 next = ip6->nexthdr;
	__u8 *h = (void *)(ip6 + 1);

	for (int i = 0; i < MAX_EXT_HDRS; i++) {
		__u32 hl;
		switch (next) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
			p->proto = next;
			return parse_l4(h, end, rem, p);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			if (rem < 2 || (void *)(h + 2) > end)
				return p->first ? P_TINY : P_MALFORMED;
			hl = next == IPPROTO_AH ? (h[1] + 2) * 4 : (h[1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			if (rem < 8 || (void *)(h + 8) > end)
				return p->first ? P_TINY : P_MALFORMED;
			if ((h[2] << 8 | h[3]) & 0xfff8)
				return P_LATER;
			/* Offset 0 with M set is a first fragment; with M clear an
			 * atomic fragment (RFC 6946), judged as a whole packet. */
			p->first = h[3] & 1;
			hl = 8;
			break;
		default:
			return P_PASS; /* ICMPv6 (ND), ESP, no next header, ... */
		}
		if (hl > rem)
			return p->first ? P_TINY : P_MALFORMED;
		next = h[0];
		h += hl;
		rem -= hl;
	}
	if (next == IPPROTO_TCP || next == IPPROTO_UDP) {
		p->proto = next;
		return parse_l4(h, end, rem, p);
	}
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		/* The chain is longer than we parse. The kernel would follow it
		 * to a port we could not see, so it is not let through. */
		return P_MALFORMED;
	}
	return P_PASS;
}

static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = ctx->data_end - ctx->data;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return P_PASS;
	__be16 proto = eth->h_proto;
	void *cur = eth + 1;
	__u32 off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlanhdr *v = cur;
		if ((void *)(v + 1) > end)
			return P_PASS;
		proto = v->proto;
		cur = v + 1;
		off += sizeof(*v);
	}
	/* Still tagged after the two tags we parse: the kernel pops 802.1Q and
	 * 802.1ad tags one at a time and, for priority tags (VID 0) without a
	 * VLAN device, delivers what is inside (__netif_receive_skb_core), so
	 * a third tag would hide an IP packet we never judged. We do not know
	 * the service yet; no gateway needs three tags: malformed, dropped. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return P_MALFORMED;
	if (off > len)
		return P_PASS;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(cur, end, len - off, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(cur, end, len - off, p);
	return P_PASS;
}

/* generation reads which copy of the service tables goes with the source
 * table st; read once per packet, so a packet sees one generation. */
static __always_inline __u32 generation(void *st)
{
	if (!st)
		return 0;
	__u32 key = ST_HEADER;
	struct st_cell *h = bpf_map_lookup_elem(st, &key);
	return h ? h->w[0] & (GENERATIONS - 1) : 0;
}

static __always_inline __u32 service_of(struct pkt *p, __u32 gen)
{
	__u32 key = gen * PORT_ENTRIES + ((p->proto == IPPROTO_UDP ? 0x10000 : 0) | p->dport);
	__u32 *v = bpf_map_lookup_elem(&ports, &key);
	if (!v || !*v)
		return 0;
	__u32 svc = *v & PORT_SVC_MASK;
	if (*v & PORT_F_DSTLIMITED) {
		struct dest_key k = {
			.prefixlen = 32 + 128,
			.proto = p->proto,
			.gen = gen,
			.port = bpf_htons(p->dport),
		};
		if (p->v6) {
			__builtin_memcpy(k.addr, p->dst, 16);
		} else {
			k.addr[10] = 0xff;
			k.addr[11] = 0xff;
			__builtin_memcpy(&k.addr[12], &p->dst[0], 4);
		}
		__u32 *d = bpf_map_lookup_elem(&dests, &k);
		if (d)
			svc = *d;
	}
	return svc & (MAX_SERVICES - 1);
}

static __always_inline __u64 popcount64(__u64 x)
{
	/* BPF has no popcount instruction; the classic SWAR reduction. */
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/* word reads 32-bit word i of the table (cell i / 8); ~0 if out of range. */
static __always_inline __u32 word(void *st, __u32 i)
{
	__u32 key = i / 8;
	struct st_cell *c = bpf_map_lookup_elem(st, &key);
	return c ? c->w[i % 8] : ~0u;
}

/* step resolves one node for the 6-bit chunk v: the next entry, which is a
 * node reference (ST_NODE | cell) or a class id. */
static __always_inline __u32 step(void *st, __u32 e, __u64 v)
{
	__u32 key = e & ~ST_NODE;
	struct st_node *n = bpf_map_lookup_elem(st, &key);
	if (!n)
		return ~0u;
	__u64 mask = (2ULL << v) - 1; /* v = 63 wraps to all ones, as meant */
	if ((n->vector >> v) & 1)
		return ST_NODE | (n->base1 + (__u32)popcount64(n->vector & mask) - 1);
	return word(st, n->base0 + (__u32)popcount64(n->leafvec & mask) - 1);
}

static __always_inline __u32 walk4(void *st, __u32 a)
{
	__u32 e = word(st, ST_V4_DIRECT * 8 + (a >> (32 - ST_DIRECT_BITS)));
	if (e & ST_NODE)
		e = step(st, e, (a >> 8) & 63);
	if (e & ST_NODE)
		e = step(st, e, (a >> 2) & 63);
	if (e & ST_NODE)
		e = step(st, e, (a << 4) & 63); /* 2 bits left, padded with zeros */
	_Static_assert(ST_DIRECT_BITS == 18 && ST_V4_LEVELS == 3, "walk4 is written for 18+6+6+6");
	return e;
}

/* chunk6 is bits [d, d+6) of the 128-bit address hi:lo, zero-padded. */
#define chunk6(hi, lo, d)                                                              \
	((d) + 6 <= 64 ? ((hi) >> (58 - (d))) & 63                                     \
	 : (d) >= 64   ? ((d) + 6 <= 128 ? ((lo) >> (122 - (d))) & 63 : ((lo) << ((d) - 122)) & 63) \
		       : (((hi) << ((d) - 58)) | ((lo) >> (122 - (d)))) & 63)

static __always_inline __u32 walk6(void *st, const __u32 *a)
{
	__u64 hi = (__u64)bpf_ntohl(a[0]) << 32 | bpf_ntohl(a[1]);
	__u64 lo = (__u64)bpf_ntohl(a[2]) << 32 | bpf_ntohl(a[3]);
	__u32 e = word(st, ST_V6_DIRECT * 8 + (hi >> (64 - ST_DIRECT_BITS)));
	/* Written out: clang will not unroll the loop form, and constant
	 * depths let chunk6 fold to one shift and mask per level. */
#define LEVEL(i)                                                      \
	if (!(e & ST_NODE))                                           \
		return e;                                             \
	e = step(st, e, chunk6(hi, lo, ST_DIRECT_BITS + 6 * (i)));
	LEVEL(0) LEVEL(1) LEVEL(2) LEVEL(3) LEVEL(4) LEVEL(5) LEVEL(6)
	LEVEL(7) LEVEL(8) LEVEL(9) LEVEL(10) LEVEL(11) LEVEL(12) LEVEL(13)
	LEVEL(14) LEVEL(15) LEVEL(16) LEVEL(17) LEVEL(18)
#undef LEVEL
	_Static_assert(ST_V6_LEVELS == 19, "LEVEL list must cover every IPv6 level");
	return e;
}

/* source_class finds what the table st says about the packet's source. */
static __always_inline struct st_class *source_class(void *st, struct pkt *p)
{
	if (!st)
		return 0;
	__u32 cid;
	/* An IPv4-mapped IPv6 source is judged as the IPv4 address it names. */
	if (p->v6 && !(p->src[0] == 0 && p->src[1] == 0 && p->src[2] == bpf_htonl(0xffff)))
		cid = walk6(st, p->src);
	else
		cid = walk4(st, bpf_ntohl(p->v6 ? p->src[3] : p->src[0]));
	if (cid & ST_NODE)
		return 0; /* a broken table: treat the source as unknown */
	__u32 key = ST_CLASS_BASE + cid / ST_CLASSES_PER_CELL;
	struct st_cell *c = bpf_map_lookup_elem(st, &key);
	if (!c)
		return 0;
	return (struct st_class *)((void *)c + (cid % ST_CLASSES_PER_CELL) * sizeof(struct st_class));
}

static __always_inline void count(__u32 svc, __u32 verdict, __u32 reason, __u64 bytes)
{
	__u32 key = (svc * VERDICT_MAX + verdict) * REASON_MAX + reason;
	struct counter *c = bpf_map_lookup_elem(&stats, &key);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int drop(__u32 svc, __u32 reason, __u32 country, __u64 bytes)
{
	count(svc, VERDICT_DROP, reason, bytes);
	struct counter *c = bpf_map_lookup_elem(&country_drops, &country);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
	return XDP_DROP;
}

SEC("xdp")
int enforcer_xdp(struct xdp_md *ctx)
{
	struct pkt p = {};
	__u64 bytes = ctx->data_end - ctx->data;

	switch (parse(ctx, &p)) {
	case P_PASS:
		return XDP_PASS;
	case P_LATER:
		/* Later fragments carry no ports; the stack drops orphans whose
		 * first fragment we dropped. */
		count(0, VERDICT_PASS, REASON_FRAGMENT, bytes);
		return XDP_PASS;
	case P_TINY:
		/* DROP: a first fragment too short for the ports could hide the
		 * destination port from us (RFC 1858 sec. 3.1). */
		count(0, VERDICT_DROP, REASON_FRAGMENT, bytes);
		return XDP_DROP;
	case P_MALFORMED:
		/* DROP: TCP/UDP whose headers cannot be followed to the ports
		 * cannot be judged, and the stack would reject it anyway; a frame
		 * with more VLAN tags than we parse cannot be judged either. */
		count(0, VERDICT_DROP, REASON_MALFORMED, bytes);
		return XDP_DROP;
	}

	/* The live source table, and with it the generation of the service
	 * tables: one lookup, so ports, services and sources are judged by one
	 * configuration even while a reload switches to the next. */
	__u32 zero = 0;
	void *st = bpf_map_lookup_elem(&source_tables, &zero);
	__u32 gen = generation(st);
	__u32 svc = service_of(&p, gen);
	if (!svc)
		return XDP_PASS;
	if (!p.l4ok) {
		/* DROP: a protected service's packet with a broken L4 header. */
		count(svc, VERDICT_DROP, REASON_MALFORMED, bytes);
		return XDP_DROP;
	}

	struct st_class *cls = source_class(st, &p);
	__u32 country = 0;
	if (cls) {
		country = cls->country;
		if (country >= MAX_COUNTRIES)
			country = 0;
		/* DROP: the operator denied this source outright. */
		if (cls->deny)
			return drop(svc, REASON_DENY, country, bytes);
		if ((cls->allow >> svc) & 1) {
			count(svc, VERDICT_PASS, REASON_ALLOWLIST, bytes);
			return XDP_PASS;
		}
	}
	__u32 skey = gen * MAX_SERVICES + svc;
	struct service *s = bpf_map_lookup_elem(&services, &skey);
	/* DROP: not allowlisted, and the service admits no countries. */
	if (!s || !(s->flags & SVC_F_GEOFENCED))
		return drop(svc, REASON_NOT_IN_SET, country, bytes);
	/* DROP: a geofenced service cannot place this source. */
	if (country == 0)
		return drop(svc, REASON_NO_COUNTRY, 0, bytes);
	if ((s->countries[country / 64] >> (country % 64)) & 1) { /* country < 677: word <= 10 */
		count(svc, VERDICT_PASS, REASON_COUNTRY, bytes);
		return XDP_PASS;
	}
	/* DROP: the source's country is not in the service's set. */
	return drop(svc, REASON_NOT_IN_SET, country, bytes);
}

/* enforcer_floor parses exactly as enforcer_xdp does and decides nothing:
 * the benchmark's baseline for what the lookups add. */
SEC("xdp")
int enforcer_floor(struct xdp_md *ctx)
{
	struct pkt p = {};
	int r = parse(ctx, &p);
	/* Use the parse result so the compiler keeps all of it. */
	return r == P_L4 && p.dport == 0 && p.src[0] == 1 ? XDP_DROP : XDP_PASS;
}
