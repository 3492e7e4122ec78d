/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's flow table: what pmtu-watch knows of every flow, per network
 * namespace, kept in an LRU map so a healthy flow costs map updates and never
 * a wake-up of userspace. tc.bpf.c writes it (SYNs, large DF packets); every
 * program that reports a flow joins its state to the event (flow_table.bpf.c).
 */
#ifndef PMTU_FLOW_TABLE_BPF_H
#define PMTU_FLOW_TABLE_BPF_H

#include "common.bpf.h"

/*
 * Namespace and canonical 5-tuple: endpoint a is the smaller (address, port),
 * so both directions of a flow share one entry.
 */
struct pmtu_flow_key {
	__u32 netns;
	__u8 family;
	__u8 proto;
	__u16 port_a;
	__u16 port_b;
	__u16 pad0;
	__u32 pad1;
	__u8 addr_a[16];
	__u8 addr_b[16];
};

_Static_assert(sizeof(struct pmtu_flow_key) == 48, "pmtu_flow_key layout changed");

/*
 * Each CPU keeps its own LRU list (BPF_F_NO_COMMON_LRU): a busy host creates
 * tens of thousands of flows a second on every CPU, and one list behind one
 * lock would have them wait for each other.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072); /* resized by native/ before load */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct pmtu_flow_key);
	__type(value, struct pmtu_flow_state);
} flows SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pmtu_traffic_key);
	__type(value, struct pmtu_traffic);
} traffic SEC(".maps") __weak;

/*
 * Fills key for flow f seen in netns. Returns the direction of f in the
 * entry (0: f's source is endpoint a), or -1 when f is no IP flow. Global:
 * verified once for every caller.
 */
extern int pmtu_flow_key(struct pmtu_flow_key *key, const struct pmtu_flow *f, __u32 netns);

/*
 * Joins the flow table's state of ev's subject (inner when 'inner', else
 * outer) in ev->netns to the event, oriented to the subject, and marks the
 * entry reported. Returns 1 when the table knew the flow.
 */
extern int pmtu_flow_join(struct pmtu_event *ev, int inner);

/* Copies a stored state into an event's, oriented to direction dir of the entry. */
static __always_inline void orient_state(struct pmtu_flow_state *out, const struct pmtu_flow_state *s,
					 int dir)
{
	__builtin_memcpy(out, s, sizeof(*out));
	out->flags |= PMTU_FS_KNOWN;
	if (dir) {
		out->largest[0] = s->largest[1];
		out->largest[1] = s->largest[0];
		/* The SYN came from b: from the subject's src, which is b. */
		out->flags ^= PMTU_FS_SYN_FROM_OTHER;
	}
}

/* Adds to this hook's traffic counters (a per-CPU slot: no atomics). */
static __always_inline struct pmtu_traffic *traffic_slot(__u32 netns, __u32 ifindex)
{
	struct pmtu_traffic_key key = { .netns = netns, .ifindex = ifindex };
	struct pmtu_traffic *t = bpf_map_lookup_elem(&traffic, &key);
	struct pmtu_traffic zero = {};

	if (t)
		return t;
	bpf_map_update_elem(&traffic, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&traffic, &key);
}

#endif /* PMTU_FLOW_TABLE_BPF_H */
