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

/*
 * Bytes of packet kept from the network header on: enough for a PTB over IPv6
 * quoting an IPv6 packet inside an IPv6 tunnel, with its ports
 * (40 + 8 + 40 + 40 + 4), and for a VXLAN-in-IPv6 SYN's MSS option.
 */
#define PMTU_SNAP_LEN 256
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
	/*
	 * An ICMP error whose quoted packet cannot have come from the host it is
	 * sent to (quoted source != outer destination): forged, whatever it says.
	 */
	PMTU_F_QUOTE_MISMATCH = 1 << 7,
};

/*
 * pmtu_encap.type: the tunnel around the event's subject flow. One level:
 * a tunnel inside a tunnel is reported as the outer one's inner packet.
 */
enum pmtu_encap_type {
	PMTU_ENCAP_NONE = 0,
	PMTU_ENCAP_IPIP = 1,   /* IPv4 in IPv4 (protocol 4) */
	PMTU_ENCAP_SIT = 2,    /* IPv6 in IPv4 (protocol 41) */
	PMTU_ENCAP_IP6IP6 = 3, /* IPv6 in IPv6 (next header 41) */
	PMTU_ENCAP_IP4IP6 = 4, /* IPv4 in IPv6 (next header 4) */
	PMTU_ENCAP_GRE = 5,    /* GRE (protocol 47) carrying IPv4 or IPv6, over either */
	PMTU_ENCAP_GRETAP = 6, /* GRE carrying Ethernet (0x6558) */
	PMTU_ENCAP_VXLAN = 7,  /* UDP to 4789 (or Linux's old default 8472), inner Ethernet */
	PMTU_ENCAP_GENEVE = 8, /* UDP to 6081, options, inner Ethernet (or IP) */
};

/* pmtu_flow_state.flags */
enum pmtu_flow_flags {
	PMTU_FS_KNOWN = 1 << 0,	     /* events: the flow table had this flow in this namespace */
	PMTU_FS_REPORTED = 1 << 1,   /* an event carried it: its later SYNs and sizes are reported too */
	PMTU_FS_SYN = 1 << 2,	     /* a SYN was seen (mss_*[0] are valid) */
	PMTU_FS_SYNACK = 1 << 3,     /* a SYN-ACK was seen (mss_*[1] are valid) */
	/* Stored: the SYN was sent by endpoint b. Events: by the subject's dst. */
	PMTU_FS_SYN_FROM_OTHER = 1 << 4,
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

/*
 * The tunnel header around the event's subject flow: the packet's own (the
 * event's flow fields then describe the packet inside it) or, with 'quoted',
 * the one an ICMP error quotes (its inner flow is the packet inside that).
 */
struct pmtu_encap {
	__u8 type;	/* enum pmtu_encap_type; 0: no tunnel */
	__u8 family;	/* of the tunnel's own IP header */
	__u8 quoted;	/* 1: the tunnel header is inside an ICMP error's quote */
	__u8 pad0;
	__u16 overhead; /* bytes from the tunnel's IP header to the inner IP header */
	__u16 pad1;
	__u32 id;	/* VXLAN / Geneve VNI, GRE key; 0 when none */
	__u16 sport;	/* a UDP tunnel's ports (host byte order), 0 for the others */
	__u16 dport;
	__u8 saddr[16]; /* the tunnel's endpoints, network byte order */
	__u8 daddr[16];
};

/*
 * What the kernel's flow table (bpf/flow_table.bpf.h) knows of a flow in one
 * namespace. Stored oriented to the key (direction 0 is endpoint a -> b);
 * joined to an event, oriented to the event's subject (the packet's own
 * flow, or the one an ICMP error quotes): direction 0 is its src -> dst.
 */
struct pmtu_flow_state {
	__u64 first_ns;
	__u64 last_ns;
	__u16 mss_first[2]; /* [0] the SYN's MSS, [1] the SYN-ACK's, where first seen */
	__u16 mss_last[2];  /* ... and where last seen: they differ when a hop rewrote it */
	__u32 mss_first_ifindex[2];
	__u32 mss_last_ifindex[2];
	__u16 largest[2]; /* largest DF packet (one GSO segment's size) per direction */
	__u16 min_mtu;	  /* smallest MTU of the hooks the flow crossed, 0 when none yet */
	__u8 flags;	  /* enum pmtu_flow_flags */
	__u8 pad0;
	__u32 min_mtu_ifindex;
	__u32 pad1;
};

struct pmtu_event {
	__u8 kind;	/* enum pmtu_kind; first, so readers can dispatch */
	__u8 dir;	/* enum pmtu_dir */
	__u8 flags;	/* enum pmtu_flags */
	__u8 icmp_type; /* ICMP errors: type and code of the outer ICMP */
	__u8 icmp_code;
	__u8 timeouts;	/* retransmit: the socket's consecutive retransmission timeouts (icsk_retransmits) */
	__u16 snap_len; /* valid bytes in snap */
	__u64 ts_ns;	/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 netns;	/* inode of the network namespace of ifindex */
	__u32 ifindex;
	__u32 mtu;	/* PTB: advertised; drop: the device's/route's it exceeded;
			 * syn/size: the hook's device's (the tunnel's overhead not
			 * taken off); retransmit: the route's */
	__u32 len;	/* L3 length of the packet (segment size with PMTU_F_GSO); inside a
			 * tunnel (encap, not quoted) the inner packet's: the wire
			 * carries len + encap.overhead */
	__u32 reason;	/* drop: enum skb_drop_reason value; userspace names it via BTF */
	__u16 mss;	/* SYN: the MSS option; retransmit: the socket's mss_cache */
	__u16 vlan;	/* outer VLAN id, 0 when untagged */
	__u32 mtu_ifindex; /* the device whose MTU is 'mtu', when it is not ifindex */
	__u32 mtu_netns;
	char ifname[PMTU_IFNAME_LEN];
	char mtu_ifname[PMTU_IFNAME_LEN];
	struct pmtu_flow outer; /* the packet itself (inside its tunnel, when encap is its own) */
	struct pmtu_flow inner; /* the flow an ICMP error quotes (inside the quoted tunnel) */
	struct pmtu_flow_state state; /* the subject flow's kernel state, joined in the kernel */
	struct pmtu_encap encap;      /* the tunnel around the subject flow, type 0 when none */
	__u8 snap[PMTU_SNAP_LEN];     /* from the outermost IP header on */
};

/* Change src/observer/decode.ts (RECORD_SIZE and offsets) with this. */
#ifdef __cplusplus
#define PMTU_STATIC_ASSERT static_assert
#else
#define PMTU_STATIC_ASSERT _Static_assert
#endif
PMTU_STATIC_ASSERT(sizeof(struct pmtu_flow) == 40, "pmtu_flow layout changed");
PMTU_STATIC_ASSERT(sizeof(struct pmtu_flow_state) == 56, "pmtu_flow_state layout changed");
PMTU_STATIC_ASSERT(sizeof(struct pmtu_encap) == 48, "pmtu_encap layout changed");
PMTU_STATIC_ASSERT(sizeof(struct pmtu_event) == 520, "pmtu_event layout changed");

/* Indexes of the per-CPU loss counters map ("losses"). */
enum pmtu_loss {
	PMTU_LOSS_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve failed */
	PMTU_LOSS_FLOW_TABLE = 1,   /* a flow in trouble's state gave its way to a new flow (a full bucket) */
	PMTU_LOSS_MAX = 2,
};

/* Healthy traffic as counts: per namespace and interface, per CPU ("traffic"). */
struct pmtu_traffic_key {
	__u32 netns;
	__u32 ifindex;
};

struct pmtu_traffic {
	__u64 syns;	/* SYNs (without ACK) crossing the hook */
	__u64 synacks;
	__u64 flows;	/* flows the flow table first saw at this hook */
	__u64 ptbs;	/* frag-needed / Packet Too Big crossing the hook */
};

/*
 * A hook's counters in a slot of a per-CPU array (bpf/flow_table.bpf.c): the
 * first hook to land on a slot keeps it; the others count in the LRU map.
 */
struct pmtu_traffic_slot {
	struct pmtu_traffic_key key; /* 0 and 0: free */
	struct pmtu_traffic counts;
};

#define PMTU_TRAFFIC_SLOTS 64 /* a power of two */

/* Flows a bucket of the kernel's flow table holds (bpf/flow_table.bpf.h). */
#define PMTU_FLOW_WAYS 8

/* Read-only settings, written by native/ between open and load. */
struct pmtu_config {
	__u32 size_report_min; /* report a flow's largest DF size from this many bytes */
	__u32 watch_all_drops; /* 1: report every oversize drop, even below size_report_min */
	__u32 every_flow;      /* 1: every SYN and largest-size growth is an event (pre-0.2 cost) */
	/*
	 * Who loaded the programs (pid and pid namespace inode): a later run that
	 * finds our tc filters with no process left holding their program names
	 * the pmtu-watch that was killed. Never read by the programs.
	 */
	__u32 owner_pid;
	__u32 owner_pidns;
	__u32 flow_bucket_mask; /* the flow table's buckets less one (a power of two) */
	__u32 pad0;
	__u64 flow_seed; /* the flow table's hash seed, random per load */
};

#endif /* PMTU_EVENTS_H */
