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
 * header is cut short or is no IP at all. Offsets are masked so the verifier
 * can bound every access inside the snapshot.
 */
static __always_inline int parse_ip(const __u8 *snap, __u32 len, __u32 off, struct pmtu_flow *f)
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
	if (is_port_proto(proto) && !later_fragment && l4 <= PMTU_SNAP_LEN - 4 && l4 + 4 <= len) {
		f->sport = sb16(snap, l4);
		f->dport = sb16(snap, l4 + 2);
	}
	return l4;
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
 * frag-needed / Packet Too Big, the advertised MTU in ev->mtu.
 * Returns the L4 offset or -1.
 */
int pmtu_parse_snapshot(struct pmtu_event *ev)
{
	if (!ev) /* global function: the verifier cannot assume a caller */
		return -1;

	__u32 len = ev->snap_len;
	int l4 = parse_ip(ev->snap, len, 0, &ev->outer);
	__u32 o;

	if (l4 < 0)
		return -1;
	if (ev->outer.family == 4) {
		/* DF lives in the IPv4 header; IPv6 routers never fragment. */
		if (sb16(ev->snap, 6) & 0x4000)
			ev->flags |= PMTU_F_DF;
	} else if (ev->outer.family == 6) {
		ev->flags |= PMTU_F_DF;
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
	int inner_l4 = parse_ip(ev->snap, len, o + 8, &ev->inner);

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

