// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The tunnels' kernel fast path (6to4, 6in4, 6rd): two tc programs beside the
 * userspace plane, which still makes every decision.
 *
 * "tc/encap" runs on the egress of the tunnel's TUN device. An IPv6 packet
 * whose address pair the userspace plane has already checked and sent
 * (ipv6/tunnel/_rules.py, Flows: "remembered") gets its IPv4 header here
 * and leaves by the IPv4 route's device (bpf_fib_lookup, bpf_redirect_neigh),
 * as the userspace plane's raw socket would send it. The route is looked up as
 * for a packet that came in on the tunnel's device, whose IPv4 forwarding the
 * plane turns on (its own device: nothing else changes); no route, and the
 * packet is the plane's.
 *
 * "tc/decap" runs on the ingress of the interface that holds the tunnel's
 * IPv4 address. A protocol-41 packet whose outer and inner addresses the
 * userspace plane has already checked and delivered loses its IPv4 header
 * here and goes into the tunnel's device.
 *
 * Everything else goes on, untouched, to the userspace plane:
 * - a pair not remembered;
 * - a packet too big for the tunnel (the plane answers it);
 * - outer options or fragments;
 * - lengths that disagree;
 * - a route the kernel cannot find.
 * Python's Flows is the reference:
 * tests/ipv6/test_ebpf_tunnel_differential.py holds the program to it, packet
 * by packet.
 *
 * "tc/encap_eth" is tc/encap on an Ethernet frame: BPF_PROG_TEST_RUN's framing.
 *
 * Build: scripts/bpf-build.
 */
#include "toolkit.h"

static long (*bpf_skb_adjust_room)(struct __sk_buff *skb, __s32 len_diff, __u32 mode,
				   __u64 flags) = (void *)BPF_FUNC_skb_adjust_room;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) =
	(void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect_neigh)(__u32 ifindex, void *params, int plen, __u64 flags) =
	(void *)BPF_FUNC_redirect_neigh;
static long (*bpf_skb_change_head)(struct __sk_buff *skb, __u32 len, __u64 flags) =
	(void *)BPF_FUNC_skb_change_head;

/* Kernel 6.3's flags (the build's headers may be older). */
#define ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

struct config {
	__u8 local[4]; /* the tunnel's IPv4 address */
	__u32 mtu;     /* the tunnel's: a bigger packet is the userspace plane's */
	__u32 ttl;     /* the outer header's (the raw socket's default) */
	__u32 pad;
};

struct out_key { /* an IPv6 packet's source and destination */
	__u8 pair[32];
};

struct out_entry {
	__u8 dst[4]; /* where it goes: the IPv4 address Flows gave */
	__u8 pad[4];
	__u64 packets, bytes;
};

struct in_key { /* a protocol-41 packet: outer source, destination, inner pair */
	__u8 src[4], dst[4];
	__u8 pair[32];
};

struct in_entry {
	__u32 ifindex; /* the tunnel's device */
	__u32 pad;
	__u64 packets, bytes;
};

enum counter {
	ENCAPSULATED_PACKETS,
	ENCAPSULATED_BYTES,
	DECAPSULATED_PACKETS,
	DECAPSULATED_BYTES,
	TO_USERSPACE,	/* left to the userspace plane */
	NO_ROUTE,	/* the IPv4 route lookup failed: left to the userspace plane */
	ROOM_REFUSED,	/* bpf_skb_adjust_room refused: left to the userspace plane */
	REWRITE_FAILED, /* the packet lost its bytes after the change: dropped */
	COUNTERS,
};

struct map_def config SEC("maps") = {BPF_MAP_TYPE_ARRAY, 4, sizeof(struct config), 1, 0};
struct map_def out4 SEC("maps") = {BPF_MAP_TYPE_HASH, sizeof(struct out_key),
				   sizeof(struct out_entry), 65536, 0};
struct map_def in6 SEC("maps") = {BPF_MAP_TYPE_HASH, sizeof(struct in_key),
				  sizeof(struct in_entry), 65536, 0};
struct map_def counters SEC("maps") = {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, COUNTERS, 0};
struct map_def ident SEC("maps") = {BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0};

#define PROTO_IPV6 41
#define PROTO_TCP 6
#define AF_INET 2

INLINE void count(__u32 which, __u64 by)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);
	if (value)
		*value += by;
}

INLINE int encap(struct __sk_buff *skb, const __u32 L)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->mtu)
		goto user;
	__u32 size = skb->len - L;
	if (skb->protocol != ETH_P_IPV6_BE || size < 40)
		goto user;
	bpf_skb_pull_data(skb, L + 40);
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data + L;
	if (p + 40 > end)
		goto user;
	if (p[0] >> 4 != 6 || 40 + ((p[4] << 8) | p[5]) != size)
		goto user;
	/* Too big for the tunnel: the plane answers it. A TCP GSO packet is the
	 * segments it will be cut into: each its headers and gso_size bytes. */
	if (size > cfg->mtu) {
		if (!(skb->gso_segs > 1 && skb->gso_size) || p[6] != PROTO_TCP)
			goto user;
		bpf_skb_pull_data(skb, L + 60);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		p = data + L;
		if (p + 60 > end || 40 + (p[52] >> 4) * 4 + skb->gso_size > cfg->mtu)
			goto user;
	}
	struct out_key key;
	__builtin_memcpy(key.pair, p + 8, 32);
	struct out_entry *e = bpf_map_lookup_elem(&out4, &key);
	if (!e)
		goto user;
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.l4_protocol = PROTO_IPV6;
	/* The route's MTU against what will go on the wire: a GSO packet's segments
	 * are at most the tunnel's MTU inside (checked above). */
	fib.tot_len = (size > cfg->mtu ? cfg->mtu : size) + 20;
	fib.ifindex = skb->ifindex; /* as if it came in there: IPv4 forwarding on for it */
	__builtin_memcpy(&fib.ipv4_src, cfg->local, 4);
	__builtin_memcpy(&fib.ipv4_dst, e->dst, 4);
	long found = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (found != BPF_FIB_LKUP_RET_SUCCESS && found != BPF_FIB_LKUP_RET_NO_NEIGH) {
		count(NO_ROUTE, 1);
		goto user;
	}
	__u32 out_ifindex = fib.ifindex;
	__u32 *counter = bpf_map_lookup_elem(&ident, &zero);
	if (!counter)
		goto user;
	if (bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO)) {
		count(ROOM_REFUSED, 1);
		goto user;
	}
	/* bpf_redirect_neigh wants a link-layer header to replace: the TUN device's
	 * packet gets room for one (the Ethernet frame of a test run has its own). */
	if (L == 0 && bpf_skb_change_head(skb, 14, 0)) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	__u16 id = (__sync_fetch_and_add(counter, 1) + 1) & 0xFFFF;
	__u32 total = size + 20;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	p = data + 14;
	if (p + 20 > end) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	*(__u16 *)(p - 2) = ETH_P_IP_BE; /* the rest of the header is the neighbour's to fill */
	p[0] = 0x45;
	p[1] = 0;
	p[2] = total >> 8;
	p[3] = total & 0xFF;
	p[4] = id >> 8;
	p[5] = id & 0xFF;
	p[6] = p[7] = 0; /* no DF: the raw socket's IP_PMTUDISC_DONT */
	p[8] = cfg->ttl;
	p[9] = PROTO_IPV6;
	p[10] = p[11] = 0;
	__builtin_memcpy(p + 12, cfg->local, 4);
	__builtin_memcpy(p + 16, e->dst, 4);
	__u16 header = header_checksum(p);
	p[10] = header >> 8;
	p[11] = header & 0xFF;
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, size);
	count(ENCAPSULATED_PACKETS, 1);
	count(ENCAPSULATED_BYTES, size);
	return bpf_redirect_neigh(out_ifindex, 0, 0, 0);
user:
	count(TO_USERSPACE, 1);
	return TC_ACT_OK;
}

SEC("tc/encap")
int tunnel_encap(struct __sk_buff *skb)
{
	return encap(skb, 0);
}

SEC("tc/encap_eth")
int tunnel_encap_eth(struct __sk_buff *skb)
{
	return encap(skb, 14);
}

SEC("tc/decap")
int tunnel_decap(struct __sk_buff *skb)
{
	const __u32 L = 14;
	if (skb->protocol != ETH_P_IP_BE)
		return TC_ACT_UNSPEC; /* not IPv4: the next filter's, or the stack's */
	__u32 size = skb->len - L;
	if (size < 60)
		return TC_ACT_UNSPEC;
	bpf_skb_pull_data(skb, L + 60);
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data + L;
	if (p + 60 > end || p[9] != PROTO_IPV6)
		return TC_ACT_UNSPEC;
	struct in_key key;
	__builtin_memcpy(key.src, p + 12, 4);
	__builtin_memcpy(key.dst, p + 16, 4);
	__builtin_memcpy(key.pair, p + 28, 32);
	struct in_entry *e = bpf_map_lookup_elem(&in6, &key);
	if (!e)
		goto user;
	/* No options, no fragment, lengths that agree: else the plane's. */
	__u8 *q = p + 20;
	if (p[0] != 0x45 || (p[6] & 0x3F) || p[7] || ((p[2] << 8) | p[3]) != size ||
	    q[0] >> 4 != 6 || 40 + ((q[4] << 8) | q[5]) != size - 20)
		goto user;
	if (bpf_skb_adjust_room(skb, -20, BPF_ADJ_ROOM_MAC, ADJ_ROOM_DECAP_L3_IPV6)) {
		count(ROOM_REFUSED, 1);
		goto user;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + L > end) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	*(__u16 *)(data + 12) = ETH_P_IPV6_BE;
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, size - 20);
	count(DECAPSULATED_PACKETS, 1);
	count(DECAPSULATED_BYTES, size - 20);
	return bpf_redirect(e->ifindex, BPF_F_INGRESS);
user:
	count(TO_USERSPACE, 1);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual MIT/GPL";
