// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets on the wire of watched interfaces (tc clsact, both directions):
 * frag-needed / Packet Too Big, the MSS of SYNs, and the largest DF packet
 * per flow. Never changes a packet: every path returns TC_ACT_UNSPEC so the
 * next filter (another tool's) decides as if we were not there.
 */
#include "common.bpf.h"

#define TC_ACT_UNSPEC (-1)

extern void *bpf_cast_to_kern_ctx(void *) __ksym;

struct size_key {
	__u32 netns;
	__u32 ifindex;
	__u8 dir;
	__u8 proto;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct size_key);
	__type(value, __u32);
} largest_df SEC(".maps");

/*
 * The flow this CPU checked last and its largest size: a bulk transfer sends
 * runs of segments of one flow on one CPU, and comparing 48 bytes is cheaper
 * than the hash lookup that would only say "not larger" again.
 */
struct last_size {
	struct size_key key;
	__u32 len;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_size);
} last_df SEC(".maps");

_Static_assert(sizeof(struct size_key) % 8 == 0, "size_key is compared in 8-byte words");

static __always_inline int same_size_key(const struct size_key *a, const struct size_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* What the fast path learned from the linear headers. */
struct wire {
	__u32 l3;      /* offset of the IP header from skb->data */
	__u32 l3_len;  /* IP length, or one GSO segment's */
	__u8 family;
	__u8 proto;
	__u8 df;
	__u8 gso;
	__u8 ptb;
	__u8 syn;
	__u8 tcp_flags;
	__u8 l4_hdr_len; /* TCP: data offset in bytes */
	__u16 vlan;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* A header's length claim, but never more than the bytes that are really there. */
static __always_inline __u32 clamp_to_packet(const struct __sk_buff *ctx, long l3, __u32 claimed)
{
	__u32 present = ctx->len - l3;

	return claimed < present ? claimed : present;
}

/*
 * Reads the headers the decision needs straight from the linear packet.
 * Returns 0 when the packet is not IP or its headers are not linear (then
 * there is nothing we could report about it anyway).
 */
static __always_inline int read_wire(struct __sk_buff *ctx, struct sk_buff *skb, struct wire *w)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 proto = bpf_ntohs(ctx->protocol);
	long l3 = (long)skb->network_header - ((long)skb->data - (long)skb->head);
	__u8 *p;

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
		w->family = 4;
		w->l3_len = clamp_to_packet(ctx, l3, rd16(p + 2));
		w->proto = p[9];
		w->df = !!(p[6] & 0x40);
		__builtin_memcpy(w->saddr, p + 12, 4);
		__builtin_memcpy(w->daddr, p + 16, 4);
		l4 = (p[0] & 0xf) * 4;
		if (l4 < 20 || (rd16(p + 6) & 0x1fff)) /* later fragments carry no L4 header */
			return 1;
	} else if (proto == ETH_P_IPV6) {
		if ((void *)(p + 40) > data_end || (p[0] >> 4) != 6)
			return 0;
		w->family = 6;
		w->l3_len = clamp_to_packet(ctx, l3, rd16(p + 4) + 40);
		w->proto = p[6];
		w->df = 1;
		__builtin_memcpy(w->saddr, p + 8, 16);
		__builtin_memcpy(w->daddr, p + 24, 16);
		l4 = 40;
		/* Hop-by-hop, routing and destination options; a fragment ends the search. */
		for (int i = 0; i < 3; i++) {
			if (w->proto != 0 && w->proto != 43 && w->proto != 60)
				break;
			__u8 *ext;

			if (l4 > 200)
				return 1;
			ext = p + l4;
			if ((void *)(ext + 2) > data_end)
				return 1;
			w->proto = ext[0];
			l4 += (ext[1] + 1) * 8;
		}
	} else {
		return 0;
	}

	if (l4 > 256)
		return 1;
	p += l4;
	if ((void *)(p + 8) > data_end)
		return 1;
	if (w->proto == IPPROTO_TCP || w->proto == IPPROTO_UDP) {
		w->sport = rd16(p);
		w->dport = rd16(p + 2);
	}
	if (w->proto == IPPROTO_TCP) {
		if ((void *)(p + 14) > data_end)
			return 1;
		w->tcp_flags = p[13];
		w->l4_hdr_len = (p[12] >> 4) * 4;
		w->syn = !!(p[13] & TCP_FLAG_SYN);
	} else if ((w->family == 4 && w->proto == IPPROTO_ICMP && p[0] == ICMP_DEST_UNREACH &&
		    p[1] == ICMP_FRAG_NEEDED) ||
		   (w->family == 6 && w->proto == IPPROTO_ICMPV6_ && p[0] == ICMPV6_PKT_TOOBIG)) {
		w->ptb = 1;
	}

	/* TSO/GRO packets are legitimately larger than the MTU: judge a segment. */
	if (ctx->gso_segs > 1 && ctx->gso_size) {
		__u32 hdr = l4 + (w->proto == IPPROTO_TCP ? w->l4_hdr_len : 8);

		w->l3_len = ctx->gso_size + hdr;
		w->gso = 1;
	}
	return 1;
}

/* True when this packet is larger than any seen before for its flow on this hook. */
static __always_inline int df_size_grew(const struct wire *w, __u32 netns, __u32 ifindex,
					__u8 dir)
{
	struct size_key key = {
		.netns = netns,
		.ifindex = ifindex,
		.dir = dir,
		.proto = w->proto,
		.family = w->family,
		.sport = w->sport,
		.dport = w->dport,
	};
	__u32 *seen, len = w->l3_len, zero = 0;
	struct last_size *last;
	int grew;

	__builtin_memcpy(key.saddr, w->saddr, 16);
	__builtin_memcpy(key.daddr, w->daddr, 16);
	last = bpf_map_lookup_elem(&last_df, &zero);
	/* The map's value only grows while the flow is in it: this says what the lookup would. */
	if (last && len <= last->len && same_size_key(&key, &last->key))
		return 0;
	seen = bpf_map_lookup_elem(&largest_df, &key);
	if (seen && *seen >= len) {
		len = *seen;
		grew = 0;
	} else if (seen) {
		*seen = len; /* racing CPUs may both report: harmless, never wrong */
		grew = 1;
	} else if (bpf_map_update_elem(&largest_df, &key, &len, BPF_ANY)) {
		count_loss(PMTU_LOSS_FLOW_TABLE);
		return 0;
	} else {
		grew = 1;
	}
	if (last) {
		last->key = key;
		last->len = len;
	}
	return grew;
}

static __always_inline int observe(struct __sk_buff *ctx, __u8 dir)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct wire w = {};
	struct pmtu_event *ev;
	__u32 netns = 0;
	__u8 kind;

	if (!read_wire(ctx, skb, &w))
		return TC_ACT_UNSPEC;

	if (w.ptb) {
		/* Sent by this host's own ICMP socket (not forwarded): IPv6 has no icmp_send tracepoint. */
		int local = dir == PMTU_DIR_EGRESS && ctx->sk;

		kind = local && w.family == 6 ? PMTU_KIND_PTB_SENT : PMTU_KIND_PTB;
	} else if (w.syn) {
		kind = PMTU_KIND_SYN;
	} else if (w.df && w.l3_len >= pmtu_cfg.size_report_min) {
		netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
		if (!df_size_grew(&w, netns, ctx->ifindex, dir))
			return TC_ACT_UNSPEC;
		kind = PMTU_KIND_SIZE;
	} else {
		return TC_ACT_UNSPEC;
	}

	ev = reserve_event(kind);
	if (!ev)
		return TC_ACT_UNSPEC;
	ev->dir = dir;
	ev->vlan = w.vlan;
	ev->len = w.l3_len;
	if (w.gso)
		ev->flags |= PMTU_F_GSO;
	if (kind != PMTU_KIND_SIZE && ctx->sk && dir == PMTU_DIR_EGRESS)
		ev->flags |= PMTU_F_LOCAL;
	fill_dev(ev, skb->dev);
	ev->mtu = BPF_CORE_READ(skb, dev, mtu); /* a PTB's parse replaces it with the advertised MTU */

	/* 64-bit on purpose: clang 14 would test a 32-bit copy and pass the 64-bit one. */
	__u64 avail = ctx->len;

	avail = avail > w.l3 ? avail - w.l3 : 0;
	if (avail > PMTU_SNAP_LEN)
		avail = PMTU_SNAP_LEN;
	if (avail && bpf_skb_load_bytes(ctx, w.l3, ev->snap, avail) == 0)
		ev->snap_len = avail;

	int l4 = pmtu_parse_snapshot(ev);

	if (kind == PMTU_KIND_SYN) {
		if (w.tcp_flags & TCP_FLAG_ACK)
			ev->flags |= PMTU_F_SYNACK;
		if (l4 >= 0)
			ev->mss = pmtu_tcp_mss(ev, l4);
	}
	bpf_ringbuf_submit(ev, 0);
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
