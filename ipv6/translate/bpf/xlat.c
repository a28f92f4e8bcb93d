// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The translator's kernel fast path: a tc (SCHED_CLS, direct-action) program
 * on the egress of the translator's TUN device. What the kernel routes into
 * the device meets it first; a TCP or UDP packet of a flow that the userspace
 * plane has translated before (a "remembered flow", ipv6/translate/_fastpath.py)
 * is translated here and put back into the device's ingress, where the kernel
 * routes it on, as the userspace plane does when it writes a packet back.
 * Everything else (a flow's first packet, SYN, FIN, RST, ICMP, fragments,
 * options, extension headers, TTL or hop limit at 1, a packet too big for the
 * IPv6 side) goes on to the device, where the userspace plane reads it.
 *
 * ipv6/translate/_fastpath.py is the reference: for the same remembered flow
 * and the same packet, this program gives the same bytes or leaves the packet
 * to the userspace plane exactly where the reference gives None
 * (tests/translate/test_ebpf_differential.py holds both to that).
 *
 * Maps are the legacy "maps" section (struct map_def): the toolkit's loader
 * (ipv6/_bpfelf.py, ipv6/_bpf.py) reads them; no libbpf at run time.
 * Two programs from one function: "tc/l3" for the TUN device (no link-layer
 * header) and "tc/eth" for an Ethernet frame (BPF_PROG_TEST_RUN's framing).
 *
 * Build: scripts/bpf-build.
 */
#include "toolkit.h"

static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_skb_change_proto)(struct __sk_buff *skb, __be16 proto, __u64 flags) =
	(void *)BPF_FUNC_skb_change_proto;
static long (*bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 off, __u64 from, __u64 to,
				   __u64 flags) = (void *)BPF_FUNC_l4_csum_replace;
static __s64 (*bpf_csum_diff)(void *from, __u32 from_size, void *to, __u32 to_size, __u32 seed) =
	(void *)BPF_FUNC_csum_diff;

struct config {
	__u32 ifindex; /* the TUN device: where a translated packet goes in */
	__u32 mtu6;    /* the lowest IPv6 MTU */
	__u32 mtu;     /* the next hop's (the device's) */
	__u32 pad;
};

struct key6 { /* an IPv6 packet's flow: protocol, source, destination, ports */
	__u8 proto, pad[3];
	__u8 addrs[36];
};

struct key4 { /* an IPv4 packet's flow */
	__u8 proto, pad[3];
	__u8 addrs[12];
};

struct entry4 { /* what an IPv6 flow's packets become */
	__u8 src[4], dst[4], ports[4], pad[4];
	__u64 last_ns, packets, bytes; /* last_ns: bpf_ktime_get_ns of its last packet */
};

struct entry6 { /* what an IPv4 flow's packets become */
	__u8 src[16], dst[16], ports[4], pad[4];
	__u64 last_ns, packets, bytes;
};

enum counter {
	TO_IPV4_PACKETS,
	TO_IPV4_BYTES,
	TO_IPV6_PACKETS,
	TO_IPV6_BYTES,
	TO_USERSPACE,	  /* left to the userspace plane */
	CHANGE_REFUSED,	  /* bpf_skb_change_proto refused: left to the userspace plane */
	REWRITE_FAILED,	  /* a write failed after the change: dropped */
	COUNTERS,
};

struct map_def config SEC("maps") = {BPF_MAP_TYPE_ARRAY, 4, sizeof(struct config), 1, 0};
struct map_def flows4 SEC("maps") = {BPF_MAP_TYPE_HASH, sizeof(struct key6), sizeof(struct entry4),
				     65536, 0};
struct map_def flows6 SEC("maps") = {BPF_MAP_TYPE_HASH, sizeof(struct key4), sizeof(struct entry6),
				     65536, 0};
struct map_def counters SEC("maps") = {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, COUNTERS, 0};
struct map_def ident SEC("maps") = {BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0};

#define TCP 6
#define UDP 17
#define DF 0x4000
#define DF_LIMIT 1260

INLINE void count(__u32 which, __u64 by)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);
	if (value)
		*value += by;
}

INLINE int to_userspace(void)
{
	count(TO_USERSPACE, 1);
	return TC_ACT_OK;
}

/* The transport checksum of a translated packet: the pseudo-header's change
 * (addresses) and the ports' change, each as the kernel does it for the
 * checksum state the packet is in (a checksum still to be completed by the
 * device, CHECKSUM_PARTIAL, takes only the first), then 0 read as its other
 * form, 0xFFFF, which is what the reference's arithmetic gives. */
INLINE int fix_l4(struct __sk_buff *skb, __u32 off, __s64 addrs, __s64 ports)
{
	if (bpf_l4_csum_replace(skb, off, 0, addrs, BPF_F_PSEUDO_HDR))
		return -1;
	if (ports && bpf_l4_csum_replace(skb, off, 0, ports, 0))
		return -1;
	return 0;
}

/* The packet again after a helper changed it: NULL (counted) if it lost the
 * bytes the rewrite needs (UDP's and TCP's headers). */
INLINE __u8 *reload(struct __sk_buff *skb, const __u32 L, __u8 nh, const __u32 udp_need,
		    const __u32 tcp_need)
{
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data + L;
	if (p + udp_need > end || (nh == TCP && p + tcp_need > end)) {
		count(REWRITE_FAILED, 1);
		return 0;
	}
	return p;
}

INLINE __u32 segment(struct __sk_buff *skb, __u32 headers, __u32 size)
{
	/* A GSO packet leaves as segments of gso_size: what each will be. */
	if (skb->gso_segs > 1 && skb->gso_size && headers + skb->gso_size < size)
		return headers + skb->gso_size;
	return size;
}

INLINE int to4(struct __sk_buff *skb, const __u32 L, struct config *cfg)
{
	__u32 size = skb->len - L;
	if (size < 48)
		return to_userspace();
	bpf_skb_pull_data(skb, L + (size < 60 ? size : 60));
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data + L;
	if (p + 48 > end)
		return to_userspace();
	__u8 nh = p[6], hop = p[7];
	__u32 where, headers;
	if (nh == TCP) {
		if (size < 60 || p + 60 > end || p[53] & 0x07)
			return to_userspace();
		where = 36;
		headers = 20 + (p[52] >> 4) * 4;
	} else if (nh == UDP) {
		where = 26;
		headers = 28;
	} else {
		return to_userspace();
	}
	if (p[0] >> 4 != 6 || hop <= 1 || 40 + ((p[4] << 8) | p[5]) != size)
		return to_userspace();
	struct key6 key = {.proto = nh};
	__builtin_memcpy(key.addrs, p + 8, 36);
	struct entry4 *e = bpf_map_lookup_elem(&flows4, &key);
	if (!e)
		return to_userspace();
	__u16 old = (p[where + 20] << 8) | p[where + 21];
	if (nh == UDP && old == 0)
		return to_userspace();
	__u8 tclass = ((p[0] & 0x0F) << 4) | (p[1] >> 4);
	/* The checksum's changes: the addresses (pseudo-header) and the ports. */
	__u32 from_addrs[8], to_addrs[2], from_ports, to_ports;
	__builtin_memcpy(from_addrs, p + 8, 32);
	__builtin_memcpy(to_addrs, e->src, 4);
	__builtin_memcpy(to_addrs + 1, e->dst, 4);
	__builtin_memcpy(&from_ports, p + 40, 4);
	__builtin_memcpy(&to_ports, e->ports, 4);
	__s64 addrs = bpf_csum_diff(from_addrs, 32, to_addrs, 8, 0);
	__s64 ports = from_ports == to_ports ? 0 : bpf_csum_diff(&from_ports, 4, &to_ports, 4, 0);
	__u32 total = size - 20;
	__u16 flags = segment(skb, headers, total) > DF_LIMIT ? DF : 0;
	__u32 zero = 0;
	__u32 *counter = bpf_map_lookup_elem(&ident, &zero);
	if (!counter)
		return to_userspace();
	if (bpf_skb_change_proto(skb, ETH_P_IP_BE, 0)) {
		count(CHANGE_REFUSED, 1);
		return to_userspace();
	}
	__u16 id = (__sync_fetch_and_add(counter, 1) + 1) & 0xFFFF;
	e->last_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, size);
	p = reload(skb, L, nh, 28, 40);
	if (!p)
		return TC_ACT_SHOT;
	if (L >= 2)
		*(__u16 *)(p - 2) = ETH_P_IP_BE;
	p[0] = 0x45;
	p[1] = tclass;
	p[2] = total >> 8;
	p[3] = total & 0xFF;
	p[4] = id >> 8;
	p[5] = id & 0xFF;
	p[6] = flags >> 8;
	p[7] = 0;
	p[8] = hop - 1;
	p[9] = nh;
	p[10] = p[11] = 0;
	__builtin_memcpy(p + 12, e->src, 4);
	__builtin_memcpy(p + 16, e->dst, 4);
	__builtin_memcpy(p + 20, e->ports, 4);
	__u16 header = header_checksum(p);
	p[10] = header >> 8;
	p[11] = header & 0xFF;
	if (fix_l4(skb, L + where, addrs, ports)) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	p = reload(skb, L, nh, 28, 40);
	if (!p)
		return TC_ACT_SHOT;
	if (p[where] == 0 && p[where + 1] == 0)
		p[where] = p[where + 1] = 0xFF;
	count(TO_IPV4_PACKETS, 1);
	count(TO_IPV4_BYTES, size);
	return bpf_redirect(cfg->ifindex, BPF_F_INGRESS);
}

INLINE int to6(struct __sk_buff *skb, const __u32 L, struct config *cfg)
{
	__u32 size = skb->len - L;
	if (size < 28)
		return to_userspace();
	bpf_skb_pull_data(skb, L + (size < 40 ? size : 40));
	__u8 *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data + L;
	if (p + 28 > end)
		return to_userspace();
	if (p[0] != 0x45 || p[8] <= 1 || p[6] & 0x3F || p[7])
		return to_userspace();
	__u8 nh = p[9];
	__u32 where, headers;
	if (nh == TCP) {
		if (size < 40 || p + 40 > end || p[33] & 0x07)
			return to_userspace();
		where = 36;
		headers = 20 + (p[32] >> 4) * 4;
	} else if (nh == UDP) {
		where = 26;
		headers = 28;
	} else {
		return to_userspace();
	}
	if (((p[2] << 8) | p[3]) != size)
		return to_userspace();
	__u32 each = segment(skb, headers, size);
	if (each + 20 > cfg->mtu6 && (each + 20 > cfg->mtu || !(p[6] & 0x40)))
		return to_userspace();
	struct key4 key = {.proto = nh};
	__builtin_memcpy(key.addrs, p + 12, 12);
	struct entry6 *e = bpf_map_lookup_elem(&flows6, &key);
	if (!e)
		return to_userspace();
	__u16 old = (p[where] << 8) | p[where + 1];
	if (nh == UDP && old == 0)
		return to_userspace();
	__u8 tos = p[1], ttl = p[8];
	__u32 from_addrs[2], to_addrs[8], from_ports, to_ports;
	__builtin_memcpy(from_addrs, p + 12, 8);
	__builtin_memcpy(to_addrs, e->src, 32);
	__builtin_memcpy(&from_ports, p + 20, 4);
	__builtin_memcpy(&to_ports, e->ports, 4);
	__s64 addrs = bpf_csum_diff(from_addrs, 8, to_addrs, 32, 0);
	__s64 ports = from_ports == to_ports ? 0 : bpf_csum_diff(&from_ports, 4, &to_ports, 4, 0);
	if (bpf_skb_change_proto(skb, ETH_P_IPV6_BE, 0)) {
		count(CHANGE_REFUSED, 1);
		return to_userspace();
	}
	e->last_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, size);
	p = reload(skb, L, nh, 48, 60);
	if (!p)
		return TC_ACT_SHOT;
	if (L >= 2)
		*(__u16 *)(p - 2) = ETH_P_IPV6_BE;
	__u32 plen = size - 20;
	p[0] = 0x60 | (tos >> 4);
	p[1] = (tos & 0x0F) << 4;
	p[2] = p[3] = 0;
	p[4] = plen >> 8;
	p[5] = plen & 0xFF;
	p[6] = nh;
	p[7] = ttl - 1;
	__builtin_memcpy(p + 8, e->src, 32);
	__builtin_memcpy(p + 40, e->ports, 4);
	if (fix_l4(skb, L + where + 20, addrs, ports)) {
		count(REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	p = reload(skb, L, nh, 48, 60);
	if (!p)
		return TC_ACT_SHOT;
	if (p[where + 20] == 0 && p[where + 21] == 0)
		p[where + 20] = p[where + 21] = 0xFF;
	count(TO_IPV6_PACKETS, 1);
	count(TO_IPV6_BYTES, size);
	return bpf_redirect(cfg->ifindex, BPF_F_INGRESS);
}

INLINE int translate(struct __sk_buff *skb, const __u32 L)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->ifindex)
		return to_userspace();
	if (skb->protocol == ETH_P_IPV6_BE)
		return to4(skb, L, cfg);
	if (skb->protocol == ETH_P_IP_BE)
		return to6(skb, L, cfg);
	return to_userspace();
}

SEC("tc/l3")
int xlat_l3(struct __sk_buff *skb)
{
	return translate(skb, 0);
}

SEC("tc/eth")
int xlat_eth(struct __sk_buff *skb)
{
	return translate(skb, 14);
}

char _license[] SEC("license") = "Dual MIT/GPL";
