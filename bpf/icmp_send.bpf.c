// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * "Fragmentation needed" this host generates (IPv4 icmp_send tracepoint, every
 * namespace). IPv6 has no such tracepoint: tc.bpf.c reports PTBs leaving a
 * watched interface from this host's own ICMPv6 socket instead.
 */
#include "flow_table.bpf.h"

SEC("tp_btf/icmp_send")
int BPF_PROG(pmtu_icmp_send, const struct sk_buff *skb, int type, int code)
{
	struct pmtu_event *ev;
	struct dst_entry *dst;
	struct pmtu_flow quoted = {};

	if (type != ICMP_DEST_UNREACH || code != ICMP_FRAG_NEEDED)
		return 0;
	ev = reserve_event(PMTU_KIND_PTB_SENT);
	if (!ev)
		return 0;
	ev->dir = PMTU_DIR_NONE;
	ev->flags = PMTU_F_LOCAL | PMTU_F_ICMP_ERR;
	ev->icmp_type = type;
	ev->icmp_code = code;
	ev->len = skb_l3_len(skb);
	fill_dev(ev, BPF_CORE_READ(skb, dev));

	/* The packet that did not fit is what the PTB will quote (DF is its flag). */
	snapshot_kernel_skb(ev, skb);
	pmtu_parse_snapshot(ev);
	__builtin_memcpy(&quoted, &ev->outer, sizeof(quoted));
	__builtin_memcpy(&ev->inner, &quoted, sizeof(quoted));
	__builtin_memset(&ev->outer, 0, sizeof(ev->outer));
	/* A tunnel's packet: the PTB will quote its header, and the flow is the one inside. */
	if (ev->encap.type) {
		ev->encap.quoted = 1;
		if (ev->len > ev->encap.overhead)
			ev->len -= ev->encap.overhead;
	}
	pmtu_flow_join(ev, 1);

	/* The MTU it will advertise is the route's (ip_forward / ip_dst_mtu_maybe_forward). */
	dst = skb_route(skb);
	if (dst) {
		ev->mtu = route_mtu(dst);
		fill_mtu_dev(ev, BPF_CORE_READ(dst, dev));
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
