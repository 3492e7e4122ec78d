/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between bpf/ and native/: the one record every program writes
 * to the ring buffer. Layout is fixed-width and explicitly padded so that
 * native/ can hand the bytes to JavaScript untouched.
 *
 * The TypeScript decoder in src/observer/decode.ts mirrors this layout field
 * by field (offsets in RECORD_LAYOUT): change both together, and the size
 * assertion at the bottom.
 */
#ifndef PMTU_EVENTS_H
#define PMTU_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PMTU_SNAP_LEN 128 /* bytes of packet kept from the network header on */
#define PMTU_IFNAME_LEN 16

enum pmtu_kind {
	PMTU_KIND_PTB = 1,	  /* ICMP frag-needed / ICMPv6 PTB on a watched hook */
	PMTU_KIND_PTB_SENT = 2,	  /* this host generated a frag-needed / PTB */
	PMTU_KIND_DROP = 3,	  /* kfree_skb of an oversize packet or an ICMP error */
	PMTU_KIND_SYN = 4,	  /* SYN or SYN-ACK carrying an MSS option */
	PMTU_KIND_RETRANSMIT = 5, /* tcp_retransmit_skb */
	PMTU_KIND_SIZE = 6,	  /* a flow's largest DF packet grew */
};

enum pmtu_dir {
	PMTU_DIR_NONE = 0, /* seen by a tracepoint, not a hook */
	PMTU_DIR_INGRESS = 1,
	PMTU_DIR_EGRESS = 2,
};

enum pmtu_flags {
	PMTU_F_DF = 1 << 0,	   /* IPv4 DF set (always for IPv6) */
	PMTU_F_GSO = 1 << 1,	   /* len is a GSO segment size, not the skb length */
	PMTU_F_ICMP_ERR = 1 << 2,  /* the packet is an ICMP/ICMPv6 error; inner is valid */
	PMTU_F_OVERSIZE = 1 << 3,  /* len exceeded mtu (drop events) */
	PMTU_F_SYNACK = 1 << 4,	   /* SYN event is a SYN-ACK */
	PMTU_F_INNER_TRUNC = 1 << 5, /* the ICMP error quoted less than a full L4 header */
	PMTU_F_LOCAL = 1 << 6,	   /* a PTB that this host's own stack sent */
};

/* Addresses in network byte order; IPv4 uses the first 4 bytes. */
struct pmtu_flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; /* host byte order; 0 when the protocol has none */
	__u16 dport;
	__u8 proto;  /* IPPROTO_* (ICMPv6 = 58) */
	__u8 family; /* 4, 6, or 0 when absent */
	__u16 len;   /* length the IP header states (total / payload + 40) */
};

struct pmtu_event {
	__u8 kind;	/* enum pmtu_kind; first, so readers can dispatch */
	__u8 dir;	/* enum pmtu_dir */
	__u8 flags;	/* enum pmtu_flags */
	__u8 icmp_type; /* ICMP errors: type and code of the outer ICMP */
	__u8 icmp_code;
	__u8 pad0;
	__u16 snap_len; /* valid bytes in snap */
	__u64 ts_ns;	/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 netns;	/* inode of the network namespace of ifindex */
	__u32 ifindex;
	__u32 mtu;	/* PTB: advertised; drop: the device's/route's it exceeded;
			 * syn/size: the hook's device's; retransmit: the route's */
	__u32 len;	/* L3 length of the packet (segment size with PMTU_F_GSO) */
	__u32 reason;	/* drop: enum skb_drop_reason value; userspace names it via BTF */
	__u16 mss;	/* SYN: the MSS option; retransmit: the socket's mss_cache */
	__u16 vlan;	/* outer VLAN id, 0 when untagged */
	__u32 mtu_ifindex; /* the device whose MTU is 'mtu', when it is not ifindex */
	__u32 mtu_netns;
	char ifname[PMTU_IFNAME_LEN];
	char mtu_ifname[PMTU_IFNAME_LEN];
	struct pmtu_flow outer; /* the packet itself */
	struct pmtu_flow inner; /* the flow an ICMP error quotes */
	__u8 snap[PMTU_SNAP_LEN];
};

/* Change src/observer/decode.ts (RECORD_SIZE and offsets) with this. */
#ifdef __cplusplus
#define PMTU_STATIC_ASSERT static_assert
#else
#define PMTU_STATIC_ASSERT _Static_assert
#endif
PMTU_STATIC_ASSERT(sizeof(struct pmtu_flow) == 40, "pmtu_flow layout changed");
PMTU_STATIC_ASSERT(sizeof(struct pmtu_event) == 288, "pmtu_event layout changed");

/* Indexes of the per-CPU loss counters map ("losses"). */
enum pmtu_loss {
	PMTU_LOSS_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve failed */
	PMTU_LOSS_FLOW_TABLE = 1,   /* largest-size LRU map update failed */
	PMTU_LOSS_MAX = 2,
};

/* Read-only settings, written by native/ between open and load. */
struct pmtu_config {
	__u32 size_report_min; /* report a flow's largest DF size from this many bytes */
	__u32 watch_all_drops; /* 1: report every oversize drop, even below size_report_min */
	/*
	 * Who loaded the programs (pid and pid namespace inode): a later run that
	 * finds our tc filters with no process left holding their program names
	 * the pmtu-watch that was killed. Never read by the programs.
	 */
	__u32 owner_pid;
	__u32 owner_pidns;
};

#endif /* PMTU_EVENTS_H */
