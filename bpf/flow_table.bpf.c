// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The flow table's keys, and the join of a flow's state to an event: the
 * kernel does it, so a PTB reaches userspace already knowing whether its flow
 * was ever seen here, the MSS at both ends and the largest size so far.
 */
#include "flow_table.bpf.h"

/* <0, 0, >0 as (address x, port px) compares to (y, py), in 4-byte words; any total order will do. */
static __always_inline int endpoint_cmp(const __u8 *x, __u16 px, const __u8 *y, __u16 py, int words)
{
	for (int i = 0; i < 4; i++) {
		__u32 a, b;

		if (i >= words)
			break;
		__builtin_memcpy(&a, x + 4 * i, 4);
		__builtin_memcpy(&b, y + 4 * i, 4);
		if (a != b)
			return a < b ? -1 : 1;
	}
	return px == py ? 0 : px < py ? -1 : 1;
}

int pmtu_flow_key(struct pmtu_flow_key *key, const struct pmtu_flow *f, __u32 netns)
{
	int n, dir;

	if (!key || !f)
		return -1;
	if (f->family != 4 && f->family != 6)
		return -1;
	n = f->family == 4 ? 4 : 16;
	__builtin_memset(key, 0, sizeof(*key));
	key->netns = netns;
	key->family = f->family;
	key->proto = f->proto;
	dir = endpoint_cmp(f->saddr, f->sport, f->daddr, f->dport, n / 4) > 0;
	if (!dir) {
		__builtin_memcpy(key->addr_a, f->saddr, 16);
		__builtin_memcpy(key->addr_b, f->daddr, 16);
		key->port_a = f->sport;
		key->port_b = f->dport;
	} else {
		__builtin_memcpy(key->addr_a, f->daddr, 16);
		__builtin_memcpy(key->addr_b, f->saddr, 16);
		key->port_a = f->dport;
		key->port_b = f->sport;
	}
	if (n == 4) { /* the parser leaves the rest of an IPv4 address as it found it */
		__builtin_memset(key->addr_a + 4, 0, 12);
		__builtin_memset(key->addr_b + 4, 0, 12);
	}
	return dir;
}

/*
 * An ICMP error goes back to the sender of the packet it quotes: one whose
 * quoted source is not its own destination cannot be genuine (NAT rewrites
 * both together), whatever flow it names.
 */
static __always_inline int quote_mismatch(const struct pmtu_event *ev)
{
	int n = ev->outer.family == 4 ? 4 : 16;
	/* A quoted tunnel packet was sent by the tunnel's source, not by the flow's inside it. */
	int tunnel = ev->encap.type && ev->encap.quoted;
	const __u8 *src = tunnel ? ev->encap.saddr : ev->inner.saddr;
	__u8 family = tunnel ? ev->encap.family : ev->inner.family;

	if (!family) /* quoted too little to say */
		return 0;
	if (family != ev->outer.family)
		return 1;
	for (int i = 0; i < 16; i++) {
		if (i >= n)
			break;
		if (src[i] != ev->outer.daddr[i])
			return 1;
	}
	return 0;
}

int pmtu_flow_join(struct pmtu_event *ev, int inner)
{
	struct pmtu_flow_key key;
	struct pmtu_flow_state *s;
	struct flow_ref ref;
	int dir;

	if (!ev)
		return 0;
	/* A generated PTB has no outer header yet: the stack that made it is the proof. */
	if (inner && ev->outer.family && quote_mismatch(ev)) {
		ev->flags |= PMTU_F_QUOTE_MISMATCH;
		return 0;
	}
	dir = pmtu_flow_key(&key, inner ? &ev->inner : &ev->outer, ev->netns);
	if (dir < 0)
		return 0;
	s = flow_lookup(&key, &ref);
	if (!s)
		return 0;
	/* From now on the flow is in trouble here: its SYNs and new sizes are reported too. */
	flow_mark_reported(&ref, s);
	orient_state(&ev->state, s, dir);
	return 1;
}

int pmtu_flow_find_way(const struct pmtu_flow_head *h, __u32 tag)
{
	if (!h)
		return -1;
	for (int i = 0; i < PMTU_FLOW_WAYS; i++)
		if (h->tag[i] == tag)
			return i;
	return -1;
}

int pmtu_flow_pick_way(const struct pmtu_flow_head *h, __u32 stamp)
{
	__u32 best = 0;
	int victim = 0;

	if (!h)
		return 0;
	for (int i = 0; i < PMTU_FLOW_WAYS; i++) {
		__u32 seen = h->seen[i], rank;

		if (!h->tag[i])
			return i;
		/* Its age, modulo the stamps' wrap; any flow not in trouble goes before every one in it. */
		rank = ((stamp - seen) & FLOW_SEEN_MASK) | (seen & FLOW_SEEN_REPORTED ? 0 : FLOW_SEEN_REPORTED);
		if (rank > best) {
			best = rank;
			victim = i;
		}
	}
	return victim;
}

/*
 * Most hooks count in a slot of an array, an inlined access, picked by a hash
 * of the hook: SYNs cross four hooks per connection on a veth pair, and the
 * LRU hash's lookup was a sixth of the tc programs' time on a busy host. The
 * first hook on a slot keeps it; one whose slot another holds counts in the
 * LRU map.
 */
static __always_inline struct pmtu_traffic *traffic_counters(__u32 netns, __u32 ifindex)
{
	__u32 i = ((netns ^ (ifindex * 0x9e3779b9U)) * 0x85ebca6bU) >> 26;
	struct pmtu_traffic_slot *slot = bpf_map_lookup_elem(&traffic_slots, &i);
	struct pmtu_traffic_key key = { .netns = netns, .ifindex = ifindex };
	struct pmtu_traffic zero = {}, *t;

	_Static_assert(PMTU_TRAFFIC_SLOTS == 1 << (32 - 26), "the slot index is the hash's top bits");
	if (slot) {
		if (slot->key.netns == netns && slot->key.ifindex == ifindex)
			return &slot->counts;
		if (!slot->key.netns && !slot->key.ifindex) {
			slot->key = key;
			return &slot->counts;
		}
	}
	t = bpf_map_lookup_elem(&traffic, &key);
	if (t)
		return t;
	bpf_map_update_elem(&traffic, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&traffic, &key);
}

int pmtu_traffic_add(__u32 netns, __u32 ifindex, __u32 what)
{
	struct pmtu_traffic *t = traffic_counters(netns, ifindex);

	if (!t)
		return 0;
	if (what & PMTU_TRAFFIC_SYN)
		t->syns++;
	if (what & PMTU_TRAFFIC_SYNACK)
		t->synacks++;
	if (what & PMTU_TRAFFIC_FLOW)
		t->flows++;
	if (what & PMTU_TRAFFIC_PTB)
		t->ptbs++;
	return 0;
}
