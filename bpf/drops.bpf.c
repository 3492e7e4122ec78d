// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets the kernel dropped (kfree_skb, every namespace) that matter for
 * PMTUD: drops for being too big (PKT_TOO_BIG, this host routing), any drop of
 * a packet larger than the device it was going to (bridge ports and veth
 * pairs drop those at layer 2 with no ICMP and no specific reason), and any
 * drop of an ICMP error, which is how rp_filter and firewalls eat PTBs, and
 * rp_filter's drops of what a tunnel decapsulated (IPIP realservers).
 * Drop reasons are resolved by name (CO-RE): their numbers change between
 * kernel versions.
 */
#include "flow_table.bpf.h"

/* struct veth_priv starts with the peer pointer (drivers/net/veth.c). */
static __always_inline struct net_device *veth_peer(struct net_device *dev)
{
	const struct rtnl_link_ops *ops = BPF_CORE_READ(dev, rtnl_link_ops);
	char kind[5] = {};
	struct net_device *peer = NULL;

	if (!ops)
		return NULL;
	bpf_probe_read_kernel_str(kind, sizeof(kind), BPF_CORE_READ(ops, kind));
	if (kind[0] != 'v' || kind[1] != 'e' || kind[2] != 't' || kind[3] != 'h' || kind[4])
		return NULL;
	/* netdev_priv(): the private area follows struct net_device (priv[] since 6.12). */
	bpf_probe_read_kernel(&peer, sizeof(peer),
			      (void *)dev + bpf_core_field_offset(struct net_device, priv));
	return peer;
}

/*
 * Whether a device hands out packets it decapsulated (IP-in-IP, GRE, VXLAN,
 * Geneve, ip6tnl): strict rp_filter there drops what a load balancer
 * encapsulated to this host (seed 004), whatever the packet.
 */
static __always_inline int decapsulates(struct net_device *dev)
{
	const struct rtnl_link_ops *ops = dev ? BPF_CORE_READ(dev, rtnl_link_ops) : NULL;
	char k[8] = {};

	if (!ops)
		return 0;
	bpf_probe_read_kernel_str(k, sizeof(k), BPF_CORE_READ(ops, kind));
	return (k[0] == 'i' && k[1] == 'p' && (k[2] == 'i' || k[2] == '6')) || /* ipip, ip6tnl, ip6gre */
	       (k[0] == 'g' && k[1] == 'r' && k[2] == 'e') ||			  /* gre, gretap */
	       (k[0] == 'e' && k[1] == 'r' && k[2] == 's') ||			  /* erspan */
	       (k[0] == 'v' && k[1] == 'x' && k[2] == 'l') ||			  /* vxlan */
	       (k[0] == 'g' && k[1] == 'e' && k[2] == 'n');			  /* geneve */
}

/* Length of one segment when the kernel segments the packet later (GSO). */
static __always_inline __u32 wire_len(const struct sk_buff *skb, __u32 l3_len, __u8 *flags)
{
	struct skb_shared_info *shinfo = pmtu_rdonly(skb->head + skb->end, struct skb_shared_info);
	__u16 gso_size = shinfo->gso_size;

	if (!gso_size)
		return l3_len;
	*flags |= PMTU_F_GSO;
	/* Headers up to and including L4 travel with each segment: TCP's with its options (timestamps: 32 bytes). */
	__u16 nh = skb->network_header;
	__u16 th = skb->transport_header;
	__u8 doff = 0x50; /* no options, when it cannot be read */

	if (th <= nh)
		return gso_size + 60;
	if (shinfo->gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6))
		bpf_probe_read_kernel(&doff, 1, skb->head + th + 12);
	else
		doff = 0x20; /* UDP: 8 bytes */
	return gso_size + (th - nh) + (doff >> 4) * 4;
}

/* Whether the packet may be ICMP/ICMPv6 (IPv6 extension headers: maybe). */
static __always_inline int maybe_icmp(const struct sk_buff *skb, __u16 proto)
{
	__u16 nh = skb->network_header;
	__u8 next;

	if (nh == (__u16)~0U)
		return 0;
	if (proto == ETH_P_IP)
		return pmtu_rdonly(skb->head + nh, struct iphdr)->protocol == IPPROTO_ICMP;
	next = pmtu_rdonly(skb->head + nh, struct ipv6hdr)->nexthdr;
	return next == IPPROTO_ICMPV6_ || next == 0 || next == 43 || next == 44 || next == 60;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(pmtu_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	/* tp_btf arguments are trusted: fields are direct loads, no helper call (this runs on every drop). */
	__u16 proto = bpf_ntohs(skb->protocol);
	struct net_device *dev, *peer, *mtu_dev;
	__u32 l3_len, seg_len, mtu;
	struct pmtu_event *ev;
	struct dst_entry *dst;
	__u8 flags = 0;
	int too_big, decap_rpf;

	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	dev = skb->dev;
	too_big = bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_PKT_TOO_BIG) &&
		  reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_PKT_TOO_BIG);

	/* rp_filter drops are rare unless someone spoofs: the device is looked at only then. */
	decap_rpf = proto == ETH_P_IP && bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_IP_RPFILTER) &&
		    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_IP_RPFILTER) && decapsulates(dev);
	l3_len = skb_l3_len(skb);
	seg_len = wire_len(skb, l3_len, &flags);
	/*
	 * Most drops are small packets that are no ICMP error: decided before the
	 * route and the veth peer are looked at. Oversize drops below --size-min
	 * (1280) matter only on links that small; a lower --size-min reports them.
	 */
	if (!too_big && !decap_rpf && seg_len < pmtu_cfg.size_report_min && !pmtu_cfg.watch_all_drops && !maybe_icmp(skb, proto))
		return 0;

	/* The MTU that mattered: a routed packet's route, a veth's peer, else the device. */
	mtu_dev = dev;
	dst = too_big ? skb_route(skb) : NULL;
	if (dst) {
		mtu = route_mtu(dst);
		mtu_dev = BPF_CORE_READ(dst, dev);
	} else {
		mtu = dev ? dev->mtu : 0;
		peer = dev ? veth_peer(dev) : NULL;
		if (peer && BPF_CORE_READ(peer, mtu) < mtu) {
			mtu = BPF_CORE_READ(peer, mtu);
			mtu_dev = peer;
		}
	}
	if (mtu && seg_len > mtu)
		flags |= PMTU_F_OVERSIZE;

	/* Decide before reserving: a storm of drops that are not ours must not
	 * fill the ring buffer, nor count as events lost. */
	if (!too_big && !decap_rpf && !(flags & PMTU_F_OVERSIZE) && !maybe_icmp(skb, proto))
		return 0;

	ev = reserve_event(PMTU_KIND_DROP);
	if (!ev)
		return 0;
	snapshot_kernel_skb(ev, skb);
	if (pmtu_parse_snapshot(ev) < 0 ||
	    !(too_big || decap_rpf || (flags & PMTU_F_OVERSIZE) || (ev->flags & PMTU_F_ICMP_ERR))) {
		/* Most drops are not ours to report; discarding costs no loss. */
		bpf_ringbuf_discard(ev, 0);
		return 0;
	}
	ev->dir = PMTU_DIR_NONE;
	ev->flags |= flags;
	ev->reason = reason;
	ev->len = seg_len;
	/* Inside a tunnel the event is the inner packet's (the oversize check above was the wire's). */
	if (ev->encap.type && !ev->encap.quoted && ev->len > ev->encap.overhead)
		ev->len -= ev->encap.overhead;
	/* A packet this host made has no device before it is routed out (a PTB
	 * its own firewall drops on output): name the route's device instead. */
	if (!dev) {
		struct dst_entry *out = skb_route(skb);

		dev = out ? BPF_CORE_READ(out, dev) : NULL;
	}
	fill_dev(ev, dev);
	pmtu_flow_join(ev, !!(ev->flags & PMTU_F_ICMP_ERR));
	/* For a dropped ICMP error, mtu stays the one it advertised (the parser's). */
	if (!(ev->flags & PMTU_F_ICMP_ERR)) {
		ev->mtu = mtu;
		if (mtu_dev != dev)
			fill_mtu_dev(ev, mtu_dev);
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
