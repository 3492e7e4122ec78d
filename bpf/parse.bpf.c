// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One parser of IP headers over a packet snapshot, so every signal reads
 * addresses, ports, ICMP errors and the flows they quote the same way.
 * Attacker-controlled bytes: every offset is checked against the valid
 * length before it is used.
 */
#include "common.bpf.h"

#define SNAP_MASK (PMTU_SNAP_LEN - 1)
_Static_assert((PMTU_SNAP_LEN & SNAP_MASK) == 0, "snapshot length must be a power of two");

/*
 * Snapshot reads mask every index, so the verifier can bound each access
 * inside the snapshot; callers check offsets against the valid length first,
 * which makes the masks no-ops on the values they keep.
 */
static __always_inline __u8 sb(const __u8 *snap, __u32 i)
{
	barrier_var(i); /* keep the mask: clang may drop it, the verifier needs it */
	return snap[i & SNAP_MASK];
}

static __always_inline __u16 sb16(const __u8 *snap, __u32 i)
{
	return ((__u16)sb(snap, i) << 8) | sb(snap, i + 1);
}

static __always_inline void sb_copy(__u8 *dst, const __u8 *snap, __u32 i, __u32 n)
{
	for (__u32 k = 0; k < n; k++)
		dst[k] = sb(snap, i + k);
}

/*
 * Parses the IP header at 'off' of a snapshot holding 'len' valid bytes.
 * Fills the flow and returns the offset of the L4 header, or -1 when the
 * header is cut short or is no IP at all; *fragment says whether it is a
 * later fragment (no L4 header, no tunnel header). Offsets are masked so the verifier
 * can bound every access inside the snapshot.
 */
static __always_inline int parse_ip(const __u8 *snap, __u32 len, __u32 off, struct pmtu_flow *f,
				    int *fragment)
{
	__u32 l4;
	__u8 proto;
	int later_fragment = 0;

	if (off > PMTU_SNAP_LEN - 20 || off + 20 > len)
		return -1;

	if ((sb(snap, off) >> 4) == 4) {
		__u32 ihl = (sb(snap, off) & 0xf) * 4;

		if (ihl < 20)
			return -1;
		f->family = 4;
		f->len = sb16(snap, off + 2);
		proto = sb(snap, off + 9);
		later_fragment = sb16(snap, off + 6) & 0x1fff;
		sb_copy(f->saddr, snap, off + 12, 4);
		sb_copy(f->daddr, snap, off + 16, 4);
		l4 = off + ihl;
	} else if ((sb(snap, off) >> 4) == 6) {
		if (off > PMTU_SNAP_LEN - 40 || off + 40 > len)
			return -1;
		f->family = 6;
		f->len = sb16(snap, off + 4) + 40;
		proto = sb(snap, off + 6);
		sb_copy(f->saddr, snap, off + 8, 16);
		sb_copy(f->daddr, snap, off + 24, 16);
		l4 = off + 40;
		/* Hop-by-hop, routing, fragment and destination options, at most four. */
		for (int i = 0; i < 4; i++) {
			if (proto != 0 && proto != 43 && proto != 44 && proto != 60)
				break;
			if (l4 > PMTU_SNAP_LEN - 8 || l4 + 8 > len)
				return -1;
			if (proto == 44) {
				later_fragment = sb16(snap, l4 + 2) & 0xfff8;
				proto = sb(snap, l4);
				l4 += 8;
			} else {
				proto = sb(snap, l4);
				l4 += (sb(snap, l4 + 1) + 1) * 8;
			}
		}
	} else {
		return -1;
	}
	f->proto = proto;
	*fragment = later_fragment;
	if (is_port_proto(proto) && !later_fragment && l4 <= PMTU_SNAP_LEN - 4 && l4 + 4 <= len) {
		f->sport = sb16(snap, l4);
		f->dport = sb16(snap, l4 + 2);
	}
	return l4;
}

#define ETH_P_TEB 0x6558 /* transparent Ethernet bridging: GRETAP, Geneve */
#define GRE_CSUM 0x8000
#define GRE_ROUTING 0x4000
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007

/* The IP header after an Ethernet header at 'eth' (in a tunnel): its offset, or -1. */
static __always_inline int inner_ether(const __u8 *snap, __u32 len, __u32 eth, __u8 *family)
{
	__u16 type;

	if (eth > PMTU_SNAP_LEN - 14 || eth + 14 > len)
		return -1;
	type = sb16(snap, eth + 12);
	if (type == ETH_P_IP)
		*family = 4;
	else if (type == ETH_P_IPV6)
		*family = 6;
	else
		return -1; /* ARP, a VLAN tag inside the tunnel, anything else: not followed */
	return eth + 14;
}

/*
 * One level of encapsulation: for the IP header at 'off' (parsed into t, its
 * L4 header at l4), the offset of the IP header its tunnel carries, with e
 * filled; -1 when it is no tunnel known here or the tunnel's own header is
 * cut short. Whether the inner IP header is there, and whole, is the
 * caller's to check (parse_ip).
 * A tunnel inside a tunnel is not followed: IPVS's IPIP, overlays (VXLAN,
 * Geneve) and GRE links are one level deep.
 */
static __always_inline int parse_tunnel(const __u8 *snap, __u32 len, __u32 off, const struct pmtu_flow *t,
					__u32 l4, struct pmtu_encap *e)
{
	__u8 type, family = 0;
	__u32 id = 0;
	int in;

	if (l4 > PMTU_SNAP_LEN - 8)
		return -1;
	if (t->proto == IPPROTO_IPIP || t->proto == IPPROTO_IPV6) {
		family = t->proto == IPPROTO_IPIP ? 4 : 6;
		if (t->family == 4)
			type = family == 4 ? PMTU_ENCAP_IPIP : PMTU_ENCAP_SIT;
		else
			type = family == 4 ? PMTU_ENCAP_IP4IP6 : PMTU_ENCAP_IP6IP6;
		in = l4;
	} else if (t->proto == IPPROTO_GRE) {
		__u16 flags, ptype;
		__u32 h = 4;

		if (l4 + 4 > len)
			return -1;
		flags = sb16(snap, l4);
		ptype = sb16(snap, l4 + 2);
		/* Version 0 only (1 is PPTP's); source routing is long deprecated (RFC 2784). */
		if (flags & (GRE_ROUTING | GRE_VERSION))
			return -1;
		if (flags & GRE_CSUM)
			h += 4;
		if (flags & GRE_KEY) {
			if (l4 + h + 4 > len)
				return -1;
			id = ((__u32)sb16(snap, l4 + h) << 16) | sb16(snap, l4 + h + 2);
			h += 4;
		}
		if (flags & GRE_SEQ)
			h += 4;
		if (l4 + h > len)
			return -1;
		if (ptype == ETH_P_TEB) {
			type = PMTU_ENCAP_GRETAP;
			in = inner_ether(snap, len, l4 + h, &family);
		} else {
			type = PMTU_ENCAP_GRE;
			family = ptype == ETH_P_IP ? 4 : ptype == ETH_P_IPV6 ? 6 : 0;
			in = family ? (int)(l4 + h) : -1;
		}
	} else if (t->proto == IPPROTO_UDP && is_tunnel_port(t->dport)) {
		__u32 g = l4 + 8; /* the tunnel's header, after UDP's */

		if (g + 8 > len)
			return -1;
		id = ((__u32)sb16(snap, g + 4) << 8) | sb(snap, g + 6);
		if (t->dport != GENEVE_PORT) {
			/* The I flag says the VNI is valid (RFC 7348); a header without it is no VXLAN. */
			if (!(sb(snap, g) & 0x08))
				return -1;
			type = PMTU_ENCAP_VXLAN;
			in = inner_ether(snap, len, g + 8, &family);
		} else {
			__u32 opts = (sb(snap, g) & 0x3f) * 4;
			__u16 ptype = sb16(snap, g + 2);

			if (sb(snap, g) >> 6) /* version 0 only */
				return -1;
			type = PMTU_ENCAP_GENEVE;
			if (ptype == ETH_P_TEB) {
				in = inner_ether(snap, len, g + 8 + opts, &family);
			} else {
				family = ptype == ETH_P_IP ? 4 : ptype == ETH_P_IPV6 ? 6 : 0;
				in = family && g + 8 + opts <= len ? (int)(g + 8 + opts) : -1;
			}
		}
	} else {
		return -1;
	}
	if (in < 0 || in > PMTU_SNAP_LEN - 1)
		return -1;
	/* The header must be the IP version its tunnel says it carries (a quote may end before it). */
	if ((__u32)in < len && (sb(snap, in) >> 4) != family)
		return -1;
	e->type = type;
	e->family = t->family;
	e->overhead = in - off;
	e->id = id;
	if (t->proto == IPPROTO_UDP) {
		e->sport = t->sport;
		e->dport = t->dport;
	}
	__builtin_memcpy(e->saddr, t->saddr, 16);
	__builtin_memcpy(e->daddr, t->daddr, 16);
	return in;
}

/*
 * parse_ip() and parse_tunnel() over an event's snapshot, as global functions:
 * pmtu_parse_snapshot() calls each more than once (the packet, its tunnel's
 * packet, a quote, the quote's tunnel's packet), and inlined they multiply
 * the paths the verifier walks past its limit. Verified once each instead.
 */
int pmtu_parse_ip(const struct pmtu_event *ev, __u32 off, struct pmtu_flow *f, int *fragment)
{
	if (!ev || !f || !fragment)
		return -1;
	return parse_ip(ev->snap, ev->snap_len, off, f, fragment);
}

int pmtu_parse_tunnel(const struct pmtu_event *ev, __u32 off, const struct pmtu_flow *t, __u32 l4,
		      struct pmtu_encap *e)
{
	if (!ev || !t || !e)
		return -1;
	return parse_tunnel(ev->snap, ev->snap_len, off, t, l4, e);
}

/* Whether a header's protocol (and UDP port) can be a tunnel's: spares most packets the call. */
static __always_inline int maybe_tunnel(const struct pmtu_flow *f)
{
	return f->proto == IPPROTO_IPIP || f->proto == IPPROTO_IPV6 || f->proto == IPPROTO_GRE ||
	       (f->proto == IPPROTO_UDP && is_tunnel_port(f->dport));
}

/* True for the ICMP/ICMPv6 types that quote the packet they complain about. */
static __always_inline int is_icmp_error(__u8 family, __u8 proto, __u8 type)
{
	if (family == 4 && proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	if (family == 6 && proto == IPPROTO_ICMPV6_)
		return type >= 1 && type <= 4;
	return 0;
}

/*
 * Parses the snapshot of ev (the packet from its network header on) into
 * ev->outer and, for ICMP errors, ev->inner, the ICMP type/code and, for
 * frag-needed / Packet Too Big, the advertised MTU in ev->mtu. A packet in
 * a tunnel (ev->encap, not quoted) is described by the packet inside it:
 * ev->outer is the inner packet's flow, and the offsets returned are its.
 * An ICMP error quoting a tunnel's packet (ev->encap.quoted) quotes the flow
 * inside it in ev->inner, when the quote reaches the inner IP header; when it
 * does not (an RFC 792 router's 8 bytes past the tunnel's header), ev->inner
 * stays the tunnel's own flow, flagged PMTU_F_INNER_TRUNC. One level: inside
 * a tunnel's packet, a quote is not decapsulated again.
 * Returns the L4 offset or -1.
 */
int pmtu_parse_snapshot(struct pmtu_event *ev)
{
	if (!ev) /* global function: the verifier cannot assume a caller */
		return -1;

	__u32 len = ev->snap_len;
	int frag = 0;
	int l4 = pmtu_parse_ip(ev, 0, &ev->outer, &frag);
	int in = -1, inner_l4;
	__u32 o;

	if (l4 < 0)
		return -1;
	if (ev->outer.family == 4) {
		/* DF lives in the IPv4 header; IPv6 routers never fragment. The tunnel's
		 * own header decides whether the path may fragment its packets. */
		if (sb16(ev->snap, 6) & 0x4000)
			ev->flags |= PMTU_F_DF;
	} else if (ev->outer.family == 6) {
		ev->flags |= PMTU_F_DF;
	}

	if (!frag && maybe_tunnel(&ev->outer))
		in = pmtu_parse_tunnel(ev, 0, &ev->outer, l4, &ev->encap);
	if (in >= 0) {
		struct pmtu_flow f = {};
		int l = pmtu_parse_ip(ev, in, &f, &frag);

		if (l >= 0) {
			__builtin_memcpy(&ev->outer, &f, sizeof(f));
			l4 = l;
		} else {
			/* Not a whole inner header: the packet is what it looks like from outside. */
			__builtin_memset(&ev->encap, 0, sizeof(ev->encap));
		}
	}

	o = l4;
	if (o > PMTU_SNAP_LEN - 8 || o + 8 > len)
		return l4;
	if (!is_icmp_error(ev->outer.family, ev->outer.proto, sb(ev->snap, o)))
		return l4;

	ev->flags |= PMTU_F_ICMP_ERR;
	ev->icmp_type = sb(ev->snap, o);
	ev->icmp_code = sb(ev->snap, o + 1);
	if (ev->outer.family == 4 && ev->icmp_type == ICMP_DEST_UNREACH &&
	    ev->icmp_code == ICMP_FRAG_NEEDED)
		ev->mtu = sb16(ev->snap, o + 6);
	else if (ev->outer.family == 6 && ev->icmp_type == ICMPV6_PKT_TOOBIG)
		ev->mtu = ((__u32)sb16(ev->snap, o + 4) << 16) |
			  sb16(ev->snap, o + 6);

	/* The quoted header: a PTB quoting garbage still says who sent it. */
	inner_l4 = pmtu_parse_ip(ev, o + 8, &ev->inner, &frag);
	if (inner_l4 >= 0 && !frag && !ev->encap.type && maybe_tunnel(&ev->inner)) {
		in = pmtu_parse_tunnel(ev, o + 8, &ev->inner, inner_l4, &ev->encap);
		if (in >= 0) {
			struct pmtu_flow f = {};
			int l = pmtu_parse_ip(ev, in, &f, &frag);

			ev->encap.quoted = 1;
			if (l >= 0) {
				__builtin_memcpy(&ev->inner, &f, sizeof(f));
				inner_l4 = l;
			} else {
				inner_l4 = -1; /* the tunnel is named; the flow inside is cut off */
			}
		}
	}

	if (inner_l4 < 0 || (is_port_proto(ev->inner.proto) && inner_l4 + 4 > len))
		ev->flags |= PMTU_F_INNER_TRUNC;
	return l4;
}

/* MSS option of the TCP header at l4 in the snapshot, or 0. */
__u16 pmtu_tcp_mss(struct pmtu_event *ev, __u32 l4)
{
	__u32 doff, o, end;

	if (!ev)
		return 0;
	if (l4 > PMTU_SNAP_LEN - 20 || l4 + 20 > ev->snap_len)
		return 0;
	doff = (sb(ev->snap, l4 + 12) >> 4) * 4;
	end = l4 + doff;
	if (end > ev->snap_len)
		end = ev->snap_len;
	o = l4 + 20;
	for (int i = 0; i < 40 && o < end; i++) {
		__u8 kind, optlen;

		if (o > PMTU_SNAP_LEN - 4)
			return 0;
		kind = sb(ev->snap, o);
		if (kind == 0) /* end of options */
			return 0;
		if (kind == 1) { /* no-op padding */
			o++;
			continue;
		}
		optlen = sb(ev->snap, o + 1);
		if (kind == 2 && optlen == 4 && o + 4 <= end)
			return sb16(ev->snap, o + 2);
		if (optlen < 2)
			return 0;
		o += optlen;
	}
	return 0;
}

