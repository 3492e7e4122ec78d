// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets on the wire of watched interfaces (tc clsact, both directions):
 * frag-needed / Packet Too Big, and the flow table's SYN MSS, largest DF
 * size and smallest hook MTU per flow. A healthy flow costs map updates; an
 * event goes to userspace only for what can be trouble: a PTB, an MSS
 * rewritten on the path or larger than a hook the flow crossed, a new largest
 * size above the smallest MTU it crossed, and anything more of a flow already
 * reported. Never changes a packet: every path returns TC_ACT_UNSPEC so the
 * next filter (another tool's) decides as if we were not there.
 */
#include "flow_table.bpf.h"

#define TC_ACT_UNSPEC (-1)

extern void *bpf_cast_to_kern_ctx(void *) __ksym;

/* What the fast path learned from the linear headers. */
struct wire {
	struct pmtu_flow f; /* len stays 0: the same flow compares equal whatever its sizes */
	__u32 l3;	    /* offset of the IP header from skb->data */
	__u32 l3_len;	    /* IP length, or one GSO segment's */
	__u8 df;
	__u8 gso;
	__u8 ptb;
	__u8 syn;
	__u8 tcp_flags;
	__u8 l4_hdr_len; /* TCP: data offset in bytes */
	__u16 vlan;
	__u32 l4; /* offset of the L4 header from skb->data, 0 when unknown */
	__u16 overhead; /* in a tunnel: bytes of its headers before the inner IP header (f, l3_len are the inner's) */
	__u16 pad;
} __attribute__((aligned(8)));

/*
 * The flow this CPU checked last, per namespace: a bulk transfer sends runs
 * of one flow's segments on one CPU, and comparing 48 bytes is cheaper than
 * the hash lookup that would only say "not larger, no smaller hook" again.
 * A segment crosses hooks in several namespaces in a row (a veth pair's two
 * ends, a pod's eth0 then the node's bridge), each its own entry: one slot a
 * namespace, picked by a hash of its inode, lets each run of them hit.
 */
struct last_flow {
	struct pmtu_flow f;
	__u32 netns;
	__u16 largest; /* the entry's largest in f's direction */
	__u16 min_mtu;
	__u32 hits;
	__u32 pad;
};

_Static_assert(sizeof(struct pmtu_flow) % 8 == 0, "same_flow() compares struct pmtu_flow in 8-byte words");

#define LAST_FLOW_SLOTS 4 /* a power of two */

struct last_flows {
	struct last_flow slot[LAST_FLOW_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_flows);
} last_flow SEC(".maps");

/* Inodes of namespaces made one after another differ in their low bits, and in few others. */
static __always_inline struct last_flow *last_flow_slot(__u32 netns)
{
	__u32 zero = 0;
	struct last_flows *all = bpf_map_lookup_elem(&last_flow, &zero);

	return all ? &all->slot[((netns * 2654435761U) >> 30) & (LAST_FLOW_SLOTS - 1)] : NULL;
}

/* SYN and size events are built here and copied out only when they are reported. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pmtu_event);
} scratch SEC(".maps");

/* The flow's way's "seen" and last_ns are refreshed once per this many cached packets. */
#define LAST_FLOW_REFRESH 256

/* A header's length claim, but never more than the bytes that are really there. */
static __always_inline __u32 clamp_to_packet(const struct __sk_buff *ctx, long l3, __u32 claimed)
{
	__u32 present = ctx->len - l3;

	return claimed < present ? claimed : present;
}

/*
 * Neither the packet nor, under GSO, a segment of it can reach
 * size_report_min. A whole skb that small needs no look at its shared info
 * (another cache line) for gso_segs; a larger one with a small IP length is
 * padding, or BIG TCP (its length field 0).
 */
static __always_inline int too_small_to_track(const struct __sk_buff *ctx, const struct wire *w)
{
	__u32 min = pmtu_cfg.size_report_min;

	return w->l3_len < min && (ctx->len < w->l3 + min || ctx->gso_segs <= 1);
}

/*
 * Addresses are copied only for packets that go on to a decision (not for the
 * bare ACK). Bounds checked again: the verifier forgets what w->f.family was
 * across the pmtu_tc_tunnel() call, and with it which header length was checked.
 */
static __always_inline int copy_addrs(struct wire *w, const __u8 *ip, void *data_end)
{
	if (w->f.family == 4) {
		if ((void *)(ip + 20) > data_end)
			return 0;
		__builtin_memcpy(w->f.saddr, ip + 12, 4);
		__builtin_memcpy(w->f.daddr, ip + 16, 4);
	} else {
		if ((void *)(ip + 40) > data_end)
			return 0;
		__builtin_memcpy(w->f.saddr, ip + 8, 16);
		__builtin_memcpy(w->f.daddr, ip + 24, 16);
	}
	return 1;
}

/*
 * A tunnel's packet (IPIP, sit, ip6ip6, ip4ip6, GRE, GRETAP, VXLAN, Geneve):
 * the decision is about the flow inside it, so its headers are read by the
 * one parser (parse.bpf.c) over a snapshot in this CPU's scratch event rather
 * than by the fast path's direct loads: a tunnel costs a copy, and everything
 * else costs only the protocol and port tests that send a packet here.
 * Returns -1 when it is no tunnel after all (the caller goes on with the
 * packet as it looks from outside), 0 when there is nothing to decide, and 1
 * with w describing the inner packet (its flow, length and TCP header; the
 * tunnel's overhead in w->overhead). Global: verified once, on its own.
 */
__noinline int pmtu_tc_tunnel(struct __sk_buff *ctx, struct wire *w)
{
	__u32 zero = 0, in, hdr, l4;
	struct pmtu_event *ev;
	__u64 avail;
	int parsed;

	if (!ctx || !w)
		return -1;
	ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return -1;
	__builtin_memset(ev, 0, offsetof(struct pmtu_event, snap));
	/* 64-bit on purpose: clang 14 would test a 32-bit copy and pass the 64-bit one. */
	avail = ctx->len;
	avail = avail > w->l3 ? avail - w->l3 : 0;
	if (avail > PMTU_SNAP_LEN)
		avail = PMTU_SNAP_LEN;
	if (!avail || bpf_skb_load_bytes(ctx, w->l3, ev->snap, avail))
		return -1;
	ev->snap_len = avail;
	parsed = pmtu_parse_snapshot(ev);
	if (parsed < 0 || !ev->encap.type || ev->encap.quoted)
		return -1;
	l4 = parsed;
	in = ev->encap.overhead;
	w->overhead = in;
	__builtin_memcpy(&w->f, &ev->outer, sizeof(w->f));
	w->f.len = 0;
	w->l3_len = clamp_to_packet(ctx, w->l3 + in, ev->outer.len);
	if (ev->outer.proto == IPPROTO_TCP) {
		if (l4 > PMTU_SNAP_LEN - 14 || l4 + 14 > ev->snap_len)
			return 1;
		hdr = l4 + 13;
		barrier_var(hdr); /* the mask stays: the verifier bounds the index by it */
		w->tcp_flags = ev->snap[hdr & (PMTU_SNAP_LEN - 1)];
		w->syn = !!(w->tcp_flags & TCP_FLAG_SYN);
		if (!w->syn && (!w->df || too_small_to_track(ctx, w)))
			return 0;
		w->l4 = w->l3 + l4;
		hdr = l4 + 12;
		barrier_var(hdr);
		w->l4_hdr_len = (ev->snap[hdr & (PMTU_SNAP_LEN - 1)] >> 4) * 4;
	} else if ((ev->flags & PMTU_F_ICMP_ERR) && is_ptb(ev)) {
		w->ptb = 1;
	}
	if (ctx->gso_segs > 1 && ctx->gso_size) {
		hdr = (l4 - in) + (ev->outer.proto == IPPROTO_TCP ? w->l4_hdr_len : 8);
		w->l3_len = ctx->gso_size + hdr;
		w->gso = 1;
	}
	return 1;
}

/*
 * Reads the headers the decision needs straight from the linear packet.
 * Returns 0 when there is nothing to decide: not IP, headers not linear, or
 * a TCP segment that is neither a SYN nor large enough to track (most
 * packets: it returns before copying anything).
 */
static __always_inline int read_wire(struct __sk_buff *ctx, struct sk_buff *skb, struct wire *w)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 proto = bpf_ntohs(ctx->protocol);
	long l3 = (long)skb->network_header - skb_data_offset(skb);
	__u8 *p, *ip;

	if (ctx->vlan_present)
		w->vlan = ctx->vlan_tci & 0x0fff;
	/* skb->protocol still names a tag when a second (QinQ) tag is in-band. */
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (l3 < 0 || l3 > 64)
			return 0;
		p = data + l3;
		if ((void *)(p + 4) > data_end)
			return 0;
		if (!w->vlan)
			w->vlan = rd16(p) & 0x0fff;
		proto = rd16(p + 2);
		l3 += 4;
	}
	if (l3 < 0 || l3 > 72)
		return 0;
	w->l3 = l3;
	p = data + l3;

	__u32 l4;

	if (proto == ETH_P_IP) {
		if ((void *)(p + 20) > data_end || (p[0] >> 4) != 4)
			return 0;
		ip = p;
		w->f.family = 4;
		w->l3_len = clamp_to_packet(ctx, l3, rd16(p + 2));
		w->f.proto = p[9];
		w->df = !!(p[6] & 0x40);
		l4 = (p[0] & 0xf) * 4;
		if (l4 < 20 || (rd16(p + 6) & 0x1fff)) /* later fragments carry no L4 header */
			return copy_addrs(w, ip, data_end);
	} else if (proto == ETH_P_IPV6) {
		if ((void *)(p + 40) > data_end || (p[0] >> 4) != 6)
			return 0;
		ip = p;
		w->f.family = 6;
		w->l3_len = clamp_to_packet(ctx, l3, rd16(p + 4) + 40);
		w->f.proto = p[6];
		w->df = 1;
		l4 = 40;
		/* Hop-by-hop, routing and destination options; a fragment ends the search. */
		for (int i = 0; i < 3; i++) {
			if (w->f.proto != 0 && w->f.proto != 43 && w->f.proto != 60)
				break;
			__u8 *ext;

			if (l4 > 200)
				return copy_addrs(w, ip, data_end);
			ext = p + l4;
			if ((void *)(ext + 2) > data_end)
				return copy_addrs(w, ip, data_end);
			w->f.proto = ext[0];
			l4 += (ext[1] + 1) * 8;
		}
	} else {
		return 0;
	}

	if (l4 > 256)
		return copy_addrs(w, ip, data_end);
	p += l4;
	if ((void *)(p + 8) > data_end)
		return copy_addrs(w, ip, data_end);
	/* Tunnels, by protocol or by UDP port: the flow is inside (one level). */
	if (w->f.proto == IPPROTO_IPIP || w->f.proto == IPPROTO_IPV6 || w->f.proto == IPPROTO_GRE ||
	    (w->f.proto == IPPROTO_UDP && is_tunnel_port(rd16(p + 2)))) {
		int r = pmtu_tc_tunnel(ctx, w);

		if (r >= 0)
			return r;
	}
	if (w->f.proto == IPPROTO_TCP) {
		if ((void *)(p + 14) > data_end)
			return copy_addrs(w, ip, data_end);
		w->tcp_flags = p[13];
		w->syn = !!(p[13] & TCP_FLAG_SYN);
		/* The common case, decided on the spot: no SYN, too small to bound a path MTU. */
		if (!w->syn && (!w->df || too_small_to_track(ctx, w)))
			return 0;
		w->l4 = l3 + l4;
		w->l4_hdr_len = (p[12] >> 4) * 4;
		w->f.sport = rd16(p);
		w->f.dport = rd16(p + 2);
	} else if (w->f.proto == IPPROTO_UDP) {
		w->f.sport = rd16(p);
		w->f.dport = rd16(p + 2);
	} else if ((w->f.family == 4 && w->f.proto == IPPROTO_ICMP && p[0] == ICMP_DEST_UNREACH &&
		    p[1] == ICMP_FRAG_NEEDED) ||
		   (w->f.family == 6 && w->f.proto == IPPROTO_ICMPV6_ && p[0] == ICMPV6_PKT_TOOBIG)) {
		w->ptb = 1;
	}

	/* TSO/GRO packets are legitimately larger than the MTU: judge a segment. */
	if (ctx->gso_segs > 1 && ctx->gso_size) {
		__u32 hdr = l4 + (w->f.proto == IPPROTO_TCP ? w->l4_hdr_len : 8);

		w->l3_len = ctx->gso_size + hdr;
		w->gso = 1;
	}
	return copy_addrs(w, ip, data_end);
}

/*
 * Most packets, decided before anything is set up: an untagged IPv4 (no
 * options, no fragment) or IPv6 (no extension header) TCP segment, no SYN,
 * neither it nor a GSO segment of it reaching size_report_min. read_wire()
 * would return 0 for each (TCP is never a tunnel's); this skips zeroing the
 * wire, the tag loop and the tunnel tests, a third of a bare ACK's cost.
 */
static __always_inline int plain_small_segment(struct __sk_buff *ctx, struct sk_buff *skb)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	long l3 = (long)skb->network_header - skb_data_offset(skb);
	__u32 min = pmtu_cfg.size_report_min, ip_len;
	__u8 *p, *tcp;

	if (ctx->vlan_present || l3 < 0 || l3 > 64 || ctx->len >= l3 + min)
		return 0;
	p = data + l3;
	if (ctx->protocol == bpf_htons(ETH_P_IP)) {
		if ((void *)(p + 20 + 14) > data_end || p[0] != 0x45 || p[9] != IPPROTO_TCP || (rd16(p + 6) & 0x1fff))
			return 0;
		tcp = p + 20;
		ip_len = rd16(p + 2);
	} else if (ctx->protocol == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(p + 40 + 14) > data_end || (p[0] >> 4) != 6 || p[6] != IPPROTO_TCP)
			return 0;
		tcp = p + 40;
		ip_len = rd16(p + 4) + 40;
	} else {
		return 0;
	}
	return !(tcp[13] & TCP_FLAG_SYN) && ip_len < min;
}

/* The event's common part, its snapshot and its parse; returns the L4 offset or -1. */
static __always_inline int fill_event(struct pmtu_event *ev, struct __sk_buff *ctx, struct sk_buff *skb,
				      const struct wire *w, __u8 dir)
{
	ev->dir = dir;
	ev->vlan = w->vlan;
	ev->len = w->l3_len;
	if (w->gso)
		ev->flags |= PMTU_F_GSO;
	if (ev->kind != PMTU_KIND_SIZE && ctx->sk && dir == PMTU_DIR_EGRESS)
		ev->flags |= PMTU_F_LOCAL;
	/* Direct loads through the trusted skb (fill_dev's helper calls cost ~40 ns each here). */
	struct net_device *dev = skb->dev;

	ev->ifindex = ctx->ifindex;
	ev->netns = dev->nd_net.net->ns.inum;
	__builtin_memcpy(ev->ifname, dev->name, PMTU_IFNAME_LEN);
	ev->mtu = dev->mtu; /* a PTB's parse replaces it with the advertised MTU */

	/* 64-bit on purpose: clang 14 would test a 32-bit copy and pass the 64-bit one. */
	__u64 avail = ctx->len;

	avail = avail > w->l3 ? avail - w->l3 : 0;
	if (avail > PMTU_SNAP_LEN)
		avail = PMTU_SNAP_LEN;
	if (avail && bpf_skb_load_bytes(ctx, w->l3, ev->snap, avail) == 0)
		ev->snap_len = avail;
	return pmtu_parse_snapshot(ev);
}

/* This CPU's scratch event, made ready like a reserved one. */
static __always_inline struct pmtu_event *scratch_event(__u8 kind)
{
	__u32 zero = 0;
	struct pmtu_event *ev = bpf_map_lookup_elem(&scratch, &zero);

	return ev ? init_event(ev, kind) : NULL;
}

static __always_inline void output(struct pmtu_event *ev)
{
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0))
		count_loss(PMTU_LOSS_RINGBUF_FULL);
}

/*
 * A flow's first and last seen: the coarse clock, a tick's precision without
 * reading the clock source (on a VM's kvm-clock the read was 8% of a
 * busy host's tc time under perf). Events keep the precise clock.
 */
static __always_inline __u64 flow_clock(void)
{
	return bpf_ktime_get_coarse_ns();
}

/* loopback's 65536 does not fit min_mtu: no IP packet is larger than 65535 anyway. */
static __always_inline __u16 hook_mtu(__u32 mtu)
{
	return mtu > 0xffff ? 0xffff : mtu;
}

/*
 * The MTU a hook gives the flow: its device's, less the headers of the tunnel
 * the flow is in there (an IPIP packet on a 1500-byte link carries 1480 of
 * inner packet). The flow table's smallest MTU is the inner flow's, so the
 * tunnel's own device (ipip0 at 1480) and its underlay (1500 less 20) agree.
 */
static __always_inline __u32 tunnel_mtu(__u32 mtu, const struct wire *w)
{
	return mtu > w->overhead ? mtu - w->overhead : mtu;
}

static __always_inline void crossed_hook(struct pmtu_flow_state *s, __u32 mtu, __u32 ifindex)
{
	mtu = hook_mtu(mtu);
	if (mtu && (!s->min_mtu || mtu < s->min_mtu)) {
		s->min_mtu = mtu;
		s->min_mtu_ifindex = ifindex;
	}
}

/*
 * The MSS option when it comes first, as Linux and most stacks send it,
 * straight from the linear packet; MSS_ELSEWHERE when the options must be
 * walked (pmtu_tcp_mss() on the snapshot does that).
 */
#define MSS_ELSEWHERE 0xffffffffU

static __always_inline __u32 leading_mss(struct __sk_buff *ctx, const struct wire *w)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = w->l4;
	__u8 *o;

	if (w->l4_hdr_len <= 20)
		return 0; /* no options: no MSS */
	if (!off || off > 192) /* 192: past a tunnel's headers too (VXLAN in IPv6: 110 to the inner TCP header) */
		return MSS_ELSEWHERE;
	o = data + off + 20;
	if ((void *)(o + 4) > data_end)
		return MSS_ELSEWHERE;
	if (o[0] == 2 && o[1] == 4 && w->l4_hdr_len >= 24)
		return rd16(o + 2);
	return MSS_ELSEWHERE;
}

/* The SYN's event, made only when it is reported (or its MSS is not where leading_mss looks). */
static __always_inline struct pmtu_event *syn_event(struct __sk_buff *ctx, struct sk_buff *skb,
						     const struct wire *w, __u8 dir, __u32 *mss)
{
	struct pmtu_event *ev = scratch_event(PMTU_KIND_SYN);
	int l4;

	if (!ev)
		return NULL;
	l4 = fill_event(ev, ctx, skb, w, dir);
	if (w->tcp_flags & TCP_FLAG_ACK)
		ev->flags |= PMTU_F_SYNACK;
	if (*mss == MSS_ELSEWHERE)
		*mss = l4 >= 0 ? pmtu_tcp_mss(ev, l4) : 0;
	ev->mss = *mss;
	return ev;
}

static __always_inline void on_syn(struct __sk_buff *ctx, struct sk_buff *skb, struct wire *w, __u8 dir)
{
	struct net_device *dev = skb->dev;
	__u32 netns = dev->nd_net.net->ns.inum, ifindex = ctx->ifindex, mtu = tunnel_mtu(dev->mtu, w);
	int synack = !!(w->tcp_flags & TCP_FLAG_ACK), idx = synack;
	__u8 seen = synack ? PMTU_FS_SYNACK : PMTU_FS_SYN;
	struct pmtu_event *ev = NULL;
	__u32 mss = leading_mss(ctx, w);
	__u64 now = flow_clock();
	struct pmtu_flow_state *s, *st = NULL, init;
	struct pmtu_flow_key key;
	struct flow_place at;
	struct flow_ref ref = {};
	int fdir, report;
	__u32 what;

	if (mss == MSS_ELSEWHERE) {
		ev = syn_event(ctx, skb, w, dir, &mss);
		if (!ev)
			return;
	}
	fdir = pmtu_flow_key(&key, &w->f, netns);
	if (fdir < 0) {
		pmtu_traffic_add(netns, ifindex, synack ? PMTU_TRAFFIC_SYNACK : PMTU_TRAFFIC_SYN);
		return;
	}
	what = synack ? PMTU_TRAFFIC_SYNACK : PMTU_TRAFFIC_SYN;
	s = flow_find(&key, now, &at, &ref);
	if (!s && at.h) {
		/* A new flow: this SYN is all it has seen. The SYN's sender is the initiator: f's source, endpoint b when fdir is 1. */
		__builtin_memset(&init, 0, sizeof(init));
		init.first_ns = now;
		init.last_ns = now;
		init.min_mtu = hook_mtu(mtu);
		init.min_mtu_ifindex = ifindex;
		init.flags = seen | ((synack ? !fdir : fdir) ? PMTU_FS_SYN_FROM_OTHER : 0);
		if (synack) { /* a branch, not an index: see on_df_size() */
			init.mss_first[1] = init.mss_last[1] = mss;
			init.mss_first_ifindex[1] = init.mss_last_ifindex[1] = ifindex;
		} else {
			init.mss_first[0] = init.mss_last[0] = mss;
			init.mss_first_ifindex[0] = init.mss_last_ifindex[0] = ifindex;
		}
		/* Segments of MSS bytes (with IP and TCP headers) would not fit this hook: in trouble from the start. */
		if (pmtu_cfg.every_flow || (mss && init.min_mtu && mss + (w->f.family == 6 ? 60 : 40) > init.min_mtu))
			init.flags |= PMTU_FS_REPORTED;
		flow_insert(&at, &init);
		pmtu_traffic_add(netns, ifindex, what | PMTU_TRAFFIC_FLOW);
		report = init.flags & PMTU_FS_REPORTED;
		st = &init;
		goto out;
	}
	pmtu_traffic_add(netns, ifindex, what);
	if (!s) {
		report = pmtu_cfg.every_flow;
		goto out;
	}
	st = s;
	/*
	 * The same SYN again where it was first seen: a new connection on this
	 * 5-tuple (or a retry) starts the MSS record afresh. Sizes and the
	 * smallest MTU stay: they never shrink, which is what lets on_df_size()
	 * trust this CPU's cached copy of them.
	 */
	if (!synack && (s->flags & PMTU_FS_SYN) && s->mss_first_ifindex[0] == ifindex)
		s->flags &= ~(PMTU_FS_SYN | PMTU_FS_SYNACK | PMTU_FS_SYN_FROM_OTHER);
	s->last_ns = now;
	crossed_hook(s, mtu, ifindex);
	report = pmtu_cfg.every_flow || (s->flags & PMTU_FS_REPORTED);
	if (!(s->flags & seen)) {
		s->flags |= seen;
		s->mss_first[idx & 1] = mss;
		s->mss_first_ifindex[idx & 1] = ifindex;
		if ((synack ? !fdir : fdir))
			s->flags |= PMTU_FS_SYN_FROM_OTHER;
		else
			s->flags &= ~PMTU_FS_SYN_FROM_OTHER;
	} else if (mss != s->mss_first[idx & 1]) {
		report = 1; /* rewritten on the path */
	}
	s->mss_last[idx & 1] = mss;
	s->mss_last_ifindex[idx & 1] = ifindex;
	/* Segments of MSS bytes (with IP and TCP headers) would not fit a hook the flow crossed. */
	if (mss && s->min_mtu && mss + (w->f.family == 6 ? 60 : 40) > s->min_mtu)
		report = 1;
out:
	if (!report)
		return;
	/* A new flow reported here was in trouble from the start: its way says so already. */
	if (s)
		flow_mark_reported(&ref, s);
	if (!ev)
		ev = syn_event(ctx, skb, w, dir, &mss);
	if (!ev)
		return;
	if (st)
		orient_state(&ev->state, st, fdir);
	output(ev);
}

static __always_inline int same_flow(const struct last_flow *last, const struct wire *w, __u32 netns)
{
	const __u64 *x = (const __u64 *)last, *y = (const __u64 *)&w->f;

	if (last->netns != netns)
		return 0;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(struct pmtu_flow) / 8); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

static __always_inline void on_df_size(struct __sk_buff *ctx, struct sk_buff *skb, struct wire *w, __u8 dir)
{
	/* Direct loads through the trusted skb: no helper call per field. */
	struct net_device *dev = skb->dev;
	__u32 netns = dev->nd_net.net->ns.inum;
	__u32 mtu = tunnel_mtu(dev->mtu, w), len = w->l3_len;
	struct last_flow *last = last_flow_slot(netns);
	struct pmtu_flow_state *s, *st, init;
	struct pmtu_flow_key key;
	struct flow_place at;
	struct flow_ref ref = {};
	struct pmtu_event *ev;
	int fdir, grew;
	__u64 now;

	/* The entry only grows and shrinks its minimum while the flow is in it: this says what the lookup would. */
	if (last && len <= last->largest && mtu >= last->min_mtu && same_flow(last, w, netns) &&
	    ++last->hits % LAST_FLOW_REFRESH)
		return;
	fdir = pmtu_flow_key(&key, &w->f, netns);
	if (fdir < 0)
		return;
	now = flow_clock();
	s = flow_find(&key, now, &at, &ref);
	if (!s && at.h) {
		__builtin_memset(&init, 0, sizeof(init));
		init.first_ns = now;
		init.last_ns = now;
		init.min_mtu = hook_mtu(mtu);
		init.min_mtu_ifindex = ctx->ifindex;
		/* Indexed with a branch: clang would OR the index into the stack address, which the verifier refuses. */
		if (fdir)
			init.largest[1] = len;
		else
			init.largest[0] = len;
		flow_insert(&at, &init);
		pmtu_traffic_add(netns, ctx->ifindex, PMTU_TRAFFIC_FLOW);
		st = &init;
		grew = 1;
	} else if (s) {
		st = s;
		s->last_ns = now;
		crossed_hook(s, mtu, ctx->ifindex);
		grew = len > s->largest[fdir & 1];
		if (grew)
			s->largest[fdir & 1] = len; /* racing CPUs may both report: harmless, never wrong */
	} else {
		return;
	}
	if (last) {
		__builtin_memcpy(&last->f, &w->f, sizeof(last->f));
		last->netns = netns;
		last->largest = st->largest[fdir & 1];
		last->min_mtu = st->min_mtu;
		last->hits = 0;
	}
	/* A size bounds a path MTU only above the smallest hook crossed, or for a flow in trouble. */
	if (!grew || !(pmtu_cfg.every_flow || (st->min_mtu && len > st->min_mtu) || (st->flags & PMTU_FS_REPORTED)))
		return;
	if (s)
		flow_mark_reported(&ref, s);
	else
		st->flags |= PMTU_FS_REPORTED; /* a new flow's stack copy is only the event's */
	ev = scratch_event(PMTU_KIND_SIZE);
	if (!ev)
		return;
	fill_event(ev, ctx, skb, w, dir);
	orient_state(&ev->state, st, fdir);
	output(ev);
}

static __always_inline void on_ptb(struct __sk_buff *ctx, struct sk_buff *skb, struct wire *w, __u8 dir)
{
	/* Sent by this host's own ICMP socket (not forwarded): IPv6 has no icmp_send tracepoint. */
	int local = dir == PMTU_DIR_EGRESS && ctx->sk;
	struct pmtu_event *ev = reserve_event(local && w->f.family == 6 ? PMTU_KIND_PTB_SENT : PMTU_KIND_PTB);

	if (!ev)
		return;
	fill_event(ev, ctx, skb, w, dir);
	pmtu_flow_join(ev, 1);
	pmtu_traffic_add(ev->netns, ev->ifindex, PMTU_TRAFFIC_PTB);
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline int observe(struct __sk_buff *ctx, __u8 dir)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct wire w = {};

	if (plain_small_segment(ctx, skb) || !read_wire(ctx, skb, &w))
		return TC_ACT_UNSPEC;
	if (w.ptb)
		on_ptb(ctx, skb, &w, dir);
	else if (w.syn)
		on_syn(ctx, skb, &w, dir);
	else if (w.df && w.l3_len >= pmtu_cfg.size_report_min)
		on_df_size(ctx, skb, &w, dir);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pmtu_tc_ingress(struct __sk_buff *ctx)
{
	return observe(ctx, PMTU_DIR_INGRESS);
}

SEC("tc")
int pmtu_tc_egress(struct __sk_buff *ctx)
{
	return observe(ctx, PMTU_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
