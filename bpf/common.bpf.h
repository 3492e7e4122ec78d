/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared by every program in bpf/: the maps and settings they share (weak, so the
 * static linker keeps one copy), loss counting, and one parser of IP headers
 * over a packet snapshot so every signal reads addresses the same way.
 */
#ifndef PMTU_COMMON_BPF_H
#define PMTU_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_ICMPV6_ 58
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_PKT_TOOBIG 2
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define RTAX_MTU_IDX 1 /* RTAX_MTU - 1: dst metrics are stored from RTAX_LOCK on */
#define DST_METRICS_FLAGS 0x3UL

/* Written by native/ between open and load. */
const volatile struct pmtu_config pmtu_cfg __weak = {
	.size_report_min = 1280,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by native/ before load */
} events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMTU_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps") __weak;

static __always_inline void count_loss(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&losses, &which);

	if (n)
		*n += 1;
}

/* A record about to be filled: reserved ring buffer memory or a reused scratch copy, neither zeroed. */
static __always_inline struct pmtu_event *init_event(struct pmtu_event *ev, __u8 kind)
{
	/* Unused fields must read as 0 (the snapshot is bounded by snap_len). */
	__builtin_memset(ev, 0, offsetof(struct pmtu_event, snap));
	ev->kind = kind;
	ev->ts_ns = bpf_ktime_get_ns();
	return ev;
}

static __always_inline struct pmtu_event *reserve_event(__u8 kind)
{
	struct pmtu_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_loss(PMTU_LOSS_RINGBUF_FULL);
		return NULL;
	}
	return init_event(ev, kind);
}

static __always_inline __u16 rd16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

#define VXLAN_PORT 4789
#define VXLAN_PORT_LINUX 8472 /* the Linux driver's default without dstport, flannel's */
#define GENEVE_PORT 6081

/* The UDP destination ports tunnels are known by (tc.bpf.c tests them before it loads any bytes). */
static __always_inline int is_tunnel_port(__u16 port)
{
	return port == VXLAN_PORT || port == VXLAN_PORT_LINUX || port == GENEVE_PORT;
}

static __always_inline int is_port_proto(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

/*
 * Snapshot parsers (bpf/parse.bpf.c). Global functions: the verifier checks
 * them once on their own instead of once per inlined call site, which keeps
 * every program that parses far below its complexity limit.
 */
extern int pmtu_parse_snapshot(struct pmtu_event *ev);
extern __u16 pmtu_tcp_mss(struct pmtu_event *ev, __u32 l4);

static __always_inline int is_ptb(const struct pmtu_event *ev)
{
	return (ev->outer.family == 4 && ev->icmp_type == ICMP_DEST_UNREACH &&
		ev->icmp_code == ICMP_FRAG_NEEDED) ||
	       (ev->outer.family == 6 && ev->icmp_type == ICMPV6_PKT_TOOBIG);
}

/* Namespace inode, ifindex and name of a device. */
static __always_inline void fill_dev(struct pmtu_event *ev, struct net_device *dev)
{
	if (!dev)
		return;
	ev->ifindex = BPF_CORE_READ(dev, ifindex);
	ev->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	BPF_CORE_READ_STR_INTO(&ev->ifname, dev, name);
}

static __always_inline void fill_mtu_dev(struct pmtu_event *ev, struct net_device *dev)
{
	if (!dev)
		return;
	ev->mtu_ifindex = BPF_CORE_READ(dev, ifindex);
	ev->mtu_netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	BPF_CORE_READ_STR_INTO(&ev->mtu_ifname, dev, name);
}

/* The route a packet was going to take, or NULL (skb->_skb_refdst minus its noref bit). */
static __always_inline struct dst_entry *skb_route(const struct sk_buff *skb)
{
	unsigned long refdst = BPF_CORE_READ(skb, _skb_refdst);

	return (struct dst_entry *)(refdst & ~1UL);
}

/*
 * The MTU a forwarding decision used: the route's mtu metric when set, else
 * its device's (ip_dst_mtu_maybe_forward / ip6_dst_mtu_maybe_forward).
 */
static __always_inline __u32 route_mtu(struct dst_entry *dst)
{
	unsigned long metrics = BPF_CORE_READ(dst, _metrics) & ~DST_METRICS_FLAGS;
	__u32 mtu = 0;

	if (metrics)
		bpf_probe_read_kernel(&mtu, sizeof(mtu), (__u32 *)metrics + RTAX_MTU_IDX);
	if (!mtu)
		mtu = BPF_CORE_READ(dst, dev, mtu);
	return mtu;
}

/* Copies up to PMTU_SNAP_LEN linear bytes from a kernel skb's network header. */
static __always_inline void snapshot_kernel_skb(struct pmtu_event *ev, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u64 nh = BPF_CORE_READ(skb, network_header);
	/* 64-bit on purpose: clang 14 would test a 32-bit copy and pass the 64-bit one. */
	__u64 n = BPF_CORE_READ(skb, tail);

	if (nh == (__u16)~0U || n <= nh)
		return;
	n -= nh;
	if (n > PMTU_SNAP_LEN)
		n = PMTU_SNAP_LEN;
	if (bpf_probe_read_kernel(ev->snap, n, head + nh) == 0)
		ev->snap_len = n;
}

/*
 * skb->data's offset from skb->head, for a trusted skb (direct loads, no
 * helper call per field). Kernels that type these fields as untrusted memory
 * allow only their difference: the barrier keeps clang from folding it into
 * a sum with a header offset (pointer + pointer, which the verifier refuses).
 */
static __always_inline long skb_data_offset(const struct sk_buff *skb)
{
	long off = (long)skb->data - (long)skb->head;

	asm volatile("" : "+r"(off));
	return off;
}

/* Bytes from the network header to the end of the packet. */
static __always_inline __u32 skb_l3_len(const struct sk_buff *skb)
{
	__u32 len = skb->len;
	/* > 0: a link header is still in front; < 0: data was pulled past it. */
	long before = (long)skb->network_header - skb_data_offset(skb);

	return before < (long)len ? len - before : len;
}

/*
 * Read-only view of kernel memory a trusted skb points into (its shared info,
 * its headers): loads through it are direct, and a bad address reads as 0.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define pmtu_rdonly(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

#endif /* PMTU_COMMON_BPF_H */
