// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP retransmissions of large segments after a retransmission timeout, every
 * namespace: the symptom of a silent black hole, where large segments vanish
 * and no PTB ever arrives. Fast retransmits (loss recovery that works: the
 * segments after the lost one were acknowledged) are not reported; a timeout
 * counts, and the number of timeouts in a row (the RTO backing off) says how
 * sure it is.
 */
#include "flow_table.bpf.h"

#define AF_INET 2
#define AF_INET6 10

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(pmtu_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u32 mss = BPF_CORE_READ(tp, mss_cache);
	__u32 payload = BPF_CORE_READ(skb, len);
	/* Counted before the retransmission since 6.0 (tcp_update_rto_stats), after it before. */
	__u8 timeouts = BPF_CORE_READ((const struct inet_connection_sock *)sk, icsk_retransmits);

	/* A dual-stack socket talking IPv4 (::ffff:a.b.c.d) sends IPv4 packets:
	 * report it as IPv4 so it matches the flow the other events name. */
	if (family == AF_INET6) {
		struct in6_addr d = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);

		if (d.in6_u.u6_addr32[0] == 0 && d.in6_u.u6_addr32[1] == 0 &&
		    d.in6_u.u6_addr32[2] == bpf_htonl(0xffff))
			family = AF_INET;
	}
	__u32 ip_hdr = family == AF_INET6 ? 40 : 20;
	struct pmtu_event *ev;
	struct dst_entry *dst;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	/* One segment of it on the wire: payload, TCP header with options, IP header. */
	if (payload > mss)
		payload = mss;
	__u32 seg_len = payload + BPF_CORE_READ(tp, tcp_header_len) + ip_hdr;

	if (seg_len < pmtu_cfg.size_report_min || !timeouts)
		return 0;
	ev = reserve_event(PMTU_KIND_RETRANSMIT);
	if (!ev)
		return 0;
	ev->dir = PMTU_DIR_EGRESS;
	ev->len = seg_len;
	ev->mss = mss;
	ev->timeouts = timeouts;
	ev->outer.proto = IPPROTO_TCP;
	ev->outer.len = seg_len;
	ev->outer.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->outer.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__be32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		ev->outer.family = 4;
		__builtin_memcpy(ev->outer.saddr, &saddr, sizeof(saddr));
		__builtin_memcpy(ev->outer.daddr, &daddr, sizeof(daddr));
	} else {
		struct in6_addr saddr = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr daddr = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);

		ev->outer.family = 6;
		__builtin_memcpy(ev->outer.saddr, &saddr, sizeof(saddr));
		__builtin_memcpy(ev->outer.daddr, &daddr, sizeof(daddr));
	}
	ev->flags |= PMTU_F_DF; /* Linux TCP sets DF whenever PMTUD is on */
	dst = BPF_CORE_READ(sk, sk_dst_cache);
	if (dst) {
		fill_dev(ev, BPF_CORE_READ(dst, dev));
		ev->mtu = route_mtu(dst);
	} else {
		ev->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	pmtu_flow_join(ev, 0);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
