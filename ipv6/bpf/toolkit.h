// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * What the toolkit's eBPF programs share: the section and inline markers, the
 * legacy map definition its loader reads (ipv6/_bpfelf.py), the helpers, the
 * IPv4 header checksum. No libbpf: the helpers are declared by their numbers
 * from linux/bpf.h.
 */
#ifndef TOOLKIT_BPF_H
#define TOOLKIT_BPF_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

#define ETH_P_IP_BE 0x0008   /* htons(0x0800) on a little-endian machine */
#define ETH_P_IPV6_BE 0xDD86 /* htons(0x86DD) */

struct map_def {
	__u32 type, key_size, value_size, max_entries, flags;
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)BPF_FUNC_skb_pull_data;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;

/* The Internet checksum of a 20-byte IPv4 header (its checksum field zero). */
INLINE __u16 header_checksum(__u8 *h)
{
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < 20; i += 2)
		sum += (h[i] << 8) | h[i + 1];
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return ~sum & 0xFFFF;
}

#endif
