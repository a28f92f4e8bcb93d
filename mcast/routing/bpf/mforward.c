// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Multicast forwarding in the kernel, for kernels without multicast routing:
 * the userspace plane's routes (mcast/routing/_mforward.py, Forwarder) carried
 * by two programs that decide alike.
 *
 * "tc/mforward" runs on the ingress of each Ethernet interface the routes name.
 * It takes a datagram whose (S,G) entry, or (*,G) entry with the arrival
 * interface among its interfaces, is in "routes", and does with it what the
 * Forwarder does:
 * - the entry counts it (packets and bytes, before the RPF check);
 * - from another interface than the entry's inbound one: wrong_interface;
 * - an entry that forwards nowhere, or a TTL (hop limit) of 1 or 0: dropped;
 * - a copy out of each outbound interface whose threshold the TTL exceeds,
 *   never back where a (*,G) datagram came from, none bigger than the
 *   interface's MTU, each with the TTL one less (the IPv4 header checksum
 *   updated), the link padding cut, the group's Ethernet address as the
 *   destination and the outbound interface's own as the source, sent by
 *   bpf_clone_redirect.
 * The datagram itself goes on untouched (its TTL and Ethernet header put
 * back) to the host's own stack, as the kernel's multicast routing delivers a
 * routed datagram to the host's members too.
 *
 * "socket/mforward" is the userspace plane's packet socket filter: it passes
 * routable multicast that arrived on an interface with a slot, except what
 * tc/mforward took (the same lookup, on the same bytes), and, where the
 * plane filters by group, except groups with no entry. So a datagram is
 * either the kernel's or Python's, never both.
 *
 * Everything else is left, untouched, to the userspace plane, which counts it
 * by reason: IPv4 options, a bad header checksum, lengths that disagree, bad
 * sources, link-scoped groups, no entry (a miss: the proxy's upcall), and
 * entries with a non-Ethernet interface (the plane keeps those to itself).
 *
 * Build: scripts/bpf-build.
 */
#include "toolkit.h"

static long (*bpf_skb_load_bytes)(const void *skb, __u32 off, void *to, __u32 len) =
	(void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 off, const void *from, __u32 len,
				   __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 off, __u64 from, __u64 to,
				   __u64 size) = (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_clone_redirect)(struct __sk_buff *skb, __u32 ifindex, __u64 flags) =
	(void *)BPF_FUNC_clone_redirect;
static long (*bpf_skb_change_tail)(struct __sk_buff *skb, __u32 len, __u64 flags) =
	(void *)BPF_FUNC_skb_change_tail;

#define MAX_OUT 32 /* MAXVIFS: the kernel's multicast routing has no more */

struct config {
	__u32 family;	     /* 4 or 6: the plane's */
	__u32 filter_groups; /* the socket filter passes only groups with an entry */
};

struct key {
	__u8 source[16]; /* zero for (*,G); an IPv4 address in the first four bytes */
	__u8 group[16];
};

struct out {
	__u32 ifindex;
	__u32 threshold; /* the TTL must exceed it */
};

struct route {
	__u32 parent; /* the inbound interface's index */
	__u32 count;  /* outbound interfaces */
	struct out out[MAX_OUT];
};

struct stats { /* per CPU, per entry: what /proc/net/ip_mr_cache counts */
	__u64 packets, bytes, wrong_interface;
};

struct port {
	__u32 mtu;
	__u8 mac[6];
	__u8 attached; /* tc/mforward runs on its ingress */
	__u8 pad;
};

enum counter { /* the Forwarder's names, in mcast/routing/_ebpfplane.py */
	TAKEN,
	FORWARDED,
	COPIES,
	WRONG_INTERFACE,
	NO_OUTBOUND,
	TTL_EXPIRED,
	BELOW_THRESHOLD,
	TOO_BIG,
	CLONE_FAILED,
	REWRITE_FAILED,
	COUNTERS,
};

struct map_def config SEC("maps") = {BPF_MAP_TYPE_ARRAY, 4, sizeof(struct config), 1, 0};
struct map_def routes SEC("maps") = {BPF_MAP_TYPE_HASH, sizeof(struct key), sizeof(struct route),
				     4096, 0};
struct map_def stats SEC("maps") = {BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct key),
				    sizeof(struct stats), 4096, 0};
struct map_def groups SEC("maps") = {BPF_MAP_TYPE_HASH, 16, 4, 4096, 0};
struct map_def ports SEC("maps") = {BPF_MAP_TYPE_HASH, 4, sizeof(struct port), 256, 0};
struct map_def counters SEC("maps") = {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, COUNTERS, 0};

/* One datagram's copies, sent and too big, tallied where the verifier does not
 * follow each count as its own state (on the stack, 32 outbound interfaces
 * with their branches would be more states than it walks). */
struct tally {
	__u32 sent, too_big;
};
struct map_def tally SEC("maps") = {BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct tally), 1, 0};

INLINE void count(__u32 which, __u64 by)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);
	if (value)
		*value += by;
}

/* One datagram as both programs read it. */
struct datagram {
	struct key key;
	__u32 length; /* the IP datagram's, its header included */
	__u32 ttl;
	__u32 star;
	__u32 pad;
	struct route *route;
};

/* The header at offset L: the datagram's group and source (key), length and
 * TTL; 1 when it is routable multicast and well formed as this program takes
 * it, 0 when it is the userspace plane's to judge. */
INLINE int parse(struct __sk_buff *skb, __u32 L, __u32 family, struct datagram *d)
{
	__u8 h[40];
	__u32 room = skb->len - L;
	__builtin_memset(&d->key, 0, sizeof(d->key));
	if (skb->len < L)
		return 0;
	if (family == 4) {
		if (bpf_skb_load_bytes(skb, L, h, 20) < 0)
			return 0;
		if (h[0] != 0x45 || header_checksum(h) != 0)
			return 0; /* options, another version, a bad checksum */
		d->length = (h[2] << 8) | h[3];
		if (d->length < 20 || d->length > room)
			return 0;
		d->ttl = h[8];
		__builtin_memcpy(d->key.source, h + 12, 4);
		__builtin_memcpy(d->key.group, h + 16, 4);
		__u8 *s = d->key.source, *g = d->key.group;
		if (g[0] >> 4 != 0xE || (g[0] == 224 && g[1] == 0 && g[2] == 0))
			return 0; /* not multicast, or link-local 224.0.0.0/24 */
		if (s[0] == 0 || s[0] == 127 || s[0] >> 4 == 0xE ||
		    (s[0] == 255 && s[1] == 255 && s[2] == 255 && s[3] == 255))
			return 0;
		return 1;
	}
	if (bpf_skb_load_bytes(skb, L, h, 40) < 0)
		return 0;
	if (h[0] >> 4 != 6)
		return 0;
	d->length = 40 + ((h[4] << 8) | h[5]);
	if (d->length > room)
		return 0;
	d->ttl = h[7];
	__builtin_memcpy(d->key.source, h + 8, 16);
	__builtin_memcpy(d->key.group, h + 24, 16);
	__u8 *s = d->key.source, *g = d->key.group;
	if (g[0] != 0xFF || (g[1] & 0x0F) <= 2)
		return 0; /* not multicast, or link scope or narrower */
	if (s[0] == 0xFF)
		return 0;
	__u64 high, low;
	__builtin_memcpy(&high, s, 8);
	__builtin_memcpy(&low, s + 8, 8);
	if (high == 0 && (low == 0 || low == 0x0100000000000000ULL))
		return 0; /* :: or ::1 (the low word as a little-endian load reads it) */
	return 1;
}

INLINE int member(struct route *r, __u32 index)
{
	if (r->parent == index)
		return 1;
	for (int i = 0; i < MAX_OUT; i++) {
		if (i >= r->count)
			break;
		if (r->out[i].ifindex == index)
			return 1;
	}
	return 0;
}

/* Whether tc/mforward takes the datagram at L that arrived on ``arrived``:
 * its entry, or 0 (and then it is the userspace plane's). */
INLINE int lookup(struct __sk_buff *skb, __u32 L, __u32 family, __u32 arrived, struct datagram *d)
{
	struct port *in = bpf_map_lookup_elem(&ports, &arrived);
	if (!in || !in->attached)
		return 0;
	if (!parse(skb, L, family, d))
		return 0;
	d->star = 0;
	d->route = bpf_map_lookup_elem(&routes, &d->key);
	if (d->route)
		return 1;
	struct key star = {};
	__builtin_memcpy(star.group, d->key.group, 16);
	d->route = bpf_map_lookup_elem(&routes, &star);
	if (!d->route || !member(d->route, arrived))
		return 0;
	d->star = 1;
	__builtin_memset(d->key.source, 0, 16);
	return 1;
}

INLINE void multicast_mac(__u32 family, __u8 *group, __u8 *mac)
{
	if (family == 4) {
		mac[0] = 0x01, mac[1] = 0x00, mac[2] = 0x5E;
		mac[3] = group[1] & 0x7F, mac[4] = group[2], mac[5] = group[3];
	} else {
		mac[0] = 0x33, mac[1] = 0x33;
		__builtin_memcpy(mac + 2, group + 12, 4);
	}
}

SEC("tc/mforward")
int tc_mforward(struct __sk_buff *skb)
{
	const __u32 L = 14;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_UNSPEC;
	__u32 family = cfg->family;
	if (skb->protocol != (family == 4 ? ETH_P_IP_BE : ETH_P_IPV6_BE))
		return TC_ACT_UNSPEC;
	struct datagram d;
	__u32 arrived = skb->ifindex;
	if (!lookup(skb, L, family, arrived, &d))
		return TC_ACT_UNSPEC;
	struct route *r = d.route;
	count(TAKEN, 1);
	struct stats *st = bpf_map_lookup_elem(&stats, &d.key);
	if (st) {
		st->packets += 1;
		st->bytes += d.length;
	}
	if (arrived != r->parent) {
		if (st)
			st->wrong_interface += 1;
		count(WRONG_INTERFACE, 1);
		return TC_ACT_UNSPEC;
	}
	if (r->count == 0) {
		count(NO_OUTBOUND, 1);
		return TC_ACT_UNSPEC;
	}
	if (d.ttl <= 1) {
		count(TTL_EXPIRED, 1);
		return TC_ACT_UNSPEC;
	}
	/* What goes out of each interface, then what is put back. */
	__u8 header[12];
	if (bpf_skb_load_bytes(skb, 0, header, 12) < 0)
		return TC_ACT_UNSPEC;
	if (skb->len > L + d.length && bpf_skb_change_tail(skb, L + d.length, 0) < 0) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_UNSPEC;
	}
	__u32 at = family == 4 ? L + 8 : L + 7;
	__u8 ttl = d.ttl - 1;
	__u16 word = 0, less = 0; /* IPv4: the TTL's header word, before and after */
	if (family == 4) {
		__u8 pair[2];
		if (bpf_skb_load_bytes(skb, at, pair, 2) < 0)
			return TC_ACT_UNSPEC;
		__builtin_memcpy(&word, pair, 2);
		pair[0] = ttl;
		__builtin_memcpy(&less, pair, 2);
	}
	/* A datagram whose checksum the NIC summed (CHECKSUM_COMPLETE) keeps its sum
	 * right: IPv4's header checksum makes up for its TTL, and IPv6's hop limit
	 * is taken out of and put back into the sum (BPF_F_RECOMPUTE_CSUM; the
	 * Ethernet header is outside it). */
	__u64 resum = family == 6 ? BPF_F_RECOMPUTE_CSUM : 0;
	__u8 mac[12];
	multicast_mac(family, d.key.group, mac);
	if (bpf_skb_store_bytes(skb, at, &ttl, 1, resum) < 0 ||
	    bpf_skb_store_bytes(skb, 0, mac, 6, 0) < 0 ||
	    (family == 4 && bpf_l3_csum_replace(skb, L + 10, word, less, 2) < 0)) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_UNSPEC;
	}
	struct tally *t = bpf_map_lookup_elem(&tally, &zero);
	if (!t)
		return TC_ACT_UNSPEC;
	t->sent = 0;
	t->too_big = 0;
	for (int i = 0; i < MAX_OUT; i++) {
		if (i >= r->count)
			break;
		__u32 index = r->out[i].ifindex;
		if ((d.star && index == arrived) || d.ttl <= r->out[i].threshold)
			continue;
		struct port *p = bpf_map_lookup_elem(&ports, &index);
		if (!p)
			continue;
		if (d.length > p->mtu) {
			t->too_big += 1;
			continue;
		}
		if (bpf_skb_store_bytes(skb, 6, p->mac, 6, 0) < 0 ||
		    bpf_clone_redirect(skb, index, 0) < 0) {
			count(CLONE_FAILED, 1);
			continue;
		}
		t->sent += 1;
	}
	if (t->too_big)
		count(TOO_BIG, t->too_big);
	if (t->sent) {
		count(FORWARDED, 1);
		count(COPIES, t->sent);
	} else if (!t->too_big) {
		count(BELOW_THRESHOLD, 1);
	}
	/* The host's own stack gets the datagram as it came. */
	if (bpf_skb_store_bytes(skb, at, &d.ttl, 1, resum) < 0 ||
	    bpf_skb_store_bytes(skb, 0, header, 12, 0) < 0 ||
	    (family == 4 && bpf_l3_csum_replace(skb, L + 10, less, word, 2) < 0))
		count(REWRITE_FAILED, 1);
	return TC_ACT_UNSPEC;
}

SEC("socket/mforward")
int socket_mforward(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return 0;
	__u32 arrived = skb->ifindex;
	struct port *in = bpf_map_lookup_elem(&ports, &arrived);
	if (!in)
		return 0; /* no slot on it */
	struct datagram d;
	if (lookup(skb, 0, cfg->family, arrived, &d))
		return 0; /* tc/mforward's */
	/* The rest is the plane's if it is for a routable group (and, where the
	 * plane filters by group, a group with an entry): as the classic filter
	 * it replaces, whatever else the header holds. */
	__u8 group[16] = {};
	if (cfg->family == 4) {
		if (bpf_skb_load_bytes(skb, 16, group, 4) < 0)
			return 0;
		if (group[0] >> 4 != 0xE || (group[0] == 224 && group[1] == 0 && group[2] == 0))
			return 0;
	} else {
		if (bpf_skb_load_bytes(skb, 24, group, 16) < 0)
			return 0;
		if (group[0] != 0xFF || (group[1] & 0x0F) <= 2)
			return 0;
	}
	if (cfg->filter_groups && !bpf_map_lookup_elem(&groups, group))
		return 0;
	return skb->len;
}

char _license[] SEC("license") = "GPL";
